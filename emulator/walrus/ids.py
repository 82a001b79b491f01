"""Identifiers of the Walrus stand-in: blob ids, Sui object ids and transaction digests.

Real blob ids are ``Blake2b-256(encoding_type_u8 ‖ unencoded_len_u64_LE ‖ merkle_root)`` where the Merkle root is taken
over the RedStuff sliver hashes of 1000 shards; no fake can reproduce them. The stand-in keeps the real *format* (32
bytes shown as 43 characters of URL-safe base64 without padding) and the real *shape* of the derivation, with the
sha256 of the body in place of the Merkle root. These are stand-in ids: the same bytes get another id on Walrus.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

BLOB_ID_BYTES = 32
BLOB_ID_CHARS = 43
# The RS2 encoding's discriminant; the first byte hashed into a real blob id.
RS2_ENCODING_BYTE = 0x01

_B64URL = re.compile(r"^[A-Za-z0-9_-]{43}$")
_HEX = re.compile(r"^[0-9a-fA-F]{1,64}$")
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def standin_blob_id(data: bytes) -> str:
    """The stand-in id of a blob: Blake2b-256(0x01 ‖ len u64 LE ‖ sha256(data)) as unpadded base64url."""
    digest = hashlib.blake2b(digest_size=BLOB_ID_BYTES)
    digest.update(bytes([RS2_ENCODING_BYTE]))
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(hashlib.sha256(data).digest())
    return encode_blob_id(digest.digest())


def encode_blob_id(raw: bytes) -> str:
    if len(raw) != BLOB_ID_BYTES:
        raise ValueError(f"a blob id has {BLOB_ID_BYTES} bytes, not {len(raw)}")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_blob_id(text: str) -> bytes | None:
    """The 32 bytes of a blob id, or None when `text` is not one.

    Strict like the daemon's decoder: exactly 43 characters of the URL-safe alphabet, no padding, and no stray
    bits in the last character (a non-canonical spelling of the same bytes is refused).
    """
    if not _B64URL.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=")
    except binascii.Error:
        return None
    if len(raw) != BLOB_ID_BYTES or encode_blob_id(raw) != text:
        return None
    return raw


def parse_object_id(text: str) -> str | None:
    """A Sui object id normalised to 0x + 64 lowercase hex digits, or None when `text` is not one.

    Like `ObjectID::from_str`, a short form (`0x6`) is left-padded with zeros.
    """
    digits = text[2:] if text.startswith(("0x", "0X")) else text
    if not _HEX.match(digits):
        return None
    return "0x" + digits.lower().rjust(64, "0")


def derived_object_id(*parts: bytes | str | int) -> str:
    """A deterministic 0x-prefixed object id derived from `parts` (stand-in objects have no chain behind them)."""
    digest = hashlib.blake2b(digest_size=32, person=b"daas-walrus-obj")
    for part in parts:
        if isinstance(part, int):
            part = part.to_bytes(8, "little")
        elif isinstance(part, str):
            part = part.encode()
        digest.update(len(part).to_bytes(4, "little") + part)
    return "0x" + digest.hexdigest()


def base58(raw: bytes) -> str:
    """Bitcoin-alphabet base58, the text form of Sui transaction digests."""
    number = int.from_bytes(raw, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58_ALPHABET[rem])
    leading_zeros = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(out))


def derived_tx_digest(*parts: bytes | str | int) -> str:
    """A deterministic base58 transaction digest (32 bytes), as Sui prints them."""
    object_id = derived_object_id("tx", *parts)
    return base58(bytes.fromhex(object_id[2:]))
