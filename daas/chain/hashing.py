"""Sui's hashing and naming rules: digests, addresses, derived object ids, base58.

Shared by the chain client (transaction digests, signer addresses) and the Sui stand-in (which must name
things the way a real node does). Each function cites the sui-types rule it mirrors.
"""

from __future__ import annotations

import hashlib
import struct

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}

ED25519_FLAG = 0x00
# `IntentMessage` prefix of a transaction: scope TransactionData (0), version V0 (0), app id Sui (0).
TRANSACTION_INTENT = bytes([0, 0, 0])
# `HashingIntentScope::RegularObjectId`: domain separator of `ObjectID::derive_id`.
REGULAR_OBJECT_ID_SCOPE = 0xF1


def blake2b256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58, as Sui prints digests and chain ids."""
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58_ALPHABET[rem])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of `b58encode`; `ValueError` on characters outside the alphabet."""
    number = 0
    for char in text:
        try:
            number = number * 58 + _B58_INDEX[char]
        except KeyError:
            raise ValueError(f"{char!r} is not a base58 character") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def digest32_from_b58(text: str) -> bytes:
    """A 32-byte digest from its base58 form; `ValueError` for anything else."""
    raw = b58decode(text)
    if len(raw) != 32:
        raise ValueError(f"{text!r} is not a 32-byte base58 digest")
    return raw


def transaction_digest(tx_bytes: bytes) -> bytes:
    """`TransactionDigest`: blake2b-256 over `"TransactionData::" ‖ bcs(TransactionData)`."""
    return blake2b256(b"TransactionData::" + tx_bytes)


def transaction_digest_b58(tx_bytes: bytes) -> str:
    return b58encode(transaction_digest(tx_bytes))


def signing_digest(tx_bytes: bytes) -> bytes:
    """What a user key signs: blake2b-256 over the intent `[0, 0, 0]` followed by the transaction bytes."""
    return blake2b256(TRANSACTION_INTENT + tx_bytes)


def ed25519_address(public_key: bytes) -> str:
    """`SuiAddress::from(&PublicKey)`: blake2b-256(flag 0x00 ‖ 32-byte key), hex with `0x`."""
    if len(public_key) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(public_key)}")
    return "0x" + blake2b256(bytes([ED25519_FLAG]) + public_key).hex()


def derive_object_id(tx_digest: bytes, creation_num: int) -> str:
    """`ObjectID::derive_id`: blake2b-256(0xf1 ‖ tx digest ‖ u64_le(n))."""
    if len(tx_digest) != 32:
        raise ValueError(f"a transaction digest is 32 bytes, got {len(tx_digest)}")
    preimage = bytes([REGULAR_OBJECT_ID_SCOPE]) + tx_digest + struct.pack("<Q", creation_num)
    return "0x" + blake2b256(preimage).hex()
