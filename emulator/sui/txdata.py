"""Decoding `bcs(TransactionData)` with pysui's BCS classes into typed values the node executes.

pysui's canoser classes are untyped and dynamic; this module is the only place in the stand-in that touches
them, and it converts everything into the frozen dataclasses below (or raises `TxDataError`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pysui.sui.sui_bcs import bcs as pbcs

from daas.chain.bcs import normalize_address
from daas.chain.hashing import b58encode


class TxDataError(Exception):
    """The bytes are not a transaction this node can run (malformed, or a kind it does not support)."""


# --- arguments ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GasCoinArg:
    pass


@dataclasses.dataclass(frozen=True)
class InputArg:
    index: int


@dataclasses.dataclass(frozen=True)
class ResultArg:
    index: int
    sub: int | None = None  # NestedResult(index, sub)


Argument = GasCoinArg | InputArg | ResultArg


# --- inputs ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PureInput:
    data: bytes


@dataclasses.dataclass(frozen=True)
class OwnedInput:
    object_id: str
    version: int
    digest: str


@dataclasses.dataclass(frozen=True)
class SharedInput:
    object_id: str
    initial_shared_version: int
    mutable: bool


@dataclasses.dataclass(frozen=True)
class UnsupportedInput:
    kind: str  # "Receiving", "FundsWithdrawal", ...


Input = PureInput | OwnedInput | SharedInput | UnsupportedInput


# --- commands -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MoveCallCommand:
    package: str
    module: str
    function: str
    type_arguments: tuple[str, ...]
    arguments: tuple[Argument, ...]


@dataclasses.dataclass(frozen=True)
class SplitCoinsCommand:
    coin: Argument
    amounts: tuple[Argument, ...]


@dataclasses.dataclass(frozen=True)
class MergeCoinsCommand:
    target: Argument
    sources: tuple[Argument, ...]


@dataclasses.dataclass(frozen=True)
class TransferObjectsCommand:
    objects: tuple[Argument, ...]
    address: Argument


@dataclasses.dataclass(frozen=True)
class UnsupportedCommand:
    name: str  # "Publish", "MakeMoveVec", "Upgrade"


Command = (
    MoveCallCommand
    | SplitCoinsCommand
    | MergeCoinsCommand
    | TransferObjectsCommand
    | UnsupportedCommand
)


@dataclasses.dataclass(frozen=True)
class ObjectRefData:
    object_id: str
    version: int
    digest: str


@dataclasses.dataclass(frozen=True)
class TxData:
    sender: str
    gas_payment: tuple[ObjectRefData, ...]
    gas_owner: str
    gas_price: int
    gas_budget: int
    inputs: tuple[Input, ...]
    commands: tuple[Command, ...]
    expiration: str  # "None", "Epoch", "ValidDuring"
    expiration_epoch: int | None


def decode_transaction(tx_bytes: bytes) -> TxData:
    try:
        data = pbcs.TransactionData.deserialize(tx_bytes)
    except (
        Exception
    ) as exc:  # canoser raises whatever it meets (OSError on trailing bytes, TypeError...)
        raise TxDataError(f"the transaction bytes do not decode as TransactionData: {exc}") from exc
    try:
        return _tx_data(data)
    except (AttributeError, TypeError, ValueError, IndexError) as exc:
        raise TxDataError(f"unexpected TransactionData shape: {exc}") from exc


def _tx_data(data: Any) -> TxData:
    if data.enum_name != "V1":
        raise TxDataError(f"TransactionData {data.enum_name} is not supported")
    v1 = data.value
    kind = v1.TransactionKind
    if kind.enum_name != "ProgrammableTransaction":
        raise TxDataError(f"only programmable transactions are accepted, not {kind.enum_name}")
    ptb = kind.value
    gas = v1.GasData
    expiration = v1.TransactionExpiration
    return TxData(
        sender=_address(v1.Sender),
        gas_payment=tuple(_ref(ref) for ref in gas.Payment),
        gas_owner=_address(gas.Owner),
        gas_price=int(gas.Price),
        gas_budget=int(gas.Budget),
        inputs=tuple(_input(arg) for arg in ptb.Inputs),
        commands=tuple(_command(cmd) for cmd in ptb.Command),
        expiration=str(expiration.enum_name),
        expiration_epoch=int(expiration.value) if expiration.enum_name == "Epoch" else None,
    )


def _address(value: Any) -> str:
    return normalize_address(value.to_address_str())


def _ref(value: Any) -> ObjectRefData:
    return ObjectRefData(
        _address(value.ObjectID),
        int(value.SequenceNumber),
        b58encode(bytes(value.ObjectDigest.Digest)),
    )


def _input(arg: Any) -> Input:
    if arg.enum_name == "Pure":
        return PureInput(bytes(arg.value))
    if arg.enum_name != "Object":
        return UnsupportedInput(str(arg.enum_name))
    obj = arg.value
    if obj.enum_name == "ImmOrOwnedObject":
        ref = _ref(obj.value)
        return OwnedInput(ref.object_id, ref.version, ref.digest)
    if obj.enum_name == "SharedObject":
        shared = obj.value
        return SharedInput(
            _address(shared.ObjectID), int(shared.SequenceNumber), bool(shared.Mutable)
        )
    return UnsupportedInput(str(obj.enum_name))


def _argument(arg: Any) -> Argument:
    name = arg.enum_name
    if name == "GasCoin":
        return GasCoinArg()
    if name == "Input":
        return InputArg(int(arg.value))
    if name == "Result":
        return ResultArg(int(arg.value))
    if name == "NestedResult":
        index, sub = arg.value
        return ResultArg(int(index), int(sub))
    raise TxDataError(f"unknown argument kind {name}")


def _command(cmd: Any) -> Command:
    name = cmd.enum_name
    body = cmd.value
    if name == "MoveCall":
        return MoveCallCommand(
            package=_address(body.Package),
            module=str(body.Module),
            function=str(body.Function),
            type_arguments=tuple(str(t.type_tag_to_str()) for t in body.Type_Arguments),
            arguments=tuple(_argument(a) for a in body.Arguments),
        )
    if name == "SplitCoin":
        return SplitCoinsCommand(_argument(body.FromCoin), tuple(_argument(a) for a in body.Amount))
    if name == "MergeCoins":
        return MergeCoinsCommand(
            _argument(body.ToCoin), tuple(_argument(a) for a in body.FromCoins)
        )
    if name == "TransferObjects":
        return TransferObjectsCommand(
            tuple(_argument(a) for a in body.Objects), _argument(body.Address)
        )
    return UnsupportedCommand(str(name))
