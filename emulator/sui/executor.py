"""Running the commands of one programmable transaction, as the Sui VM would, without touching state.

`Execution.run` walks the commands in order: `SplitCoins`, `MergeCoins`, `TransferObjects`, `MoveCall`s to
our package (handed to the package model) and to `0x2::nitro_attestation::load_nitro_attestation`. Coins
are `CoinSlot`s whose balances change in place; nothing reaches the node's objects until the node applies
the outcome, and a failure (`ExecutionFailed`) leaves only the gas charge to apply, as on chain.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Literal, TypeVar

from daas.chain.bcs import U64, Address, Bytes, Codec, Reader
from daas.chain.hashing import derive_object_id
from daas.errors import CodecError
from emulator.sui.effects import AbortLocation, ExecFailure
from emulator.sui.nitro import NATIVE_FUNCTION, NitroAbort, NitroLoader
from emulator.sui.objects import SUI_FRAMEWORK
from emulator.sui.txdata import (
    Argument,
    Command,
    GasCoinArg,
    InputArg,
    MergeCoinsCommand,
    MoveCallCommand,
    SplitCoinsCommand,
    TransferObjectsCommand,
    TxData,
)
from emulator.sui.types import (
    CLOCK_ID,
    CoinValue,
    CommandArgumentError,
    FunctionNotFound,
    IdValue,
    ModelTransaction,
    MoveAbort,
    MoveValue,
    NitroDocument,
    ObjectArg,
    PackageModel,
    PureArg,
    TxContext,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

NITRO_MODULE = "nitro_attestation"
NITRO_FUNCTION = "load_nitro_attestation"


@dataclasses.dataclass
class CoinSlot:
    """A `Coin<SUI>` during execution: the gas coin, an owned input coin, or a coin split off."""

    object_id: str
    balance: int
    origin: Literal["gas", "input", "new"]
    moved: bool = False  # merged away, passed by value, or transferred
    recipient: str | None = None  # set by TransferObjects


@dataclasses.dataclass(frozen=True)
class PackageObjectValue:
    """An input object of our package (or the Clock): passed to the model as an `ObjectArg`."""

    object_id: str
    mutable: bool


@dataclasses.dataclass
class NitroCell:
    document: NitroDocument
    moved: bool = False


Value = bytes | CoinSlot | PackageObjectValue | NitroCell | IdValue


class ExecutionFailed(Exception):
    def __init__(self, failure: ExecFailure) -> None:
        super().__init__(failure.description)
        self.failure = failure


def _fail(
    kind: str,
    description: str,
    command: int | None,
    *,
    argument_error: str | None = None,
    argument_index: int | None = None,
) -> ExecutionFailed:
    return ExecutionFailed(
        ExecFailure(
            kind=kind,
            description=description,
            command=command,
            argument_error=argument_error,
            argument_index=argument_index,
        )
    )


class Execution:
    """One run of a transaction's commands. Read the outcome from the attributes after `run()`."""

    def __init__(
        self,
        tx: TxData,
        inputs: list[Value],
        gas: CoinSlot,
        *,
        model: PackageModel,
        ctx: TxContext,
        nitro: NitroLoader | None,
    ) -> None:
        self.tx = tx
        self.inputs = inputs
        self.gas = gas
        self._model = model
        self.ctx = ctx
        self._nitro = nitro
        self.results: list[list[Value]] = []
        self.new_coins: list[CoinSlot] = []
        self.model_tx: ModelTransaction | None = None
        self.first_module: str | None = None  # module of the first call into our package

    def run(self) -> None:
        for index, command in enumerate(self.tx.commands):
            self.results.append(self._command(index, command))
        for coin in self.new_coins:
            if not coin.moved:
                raise _fail(
                    "UNUSED_VALUE_WITHOUT_DROP",
                    f"the coin split off in this transaction ({coin.balance} MIST) was neither "
                    "transferred nor used",
                    None,
                )

    def _command(self, index: int, command: Command) -> list[Value]:
        if isinstance(command, SplitCoinsCommand):
            return self._split(index, command)
        if isinstance(command, MergeCoinsCommand):
            self._merge(index, command)
            return []
        if isinstance(command, TransferObjectsCommand):
            self._transfer(index, command)
            return []
        if isinstance(command, MoveCallCommand):
            return self._move_call(index, command)
        raise _fail(
            "FEATURE_NOT_YET_SUPPORTED",
            f"command {command.name} is not supported by the DaaS Sui stand-in",
            index,
        )

    # --- argument access ---------------------------------------------------------------------------------

    def _value(self, index: int, arg: Argument, position: int) -> Value:
        if isinstance(arg, GasCoinArg):
            return self.gas
        if isinstance(arg, InputArg):
            if arg.index >= len(self.inputs):
                raise _fail(
                    "COMMAND_ARGUMENT_ERROR",
                    f"input {arg.index} does not exist",
                    index,
                    argument_error="INDEX_OUT_OF_BOUNDS",
                    argument_index=position,
                )
            return self.inputs[arg.index]
        if arg.index >= index:
            raise _fail(
                "COMMAND_ARGUMENT_ERROR",
                f"result {arg.index} is not available in command {index}",
                index,
                argument_error="INDEX_OUT_OF_BOUNDS",
                argument_index=position,
            )
        values = self.results[arg.index]
        if arg.sub is None:
            if len(values) != 1:
                raise _fail(
                    "COMMAND_ARGUMENT_ERROR",
                    f"Result({arg.index}) has {len(values)} values; use NestedResult",
                    index,
                    argument_error="INVALID_RESULT_ARITY",
                    argument_index=position,
                )
            return values[0]
        if arg.sub >= len(values):
            raise _fail(
                "COMMAND_ARGUMENT_ERROR",
                f"NestedResult({arg.index}, {arg.sub}) does not exist",
                index,
                argument_error="SECONDARY_INDEX_OUT_OF_BOUNDS",
                argument_index=position,
            )
        return values[arg.sub]

    def _coin(self, index: int, arg: Argument, position: int) -> CoinSlot:
        value = self._value(index, arg, position)
        if not isinstance(value, CoinSlot):
            raise _fail(
                "COMMAND_ARGUMENT_ERROR",
                "expected a Coin<SUI>",
                index,
                argument_error="TYPE_MISMATCH",
                argument_index=position,
            )
        if value.moved:
            raise _fail(
                "COMMAND_ARGUMENT_ERROR",
                f"coin {value.object_id} was already moved",
                index,
                argument_error="ARGUMENT_WITHOUT_VALUE",
                argument_index=position,
            )
        return value

    def _pure(self, index: int, arg: Argument, position: int, codec: Codec[T]) -> T:
        value = self._value(index, arg, position)
        if not isinstance(value, bytes):
            raise _fail(
                "COMMAND_ARGUMENT_ERROR",
                "expected a pure value",
                index,
                argument_error="TYPE_MISMATCH",
                argument_index=position,
            )
        reader = Reader(value)
        try:
            decoded = codec.decode(reader)
            reader.finish()
        except CodecError as exc:
            raise _fail(
                "COMMAND_ARGUMENT_ERROR",
                f"invalid BCS: {exc}",
                index,
                argument_error="INVALID_BCS_BYTES",
                argument_index=position,
            ) from exc
        return decoded

    # --- coin commands -----------------------------------------------------------------------------------

    def _split(self, index: int, command: SplitCoinsCommand) -> list[Value]:
        coin = self._coin(index, command.coin, 0)
        amounts: list[int] = []
        for position, arg in enumerate(command.amounts, start=1):
            amounts.append(self._pure(index, arg, position, U64))
        if sum(amounts) > coin.balance:
            # The gas coin's budget is set aside before execution, so it cannot be split away.
            raise _fail(
                "INSUFFICIENT_COIN_BALANCE",
                f"coin {coin.object_id} holds {coin.balance} MIST available, "
                f"{sum(amounts)} requested",
                index,
            )
        coin.balance -= sum(amounts)
        new: list[Value] = []
        for amount in amounts:
            slot = CoinSlot(self._new_id(), amount, "new")
            self.new_coins.append(slot)
            new.append(slot)
        return new

    def _merge(self, index: int, command: MergeCoinsCommand) -> None:
        target = self._coin(index, command.target, 0)
        for position, arg in enumerate(command.sources, start=1):
            source = self._coin(index, arg, position)
            if source is target or source.origin == "gas":
                raise _fail(
                    "COMMAND_ARGUMENT_ERROR",
                    "the gas coin (or the target itself) cannot be merged away",
                    index,
                    argument_error="INVALID_GAS_COIN_USAGE",
                    argument_index=position,
                )
            target.balance += source.balance
            source.balance = 0
            source.moved = True

    def _transfer(self, index: int, command: TransferObjectsCommand) -> None:
        recipient = self._pure(index, command.address, len(command.objects), Address)
        for position, arg in enumerate(command.objects):
            value = self._value(index, arg, position)
            if isinstance(value, CoinSlot):
                coin = self._coin(index, arg, position)
                coin.recipient = recipient
                coin.moved = True
            elif isinstance(value, PackageObjectValue):
                raise _fail(
                    "FEATURE_NOT_YET_SUPPORTED",
                    f"transferring {value.object_id} is not modelled by the DaaS Sui stand-in",
                    index,
                )
            else:
                raise _fail(
                    "COMMAND_ARGUMENT_ERROR",
                    "only objects with `key + store` can be transferred",
                    index,
                    argument_error="INVALID_TRANSFER_OBJECT",
                    argument_index=position,
                )

    # --- Move calls --------------------------------------------------------------------------------------

    def _move_call(self, index: int, call: MoveCallCommand) -> list[Value]:
        if call.package == SUI_FRAMEWORK and (call.module, call.function) == (
            NITRO_MODULE,
            NITRO_FUNCTION,
        ):
            return self._load_nitro(index, call)
        if call.package != self._model.package_id:
            raise _fail(
                "FEATURE_NOT_YET_SUPPORTED",
                f"{call.package}::{call.module}::{call.function} is not modelled by the DaaS Sui "
                "stand-in (only the daas package and load_nitro_attestation are)",
                index,
            )
        if call.type_arguments:
            raise _fail(
                "TYPE_ARITY_MISMATCH",
                f"{call.module}::{call.function} takes no type arguments",
                index,
            )
        args = [
            self._move_value(index, arg, position) for position, arg in enumerate(call.arguments)
        ]
        if self.model_tx is None:
            self.model_tx = self._model.begin(self.ctx)
        self.first_module = self.first_module or call.module
        try:
            returned = self.model_tx.call(call.module, call.function, args)
        except MoveAbort as exc:
            raise ExecutionFailed(
                ExecFailure(
                    kind="MOVE_ABORT",
                    description=(
                        f"MoveAbort(MoveLocation {{ module: {call.package}::{exc.module}, "
                        f"function_name: Some({exc.function!r}) }}, {exc.code}) in command {index}"
                    ),
                    command=index,
                    abort=AbortLocation(call.package, exc.module, exc.function),
                    abort_code=exc.code,
                )
            ) from exc
        except FunctionNotFound as exc:
            raise _fail("FUNCTION_NOT_FOUND", str(exc), index) from exc
        except CommandArgumentError as exc:
            raise _fail("COMMAND_ARGUMENT_ERROR", str(exc), index) from exc
        except Exception as exc:  # a bug in the model must not take the node down
            log.exception("package model failed on %s::%s", call.module, call.function)
            raise _fail(
                "VM_INVARIANT_VIOLATION", f"the package model failed: {exc!r}", index
            ) from exc
        # Our package's functions return at most an `ID` (e.g. the new request's id).
        return [value for value in returned if isinstance(value, IdValue)]

    def _move_value(self, index: int, arg: Argument, position: int) -> MoveValue:
        value = self._value(index, arg, position)
        if isinstance(value, bytes):
            return PureArg(value)
        if isinstance(value, PackageObjectValue):
            return ObjectArg(value.object_id, value.mutable)
        if isinstance(value, CoinSlot):
            if value.origin == "gas":
                raise _fail(
                    "COMMAND_ARGUMENT_ERROR",
                    "the gas coin can only be used by reference",
                    index,
                    argument_error="INVALID_GAS_COIN_USAGE",
                    argument_index=position,
                )
            coin = self._coin(index, arg, position)
            coin.moved = True  # Coin<SUI> parameters of our package are all by value
            return CoinValue(coin.balance)
        if isinstance(value, NitroCell):
            if value.moved:
                raise _fail(
                    "COMMAND_ARGUMENT_ERROR",
                    "the attestation document was already moved",
                    index,
                    argument_error="ARGUMENT_WITHOUT_VALUE",
                    argument_index=position,
                )
            value.moved = True
            return value.document
        return value

    def _load_nitro(self, index: int, call: MoveCallCommand) -> list[Value]:
        if len(call.arguments) != 2:
            raise _fail("ARITY_MISMATCH", "load_nitro_attestation takes 2 arguments", index)
        document = self._pure(index, call.arguments[0], 0, Bytes)
        clock = self._value(index, call.arguments[1], 1)
        if not isinstance(clock, PackageObjectValue) or clock.object_id != CLOCK_ID:
            raise _fail(
                "COMMAND_ARGUMENT_ERROR",
                "load_nitro_attestation needs the Clock (0x6)",
                index,
                argument_error="TYPE_MISMATCH",
                argument_index=1,
            )
        if self._nitro is None:
            raise _fail(
                "FEATURE_NOT_YET_SUPPORTED",
                "load_nitro_attestation is not available on this stand-in (no verifier configured)",
                index,
            )
        try:
            loaded = self._nitro(document, self.ctx.timestamp_ms)
        except NitroAbort as exc:
            raise ExecutionFailed(
                ExecFailure(
                    kind="MOVE_ABORT",
                    description=(
                        f"MoveAbort(MoveLocation {{ module: 0x2::{NITRO_MODULE}, function_name: "
                        f"Some({NATIVE_FUNCTION!r}) }}, {exc.code}) in command {index}: {exc}"
                    ),
                    command=index,
                    abort=AbortLocation(SUI_FRAMEWORK, NITRO_MODULE, NATIVE_FUNCTION),
                    abort_code=exc.code,
                )
            ) from exc
        return [NitroCell(loaded)]

    def _new_id(self) -> str:
        object_id = derive_object_id(self.ctx.digest, self.ctx.ids_created)
        self.ctx.ids_created += 1
        return object_id
