"""A base image made on this machine, without any registry: busybox in a one-file root filesystem.

No registry is reachable on our machines, so `FROM busybox` cannot be pulled. `daas dev`, the examples and
the tests instead import a root filesystem holding Debian's statically linked `/bin/busybox` (package
`busybox-static`), a symlink per applet, `/tmp` and a minimal `/etc`. The tar is byte-for-byte
deterministic and its sha256 is stored as an image label, so an image already present with the same content
is reused and anything else is re-imported.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import tarfile
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from daas.errors import BuildFailureCode, DaasError, InfrastructureFault

__all__ = [
    "BUSYBOX",
    "DIGEST_LABEL",
    "LOCAL_BASE_IMAGE",
    "busybox_applets",
    "ensure_base_image",
    "ensure_local_base_image",
    "is_static_elf",
    "rootfs_tar",
]

LOCAL_BASE_IMAGE = "daas-base:latest"
BUSYBOX = Path("/bin/busybox")
DIGEST_LABEL = "org.daas.rootfs-sha256"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A fixed timestamp (2020-01-01) for every tar entry: the same inputs give the same bytes.
FIXED_MTIME = 1_577_836_800

_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"


def is_static_elf(data: bytes) -> bool:
    """True for a 64-bit ELF executable without a PT_INTERP (dynamic loader) program header.

    The dynamically linked `busybox` package also installs /bin/busybox, but it cannot run in an image with
    no libc; only busybox-static's can.
    """
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    endian = "<" if data[5] == 1 else ">"
    phoff = struct.unpack_from(f"{endian}Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from(f"{endian}HH", data, 0x36)
    pt_interp = 3
    for i in range(phnum):
        (p_type,) = struct.unpack_from(f"{endian}I", data, phoff + i * phentsize)
        if p_type == pt_interp:
            return False
    return True


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    """Applet names from `busybox --list`, minus `busybox` itself (it is the real file)."""
    out = subprocess.run(
        [str(busybox), "--list"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    return sorted({name for name in out.split() if name and "/" not in name} - {"busybox"})


def _add(
    tar: tarfile.TarFile, name: str, *, kind: bytes, mode: int, data: bytes = b"", target: str = ""
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if kind == tarfile.SYMTYPE:
        info.linkname = target
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


_DIRECTORIES = [
    ("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o755), ("root", 0o700),
    ("sys", 0o755), ("tmp", 0o1777), ("usr", 0o755), ("usr/bin", 0o755), ("var", 0o755),
]  # fmt: skip


def rootfs_tar(busybox: bytes, applets: list[str]) -> bytes:
    """A deterministic root filesystem tar: busybox, its applet symlinks, /tmp and a minimal /etc."""
    buf = io.BytesIO()
    # USTAR and explicit metadata: no pax headers with atimes, no local user names.
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for directory, mode in _DIRECTORIES:
            _add(tar, directory, kind=tarfile.DIRTYPE, mode=mode)
        _add(tar, "bin/busybox", kind=tarfile.REGTYPE, mode=0o755, data=busybox)
        for applet in applets:
            _add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, mode=0o777, target="busybox")
        _add(tar, "etc/passwd", kind=tarfile.REGTYPE, mode=0o644, data=_PASSWD)
        _add(tar, "etc/group", kind=tarfile.REGTYPE, mode=0o644, data=_GROUP)
    return buf.getvalue()


def local_rootfs(busybox: Path = BUSYBOX) -> bytes:
    """The root filesystem tar of this machine's busybox-static; `DaasError` with a fix when missing."""
    if not busybox.is_file():
        raise DaasError(f"{busybox} is missing: install Debian's busybox-static")
    data = busybox.read_bytes()
    if not is_static_elf(data):
        raise DaasError(
            f"{busybox} is dynamically linked: install Debian's busybox-static instead of busybox"
        )
    return rootfs_tar(data, busybox_applets(busybox))


def ensure_base_image(
    client: docker.DockerClient, name: str = LOCAL_BASE_IMAGE, *, busybox: Path = BUSYBOX
) -> str:
    """Make sure `name` is the busybox base image of this machine; returns `name`."""
    tar = local_rootfs(busybox)
    digest = hashlib.sha256(tar).hexdigest()
    try:
        try:
            existing = client.images.get(name)
            if (existing.labels or {}).get(DIGEST_LABEL) == digest:
                return name
        except ImageNotFound:
            pass
        repository, _, tag = name.rpartition(":")
        client.api.import_image_from_data(
            tar,
            repository=repository or name,
            tag=tag or "latest",
            changes=[f"ENV PATH={DEFAULT_PATH}", f"LABEL {DIGEST_LABEL}={digest}", 'CMD ["sh"]'],
        )
        imported = client.images.get(name)
    except DockerException as exc:
        raise InfrastructureFault(
            BuildFailureCode.DOCKER_UNAVAILABLE, f"could not import the base image {name}: {exc}"
        ) from exc
    # Import reports errors inside its response body, so check the result rather than trust it.
    if (imported.labels or {}).get(DIGEST_LABEL) != digest:
        raise InfrastructureFault(
            BuildFailureCode.DOCKER_UNAVAILABLE,
            f"docker import of {name} did not produce the expected image",
        )
    return name


def ensure_local_base_image(docker_url: str | None = None, name: str = LOCAL_BASE_IMAGE) -> str:
    """`ensure_base_image` on the engine at `docker_url` (default: DOCKER_HOST or the local socket)."""
    try:
        client = docker.DockerClient(base_url=docker_url) if docker_url else docker.from_env()
    except DockerException as exc:
        where = docker_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise InfrastructureFault(
            BuildFailureCode.DOCKER_UNAVAILABLE,
            f"no Docker engine answers at {where}: start one "
            "(scripts/dev does: dockerd --iptables=false --bridge=none)",
        ) from exc
    try:
        return ensure_base_image(client, name)
    finally:
        client.close()
