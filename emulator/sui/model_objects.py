"""The objects of the `daas` package as the model holds them, and how Sui names new objects.

Each object is one of the frozen `*Object` dataclasses of `daas.chain.codecs` (plus `AdminCapObject`, defined
here because no reader needs it): its BCS is exactly what a node serves for it, id first. An `Entry` adds the
owner; `Entry.stored` turns it into the `StoredObject` the node serves.
"""

from __future__ import annotations

import dataclasses

from daas.chain.bcs import ID, Struct, normalize_address
from daas.chain.codecs import (
    MODULE_BUILDS,
    MODULE_ENCLAVE,
    BuildRequestObject,
    EnclaveConfigObject,
    EnclaveObject,
    RegistryObject,
)
from daas.chain.hashing import derive_object_id
from emulator.sui.types import Owner, Payout, StoredObject

# `object::new` names objects as Sui does: `ObjectID::derive_id(tx digest, ids_created)` (sui-types
# `base_types.rs`): blake2b-256 over 0xf1 (`HashingIntentScope::RegularObjectId`), the digest, u64_le(n).
derive_id = derive_object_id


@dataclasses.dataclass(frozen=True)
class AdminCapObject(Struct):
    """`builds::AdminCap { id: UID }`: 32 bytes of BCS."""

    id: str

    __bcs__ = (("id", ID),)


PackageObject = (
    RegistryObject | AdminCapObject | BuildRequestObject | EnclaveConfigObject | EnclaveObject
)

# Move struct name -> (defining module, Python class). Names are unique across our two modules.
OBJECT_TYPES: dict[str, tuple[str, type[PackageObject]]] = {
    "Registry": (MODULE_BUILDS, RegistryObject),
    "AdminCap": (MODULE_BUILDS, AdminCapObject),
    "BuildRequest": (MODULE_BUILDS, BuildRequestObject),
    "EnclaveConfig": (MODULE_ENCLAVE, EnclaveConfigObject),
    "Enclave": (MODULE_ENCLAVE, EnclaveObject),
}
_NAMES: dict[type[PackageObject], str] = {cls: name for name, (_, cls) in OBJECT_TYPES.items()}


def struct_name(value: PackageObject) -> str:
    return _NAMES[type(value)]


def type_tag(package_id: str, value: PackageObject) -> str:
    """`0xPKG::module::Name`, the Move type of the object."""
    name = struct_name(value)
    return f"{package_id}::{OBJECT_TYPES[name][0]}::{name}"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One live object: its typed contents and its owner."""

    value: PackageObject
    owner: Owner

    @property
    def object_id(self) -> str:
        return self.value.id

    def stored(self, package_id: str) -> StoredObject:
        return StoredObject(
            self.value.id, type_tag(package_id, self.value), self.owner, self.value.to_bcs()
        )


@dataclasses.dataclass(frozen=True)
class Clock:
    """`sui::clock::Clock` as Move code sees it: the node's clock for this transaction."""

    timestamp_ms: int


# Kept as an alias: the model's code reads as the Move natives do ("coin payout").
CoinPayout = Payout


def normalize_id(object_id: str) -> str:
    """Object ids as the model keys them: `0x` + 64 lowercase hex digits."""
    return normalize_address(object_id)
