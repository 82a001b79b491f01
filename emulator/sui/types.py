"""The seam between the Sui stand-in node and the Python model of the `daas` Move package.

The node (`emulator/sui/node.py` and friends) owns everything a fullnode owns: checkpoints, transactions,
signatures, gas, coins, object versions and digests, the clock. The model (`emulator/sui/model.py`) owns the
objects our package defines (Registry, AdminCap, BuildRequest, EnclaveConfig, Enclave) and applies its entry
functions rule for rule, with the same abort codes as `move/`.

A programmable transaction runs like this: the node resolves each command's arguments to `MoveValue`s, hands
calls to our package to one `ModelTransaction` (`call`), and at the end either `commit`s it, getting the object
changes, events and payouts to apply, or drops it (an abort anywhere rolls everything back, as on chain).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from daas.chain.bcs import Struct

CLOCK_ID = "0x" + "0" * 63 + "6"


@dataclasses.dataclass(frozen=True)
class PureArg:
    """A pure argument exactly as it appears in the transaction: BCS bytes the model decodes per signature."""

    value: bytes


@dataclasses.dataclass(frozen=True)
class ObjectArg:
    """An object input (shared or owned) passed by reference (`&` or `&mut`) or by value.

    `mutable` is what the transaction declared for the input (always true for owned objects); the model reports
    every mutable input as mutated, as Sui bumps the version of every mutable input.
    """

    object_id: str
    mutable: bool


@dataclasses.dataclass(frozen=True)
class CoinValue:
    """A `Coin<SUI>` moved by value, e.g. the result of `SplitCoins(GasCoin, [amount])`."""

    amount: int


@dataclasses.dataclass(frozen=True)
class NitroDocument:
    """The value `0x2::nitro_attestation::load_nitro_attestation` returns once the node verified the document."""

    module_id: str
    timestamp_ms: int
    digest: str
    pcrs: dict[int, bytes]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None


@dataclasses.dataclass(frozen=True)
class IdValue:
    """An `ID` returned by a call (e.g. `request_build` returns the request id)."""

    object_id: str


MoveValue = PureArg | ObjectArg | CoinValue | NitroDocument | IdValue


@dataclasses.dataclass(frozen=True)
class Shared:
    initial_shared_version: int | None = (
        None  # None: the node assigns it when the object is created
    )


@dataclasses.dataclass(frozen=True)
class AddressOwner:
    address: str


Owner = Shared | AddressOwner


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """One object of our package as the node must serve it: type, owner and BCS contents (id first)."""

    object_id: str
    type_tag: str  # e.g. "0xPKG::builds::BuildRequest"
    owner: Owner
    contents: bytes


@dataclasses.dataclass(frozen=True)
class EmittedEvent:
    module: str  # defining module of the event type, e.g. "builds"
    event: Struct  # one of the structs in daas.chain.codecs


@dataclasses.dataclass(frozen=True)
class Payout:
    """A new `Coin<SUI>` the node must create and transfer (fee paid or refunded).

    `coin_id` is the id Move code took for it (`coin::from_balance` takes a fresh id from the TxContext, so
    ids created later in the same transaction depend on it, as on chain).
    """

    recipient: str
    amount: int
    coin_id: str


@dataclasses.dataclass(frozen=True)
class Changes:
    created: list[StoredObject]
    mutated: list[StoredObject]
    deleted: list[str]
    events: list[EmittedEvent]
    payouts: list[Payout]


@dataclasses.dataclass
class TxContext:
    """What `TxContext` and the `Clock` give Move code."""

    sender: str
    digest: bytes  # 32-byte transaction digest; object ids derive from it
    timestamp_ms: int  # the Clock's time
    epoch: int = 0
    ids_created: int = 0


class MoveAbort(Exception):
    """A Move abort, reported in the effects as `MoveAbort(location, code)` exactly like a node does."""

    def __init__(self, module: str, function: str, code: int) -> None:
        super().__init__(f"MoveAbort in {module}::{function} with code {code}")
        self.module = module
        self.function = function
        self.code = code


class CommandArgumentError(Exception):
    """An argument the VM rejects before running Move code (bad BCS, wrong object type, not owner...)."""


class FunctionNotFound(CommandArgumentError):
    """A call to a function that does not exist or is not callable from a transaction (private, package)."""


class ModelTransaction(Protocol):
    def call(self, module: str, function: str, args: Sequence[MoveValue]) -> list[MoveValue]:
        """Run one Move call; raises `MoveAbort` or `CommandArgumentError`."""
        ...

    def commit(self) -> Changes:
        """Apply the calls made so far to the model's state and report what changed."""
        ...


class PackageModel(Protocol):
    package_id: str

    def publish(self, ctx: TxContext) -> Changes:
        """Run the package's `init` functions (module initialisers) for the publisher `ctx.sender`."""
        ...

    def begin(self, ctx: TxContext) -> ModelTransaction:
        """Start a transaction; nothing changes until `commit`."""
        ...

    def get(self, object_id: str) -> StoredObject | None: ...

    def objects(self) -> list[StoredObject]: ...
