"""Objects as the stand-in node stores them: coins, the Clock, the package, and our package's objects.

Every live object has an id, a version, an owner, a type, its BCS contents (id first) and a digest. The node
owns versions, digests and owners; the package model decides contents. Digests are blake2b-256 over a
canonical encoding of the object (well-formed, deterministic, but not byte-equal to Sui's `Object` BCS).
"""

from __future__ import annotations

import dataclasses
import struct

from daas.chain.bcs import normalize_address
from daas.chain.hashing import b58encode, blake2b256
from emulator.sui.types import CLOCK_ID, AddressOwner, Shared

SUI_TYPE = "0x2::sui::SUI"
COIN_TYPE = f"0x2::coin::Coin<{SUI_TYPE}>"
CLOCK_TYPE = "0x2::clock::Clock"
PACKAGE_TYPE = "package"
SUI_FRAMEWORK = normalize_address("0x2")

# Storage is charged per byte written, refunded (99%) when the object is rewritten or deleted.
STORAGE_PRICE = 76
STORAGE_UNITS_PER_BYTE = 100
OBJECT_OVERHEAD_BYTES = (
    90  # what Sui's object envelope adds; a coin then costs 988_000 MIST, as on chain
)
REBATE_PERCENT = 99


@dataclasses.dataclass(frozen=True)
class Immutable:
    """Frozen objects and packages: anyone may read them, nobody may write them."""


NodeOwner = AddressOwner | Shared | Immutable


@dataclasses.dataclass(frozen=True)
class NodeObject:
    object_id: str
    version: int
    owner: NodeOwner
    type_tag: str
    contents: bytes
    previous_transaction: str
    digest: str
    storage_rebate: int

    @property
    def is_coin(self) -> bool:
        return self.type_tag == COIN_TYPE

    @property
    def balance(self) -> int:
        if not self.is_coin:
            raise ValueError(f"{self.object_id} is not a coin")
        value: int = struct.unpack_from("<Q", self.contents, 32)[0]
        return value

    @property
    def initial_shared_version(self) -> int | None:
        return self.owner.initial_shared_version if isinstance(self.owner, Shared) else None

    def owned_by(self, address: str) -> bool:
        return isinstance(self.owner, AddressOwner) and self.owner.address == address


def make_object(
    object_id: str,
    version: int,
    owner: NodeOwner,
    type_tag: str,
    contents: bytes,
    previous_transaction: str,
) -> NodeObject:
    object_id = normalize_address(object_id)
    if isinstance(owner, AddressOwner):
        owner = AddressOwner(normalize_address(owner.address))
    return NodeObject(
        object_id=object_id,
        version=version,
        owner=owner,
        type_tag=type_tag,
        contents=contents,
        previous_transaction=previous_transaction,
        digest=object_digest(object_id, version, owner, type_tag, contents, previous_transaction),
        storage_rebate=storage_cost(contents),
    )


def rewrite(
    obj: NodeObject, *, version: int, previous_transaction: str, **changes: object
) -> NodeObject:
    """A new version of `obj` (contents or owner may change)."""
    contents = changes.get("contents", obj.contents)
    owner = changes.get("owner", obj.owner)
    assert isinstance(contents, bytes)
    assert isinstance(owner, AddressOwner | Shared | Immutable)
    return make_object(obj.object_id, version, owner, obj.type_tag, contents, previous_transaction)


def coin_contents(object_id: str, balance: int) -> bytes:
    """`Coin<SUI> { id: UID, balance: Balance<SUI> { value: u64 } }`."""
    return bytes.fromhex(normalize_address(object_id)[2:]) + struct.pack("<Q", balance)


def clock_contents(timestamp_ms: int) -> bytes:
    return bytes.fromhex(CLOCK_ID[2:]) + struct.pack("<Q", timestamp_ms)


def storage_cost(contents: bytes) -> int:
    return (len(contents) + OBJECT_OVERHEAD_BYTES) * STORAGE_UNITS_PER_BYTE * STORAGE_PRICE


def owner_tag(owner: NodeOwner) -> bytes:
    if isinstance(owner, AddressOwner):
        return b"\x00" + bytes.fromhex(owner.address[2:])
    if isinstance(owner, Shared):
        return b"\x02" + struct.pack("<Q", owner.initial_shared_version or 0)
    return b"\x03"


def object_digest(
    object_id: str,
    version: int,
    owner: NodeOwner,
    type_tag: str,
    contents: bytes,
    previous_transaction: str,
) -> str:
    preimage = b"".join(
        (
            b"Object::",
            bytes.fromhex(object_id[2:]),
            struct.pack("<Q", version),
            owner_tag(owner),
            len(type_tag).to_bytes(4, "little"),
            type_tag.encode(),
            len(contents).to_bytes(4, "little"),
            contents,
            previous_transaction.encode(),
        )
    )
    return b58encode(blake2b256(preimage))
