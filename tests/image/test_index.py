"""The image index document: deterministic bytes, strict parsing of untrusted input, the log blob."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest

from daas.image import BlobEntry, ChunkRef, ImageIndex, InvalidImageIndex, encode_log
from daas.image.oci import CONFIG_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE, MANIFEST_MEDIA_TYPE


def blob_id(n: int) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(bytes([n])).digest()).rstrip(b"=").decode()


def entry(name: bytes, media_type: str, sizes: list[int]) -> BlobEntry:
    chunks = tuple(
        ChunkRef(blob_id(i + len(name)), size, "ab" * 32) for i, size in enumerate(sizes)
    )
    return BlobEntry("sha256:" + hashlib.sha256(name).hexdigest(), media_type, sum(sizes), chunks)


def index() -> ImageIndex:
    manifest = entry(b"manifest", MANIFEST_MEDIA_TYPE, [300])
    return ImageIndex.build(
        manifest.digest,
        "linux/amd64",
        [
            manifest,
            entry(b"config", CONFIG_MEDIA_TYPE, [900]),
            entry(b"layer", LAYER_GZIP_MEDIA_TYPE, [10, 20]),
        ],
    )


def test_round_trip_and_stable_bytes() -> None:
    original = index()
    data = original.to_bytes()
    assert ImageIndex.from_bytes(data) == original
    assert ImageIndex.from_bytes(data).to_bytes() == data
    document = json.loads(data)
    assert document["schema"] == "daas.image-index" and document["version"] == 1
    assert list(document) == sorted(document)  # sorted keys: one image, one byte string
    layer = document["blobs"]["sha256:" + hashlib.sha256(b"layer").hexdigest()]
    assert layer == {
        "mediaType": LAYER_GZIP_MEDIA_TYPE,
        "size": 30,
        "chunks": [
            {"blobId": blob_id(5), "size": 10, "sha256": "ab" * 32},
            {"blobId": blob_id(6), "size": 20, "sha256": "ab" * 32},
        ],
    }
    assert original.total_size == 1230


def spoil(change: Any) -> bytes:
    document = json.loads(index().to_bytes())
    change(document)
    return json.dumps(document).encode()


def first_blob(document: dict[str, Any]) -> dict[str, Any]:
    return next(iter(document["blobs"].values()))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a DaaS image index"),
        (spoil(lambda d: d.update(version=2)), "version 2 is not supported"),
        (spoil(lambda d: d.update(manifest="sha256:" + "0" * 64)), "not among the blobs"),
        (spoil(lambda d: d.update(manifest="md5:00")), "sha256 digest"),
        (spoil(lambda d: d["blobs"].update({"sha256:XYZ": first_blob(d)})), "sha256 digest"),
        (spoil(lambda d: first_blob(d).update(size=1)), "do not add up"),
        (spoil(lambda d: first_blob(d)["chunks"][0].update(blobId="../../etc")), "blob id"),
        (spoil(lambda d: first_blob(d)["chunks"][0].update(size=0)), "greater than 0"),
        (spoil(lambda d: first_blob(d).update(chunks=[])), "at least 1"),
        (spoil(lambda d: d.update(extra=1)), "Extra inputs"),
        (spoil(lambda d: first_blob(d).update(size="300")), "valid integer"),
    ],
)
def test_malformed_indexes_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImageIndex, match=message):
        ImageIndex.from_bytes(data)


@dataclass
class Line:
    line_no: int
    stream: str
    text: str


def test_log_blob_is_json_lines_and_capped() -> None:
    lines = [Line(i, "stdout", f"line {i} " + "x" * 50) for i in range(200)]
    data, kept, omitted = encode_log(lines, max_bytes=1 << 20)
    assert (kept, omitted) == (200, 0)
    records = [json.loads(row) for row in data.splitlines()]
    assert records[0] == {"line": 0, "stream": "stdout", "text": "line 0 " + "x" * 50}
    data, kept, omitted = encode_log(lines, max_bytes=4000)
    assert len(data) <= 4000 and kept + omitted == 200 and omitted > 0
    records = [json.loads(row) for row in data.splitlines()]
    assert records[0]["line"] == 0 and records[-1]["line"] == 199  # beginning and end kept
    marker = next(r for r in records if r["stream"] == "system")
    assert f"[{omitted} lines" in marker["text"]
