"""Real Docker builds through the SDK, from the locally imported base image, with no network.

These pin what the runner relies on: the classic builder builds `FROM daas-base:latest`
without a registry, RUN steps execute, and `network_mode="none"` leaves RUN steps with no network.
The network probe only ever targets 127.0.0.1 on this machine: with `network_mode="host"` the
probe reaches a listener of ours (so the probe itself is known to work), with "none" it cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
import uuid
from collections.abc import Iterator

import docker
import pytest
from docker.errors import BuildError, ImageNotFound
from docker.models.images import Image

from tests.build.support import Listener
from tests.fixtures.docker import BASE_IMAGE, FIXED_MTIME, build_image, rootfs_tar


@pytest.fixture
def image_tag(docker_client: docker.DockerClient) -> Iterator[str]:
    """A unique tag for this test's image, removed afterwards whatever happened."""
    tag = f"daas-test-build-{uuid.uuid4().hex[:12]}:latest"
    yield tag
    with contextlib.suppress(ImageNotFound):
        docker_client.images.remove(tag, force=True)


def _build(client: docker.DockerClient, dockerfile: str, tag: str, network_mode: str) -> Image:
    image, _log = build_image(client, {"Dockerfile": dockerfile}, tag, network_mode=network_mode)
    return image


def _probe_command(port: int) -> str:
    # busybox's `timeout` bounds the probe. Not `wget -T`: Debian 12's busybox-static 1.35 wget
    # segfaults (exit 139) whenever -T is given, which would make any "network fails" test vacuous.
    return f"timeout 10 wget -q -O /reached http://127.0.0.1:{port}/probe"


def test_base_image_is_deterministic() -> None:
    first = rootfs_tar(b"\x7fELF fake", ["sh", "echo", "wget"])
    second = rootfs_tar(b"\x7fELF fake", ["sh", "echo", "wget"])
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {m.mtime for m in members.values()} == {FIXED_MTIME}
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777


def test_base_image_runs_busybox(docker_client: docker.DockerClient, base_image: str) -> None:
    assert base_image == BASE_IMAGE
    output = docker_client.containers.run(
        base_image,
        ["sh", "-c", "echo ok && ls /bin/wget /bin/nc /bin/cat >/dev/null && id -u"],
        network_mode="none",
        remove=True,
    )
    assert output == b"ok\n0\n"


def test_build_and_run(docker_client: docker.DockerClient, base_image: str, image_tag: str) -> None:
    dockerfile = f"FROM {base_image}\nRUN echo hello > /hello\nCMD cat /hello\n"
    image = _build(docker_client, dockerfile, image_tag, network_mode="none")
    assert image_tag in image.tags
    output = docker_client.containers.run(image_tag, network_mode="none", remove=True)
    assert output == b"hello\n"


def test_run_step_reaches_loopback_with_host_network(
    docker_client: docker.DockerClient, base_image: str, image_tag: str
) -> None:
    # The control: the same probe as below succeeds when the build does have a network.
    with Listener() as listener:
        dockerfile = f"FROM {base_image}\nRUN {_probe_command(listener.port)}\n"
        _build(docker_client, dockerfile, image_tag, network_mode="host")
    assert listener.hits == ["/probe"]
    assert docker_client.containers.run(image_tag, ["cat", "/reached"], remove=True) == (
        b"reached\n"
    )


def test_run_step_has_no_network_with_network_mode_none(
    docker_client: docker.DockerClient, base_image: str, image_tag: str
) -> None:
    with Listener() as listener:
        dockerfile = f"FROM {base_image}\nRUN {_probe_command(listener.port)}\n"
        with pytest.raises(BuildError) as excinfo:
            _build(docker_client, dockerfile, image_tag, network_mode="none")
    assert listener.hits == []
    assert "returned a non-zero code" in str(excinfo.value)
    # Only the loopback interface exists inside the build container.
    dockerfile = f'FROM {base_image}\nRUN test "$(ls /sys/class/net)" = lo\n'
    _build(docker_client, dockerfile, image_tag, network_mode="none")
