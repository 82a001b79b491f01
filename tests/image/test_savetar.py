"""Reading `docker save` archives with our own tar reader: every tar dialect Go writes, links, broken input."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from daas.config import MIB
from daas.errors import InfrastructureFault, RequesterFault
from daas.image.savetar import LayerWriter, SpooledLayer, read_saved_image


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def legacy_archive(
    layers: list[bytes], *, tar_format: int = tarfile.USTAR_FORMAT, long_names: bool = False
) -> tuple[bytes, bytes]:
    """A dockerd 20.10 `docker save`: one directory per layer, a repeated layer as a symbolic link."""
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [digest(x) for x in layers]}})
    config_bytes = config.encode()
    buffer = io.BytesIO()
    paths: list[str] = []
    first_path: dict[bytes, str] = {}
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for number, layer in enumerate(layers):
            directory = f"{number:064x}" + ("/" + "d" * 120 if long_names else "")
            dir_info = tarfile.TarInfo(directory)
            dir_info.type = tarfile.DIRTYPE
            tar.addfile(dir_info)
            path = f"{directory}/layer.tar"
            add(f"{directory}/VERSION", b"1.0")
            if layer in first_path:
                link = tarfile.TarInfo(path)
                link.type = tarfile.SYMTYPE
                link.linkname = os.path.relpath(first_path[layer], directory)
                tar.addfile(link)
            else:
                add(path, layer)
                first_path[layer] = path
            paths.append(path)
        config_name = digest(config_bytes).removeprefix("sha256:") + ".json"
        add(config_name, config_bytes)
        manifest = [{"Config": config_name, "RepoTags": None, "Layers": paths}]
        add("manifest.json", json.dumps(manifest).encode())
    return buffer.getvalue(), config_bytes


def oci_archive(layers: list[bytes]) -> tuple[bytes, bytes]:
    """An OCI layout (dockerd 25+), layers gzip-compressed."""
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [digest(x) for x in layers]}})
    config_bytes = config.encode()
    blobs: dict[str, bytes] = {digest(config_bytes): config_bytes}
    descriptors = []
    for layer in layers:
        packed = gzip.compress(layer, mtime=0)
        blobs[digest(packed)] = packed
        descriptors.append({"digest": digest(packed), "size": len(packed)})
    manifest = json.dumps(
        {"config": {"digest": digest(config_bytes)}, "layers": descriptors}
    ).encode()
    blobs[digest(manifest)] = manifest
    index = json.dumps({"manifests": [{"digest": digest(manifest)}]}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ("index.json", index),
            *((f"blobs/sha256/{d.removeprefix('sha256:')}", b) for d, b in sorted(blobs.items())),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), config_bytes


class Collect:
    """A `LayerWriter` that keeps what it is given."""

    def __init__(self, into: dict[str, bytes]) -> None:
        self.into = into
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def finish(self, diff_id: str, wanted: bool) -> None:
        if wanted:
            self.into[diff_id] = b"".join(self.parts)

    def abort(self) -> None:
        self.parts.clear()


def read(archive: bytes, tmp_path: Path, wanted: set[str], *, stream: bool) -> dict[str, bytes]:
    """Every wanted layer, by diff id, as the reader delivered it (spooled or streamed)."""
    got: dict[str, bytes] = {}

    def on_layer(layer: SpooledLayer) -> None:
        got[layer.diff_id] = layer.path.read_bytes()
        layer.path.unlink()

    def open_writer() -> LayerWriter:
        return Collect(got)

    saved = read_saved_image(
        io.BytesIO(archive),
        spool_dir=tmp_path,
        wanted=wanted,
        on_layer=on_layer,
        max_bytes=64 * MIB,
        open_writer=open_writer if stream else None,
    )
    got["config"] = saved.config
    got["order"] = json.dumps(saved.diff_ids).encode()
    return got


LAYERS = [os.urandom(3 * MIB + 5), b"x" * 10_000, os.urandom(700)]


@pytest.mark.parametrize("stream", [False, True], ids=["spooled", "streamed"])
@pytest.mark.parametrize(
    "tar_format,long_names",
    [(tarfile.USTAR_FORMAT, False), (tarfile.GNU_FORMAT, True), (tarfile.PAX_FORMAT, True)],
    ids=["ustar", "gnu-long-names", "pax-long-names"],
)
def test_legacy_archive_in_every_dialect(
    tmp_path: Path, tar_format: int, long_names: bool, stream: bool
) -> None:
    archive, config = legacy_archive(LAYERS, tar_format=tar_format, long_names=long_names)
    got = read(archive, tmp_path, {digest(x) for x in LAYERS}, stream=stream)
    assert got["config"] == config
    assert json.loads(got["order"]) == [digest(x) for x in LAYERS]
    for layer in LAYERS:
        assert got[digest(layer)] == layer


def test_repeated_layer_linked_to_its_first_copy(tmp_path: Path) -> None:
    layers = [LAYERS[0], LAYERS[1], LAYERS[1]]
    archive, _ = legacy_archive(layers)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert any(member.issym() for member in tar)  # what dockerd writes for a repeated layer
    got = read(archive, tmp_path, {digest(LAYERS[1])}, stream=True)
    assert json.loads(got["order"]) == [digest(x) for x in layers]
    assert got[digest(LAYERS[1])] == LAYERS[1]


def test_oci_layout_with_gzip_layers(tmp_path: Path) -> None:
    archive, config = oci_archive(LAYERS)
    got = read(archive, tmp_path, {digest(x) for x in LAYERS}, stream=True)
    assert got["config"] == config
    assert {k: v for k, v in got.items() if k.startswith("sha256:")} == {
        digest(x): x for x in LAYERS
    }


def test_truncated_archive_is_refused(tmp_path: Path) -> None:
    archive, _ = legacy_archive(LAYERS)
    for cut in (700, 512 * 3 + 100, len(archive) // 2):
        with pytest.raises(InfrastructureFault, match="unexpected docker save archive"):
            read(archive[:cut], tmp_path, {digest(LAYERS[0])}, stream=False)


def test_corrupt_header_is_refused(tmp_path: Path) -> None:
    archive = bytearray(legacy_archive(LAYERS)[0])
    archive[10] ^= 0x01  # inside the first header's name: the checksum no longer matches
    with pytest.raises(InfrastructureFault, match="checksum"):
        read(bytes(archive), tmp_path, set(), stream=False)


def test_too_much_content_is_the_requesters_fault(tmp_path: Path) -> None:
    archive, _ = legacy_archive(LAYERS)
    with pytest.raises(RequesterFault):
        read_saved_image(
            io.BytesIO(archive),
            spool_dir=tmp_path,
            wanted={digest(LAYERS[0])},
            on_layer=lambda layer: layer.path.unlink(),
            max_bytes=MIB,
        )
