"""Checking and decoding a Move call's arguments against the Move signature, before any Move code runs.

A node rejects a bad argument with a `CommandArgumentError` before the callee starts: pure bytes that do not
decode as the parameter's type (or leave bytes over), an object of another type, a missing object, an object
owned by someone else, an immutable reference where `&mut` (or a value) is needed, the wrong number of
arguments. Each `Param` carries the parameter's Move type exactly as the Move source spells it, so the
signature tables in `emulator.sui.model` can be compared with `move/sources/` by a test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from daas.chain.bcs import ID, U8, U16, U64, Address, Bool, Bytes, Codec, Reader, String
from daas.errors import CodecError
from emulator.sui.model_objects import (
    OBJECT_TYPES,
    Clock,
    Entry,
    PackageObject,
    normalize_id,
    struct_name,
)
from emulator.sui.types import (
    CLOCK_ID,
    AddressOwner,
    CoinValue,
    CommandArgumentError,
    IdValue,
    MoveValue,
    NitroDocument,
    ObjectArg,
    PureArg,
)

T = TypeVar("T")

MAX_U64 = 2**64 - 1

# Pure parameter types our package uses, by their Move spelling.
PURE_CODECS: dict[str, Codec[Any]] = {
    "String": String,
    "vector<u8>": Bytes,
    "u8": U8,
    "u16": U16,
    "u64": U64,
    "bool": Bool,
    "address": Address,
    "ID": ID,
}
COIN_TYPE = "Coin<SUI>"
CLOCK_TYPE = "&Clock"
NITRO_TYPE = "NitroAttestationDocument"

ArgValue = str | bytes | int | bool | PackageObject | CoinValue | NitroDocument | Clock


@dataclasses.dataclass(frozen=True)
class Param:
    """One Move parameter: its name and type as written in the Move source."""

    name: str
    move_type: str

    @property
    def object_ref(self) -> tuple[str, str] | None:
        """("&" | "&mut" | "", struct name) when the parameter is one of our objects, else None."""
        for prefix in ("&mut ", "&", ""):
            if self.move_type.startswith(prefix):
                name = self.move_type.removeprefix(prefix)
                if name in OBJECT_TYPES:
                    return prefix.strip(), name
        return None


@dataclasses.dataclass(frozen=True)
class DecodedArgs:
    """The arguments as Move sees them, and the objects passed as mutable inputs (which Sui reports
    mutated, with a new version, even when a call only reads them)."""

    values: list[ArgValue]
    mutable_ids: list[str]


def decode_args(
    location: str,
    params: Sequence[Param],
    args: Sequence[MoveValue],
    *,
    read: Callable[[str], Entry | None],
    sender: str,
    now_ms: int,
) -> DecodedArgs:
    """Check every argument before the call runs; `location` (`module::function`) prefixes each error."""
    if len(args) != len(params):
        raise CommandArgumentError(
            f"{location} takes {len(params)} arguments (without TxContext), got {len(args)}"
        )
    values: list[ArgValue] = []
    mutable_ids: list[str] = []
    for index, (param, arg) in enumerate(zip(params, args, strict=True)):
        where = f"{location} argument {index} ({param.name}: {param.move_type})"
        ref = param.object_ref
        if ref is not None:
            entry = _object(where, ref, arg, read, sender)
            if isinstance(arg, ObjectArg) and arg.mutable:
                mutable_ids.append(entry.object_id)
            values.append(entry.value)
        else:
            values.append(_value(where, param.move_type, arg, now_ms))
    return DecodedArgs(values, mutable_ids)


def _object(
    where: str,
    ref: tuple[str, str],
    arg: MoveValue,
    read: Callable[[str], Entry | None],
    sender: str,
) -> Entry:
    kind, name = ref
    if not isinstance(arg, ObjectArg):
        raise CommandArgumentError(f"{where}: expected an object, got {_describe(arg)}")
    object_id = normalize_id(arg.object_id)
    if kind != "&" and not arg.mutable:
        need = "&mut" if kind == "&mut" else "by value"
        raise CommandArgumentError(
            f"{where}: object {object_id} is passed immutably but the parameter needs it {need}"
        )
    entry = read(object_id)
    if entry is None:
        raise CommandArgumentError(
            f"{where}: {object_id} is not a live object of the package (missing or deleted)"
        )
    module, cls = OBJECT_TYPES[name]
    if not isinstance(entry.value, cls):
        actual = struct_name(entry.value)
        raise CommandArgumentError(
            f"{where}: object {object_id} is a {OBJECT_TYPES[actual][0]}::{actual}, "
            f"not a {module}::{name}"
        )
    if isinstance(entry.owner, AddressOwner) and entry.owner.address != normalize_id(sender):
        raise CommandArgumentError(
            f"{where}: object {object_id} is owned by {entry.owner.address}, "
            f"not by the sender {normalize_id(sender)}"
        )
    return entry


def _value(where: str, move_type: str, arg: MoveValue, now_ms: int) -> ArgValue:
    if move_type == CLOCK_TYPE:
        if not isinstance(arg, ObjectArg) or normalize_id(arg.object_id) != CLOCK_ID:
            raise CommandArgumentError(
                f"{where}: expected the Clock {CLOCK_ID}, got {_describe(arg)}"
            )
        if arg.mutable:
            # Sui refuses the Clock as a mutable input: only the system may write it.
            raise CommandArgumentError(f"{where}: the Clock must be passed immutably")
        return Clock(now_ms)
    if move_type == COIN_TYPE:
        if not isinstance(arg, CoinValue):
            raise CommandArgumentError(f"{where}: expected a Coin<SUI>, got {_describe(arg)}")
        if isinstance(arg.amount, bool) or not 0 <= arg.amount <= MAX_U64:
            raise CommandArgumentError(f"{where}: coin value {arg.amount!r} is not a u64")
        return arg
    if move_type == NITRO_TYPE:
        if not isinstance(arg, NitroDocument):
            raise CommandArgumentError(
                f"{where}: expected a NitroAttestationDocument, got {_describe(arg)}"
            )
        return arg
    codec = PURE_CODECS.get(move_type)
    if codec is None:  # a signature table names a type this decoder does not know
        raise TypeError(f"{where}: unsupported Move type {move_type}")
    if move_type == "ID" and isinstance(arg, IdValue):
        return normalize_id(arg.object_id)
    if not isinstance(arg, PureArg):
        raise CommandArgumentError(f"{where}: expected a pure {move_type}, got {_describe(arg)}")
    value: ArgValue = _decode_pure(where, codec, arg.value)
    return value


def _decode_pure(where: str, codec: Codec[T], data: bytes) -> T:
    reader = Reader(data)
    try:
        value = codec.decode(reader)
        reader.finish()
    except CodecError as exc:
        raise CommandArgumentError(f"{where}: invalid BCS: {exc}") from exc
    return value


def _describe(arg: MoveValue) -> str:
    if isinstance(arg, ObjectArg):
        return f"object {arg.object_id}"
    if isinstance(arg, PureArg):
        return f"a pure value ({len(arg.value)} bytes)"
    if isinstance(arg, CoinValue):
        return "a Coin<SUI>"
    if isinstance(arg, IdValue):
        return "an ID result"
    return "a NitroAttestationDocument"
