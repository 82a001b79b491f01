"""Deterministic gzip: valid for any reader, the same bytes every time, stored blocks for incompressible data."""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import io
import os
import random
import struct
import subprocess
import zlib

import pytest

from daas.image.compression import (
    BLOCK_BYTES,
    GZIP_HEADER,
    PROBE_BYTES,
    STORED_BYTES,
    DeterministicGzip,
    compress_block,
    gzip_bytes,
    read_blocks,
    stored_blocks,
)


def sample(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    words = [b"layer", b"busybox", b"etc/passwd", b"\x00" * 7, b"usr/lib/", b"0123456789"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out[:size])


@pytest.mark.parametrize(
    "data",
    [b"", b"x", sample(BLOCK_BYTES), sample(3 * BLOCK_BYTES + 17), os.urandom(2 * BLOCK_BYTES + 5)],
    ids=["empty", "one-byte", "one-block", "blocks-and-a-bit", "random"],
)
def test_round_trip_with_python_and_gzip_tool(data: bytes) -> None:
    compressed = gzip_bytes(data)
    assert compressed.startswith(GZIP_HEADER)
    assert gzip.decompress(compressed) == data
    tool = subprocess.run(["gzip", "-dc"], input=compressed, capture_output=True, check=True)
    assert tool.stdout == data


def test_same_input_same_bytes_serial_or_parallel() -> None:
    data = sample(5 * BLOCK_BYTES + 1234) + os.urandom(BLOCK_BYTES)
    serial = gzip_bytes(data)
    assert gzip_bytes(data) == serial
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        parallel = DeterministicGzip(pool, window=2)
        out = b"".join(parallel.compress(read_blocks(io.BytesIO(data))))
    assert out == serial
    assert parallel.size == len(serial) and parallel.uncompressed_size == len(data)
    assert parallel.sha256.hexdigest() == hashlib.sha256(serial).hexdigest()


@pytest.mark.parametrize("size", [BLOCK_BYTES, STORED_BYTES, STORED_BYTES + 1, 70_000])
def test_incompressible_blocks_are_stored(size: int) -> None:
    block = os.urandom(size)
    deflated = compress_block(block)
    # The rule, byte for byte: stored blocks of 65,535 bytes (the last shorter), 5 header bytes each.
    expected = b"".join(
        struct.pack("<BHH", 0, len(piece), len(piece) ^ 0xFFFF) + piece
        for piece in (block[i : i + STORED_BYTES] for i in range(0, size, STORED_BYTES))
    )
    assert deflated == expected == stored_blocks(block)
    assert zlib.decompressobj(-15).decompress(deflated) == block
    text = sample(BLOCK_BYTES)
    assert len(compress_block(text)) < len(text) // 4


def test_the_probe_decides_from_the_first_16_kib() -> None:
    assert PROBE_BYTES == 16 * 1024
    random_head = os.urandom(PROBE_BYTES) + sample(BLOCK_BYTES - PROBE_BYTES)
    assert compress_block(random_head) == stored_blocks(random_head)
    text_head = sample(PROBE_BYTES) + os.urandom(BLOCK_BYTES - PROBE_BYTES)
    assert compress_block(text_head) != stored_blocks(text_head)
    assert zlib.decompressobj(-15).decompress(compress_block(text_head)) == text_head


def test_stored_and_deflated_blocks_mix_in_one_member() -> None:
    data = os.urandom(BLOCK_BYTES + 3) + sample(BLOCK_BYTES) + os.urandom(STORED_BYTES)
    compressed = gzip_bytes(data)
    assert gzip.decompress(compressed) == data
    tool = subprocess.run(["gzip", "-tv"], input=compressed, capture_output=True, check=False)
    assert tool.returncode == 0, tool.stderr


def test_how_data_is_pushed_does_not_matter() -> None:
    data = sample(2 * BLOCK_BYTES + 999) + os.urandom(BLOCK_BYTES // 3)
    expected = gzip_bytes(data)
    rng = random.Random(3)
    pusher = DeterministicGzip()
    out: list[bytes] = []
    offset = 0
    while offset < len(data):
        size = rng.choice([1, 100, 65_536, BLOCK_BYTES - 1, BLOCK_BYTES + 7])
        out.extend(pusher.feed(data[offset : offset + size]))
        offset += size
    out.extend(pusher.finish())
    assert b"".join(out) == expected
