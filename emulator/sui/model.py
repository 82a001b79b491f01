"""A Python model of the `daas` Move package (`move/sources/builds.move`, `move/sources/enclave.move`).

The Sui stand-in node runs every call to our package through this model (the `PackageModel` interface of
`emulator.sui.types`), so it must accept and refuse exactly what the Move code does, with the same abort
codes and the same abort locations, the same object contents, events and coin movements.

How it mirrors the Move code:

- `BuildsModule` and `EnclaveModule` have one method per Move function (public, package and private alike;
  getters aside), with the Move names, parameters in Move order, and the checks in Move order. `check(cond, code)` is
  `assert!(cond, code)`: it raises `MoveAbort(module, <calling function>, code)`, the location a node reports.
- The abort codes are `BuildsAbort` and `EnclaveAbort`, named after the Move `E*` constants; the other
  constants (`VERSION`, lengths, limits, intents) keep their Move names too.
- Objects are the frozen `*Object` dataclasses of `daas.chain.codecs`; `&mut` writes replace the staged
  value. `object::new` derives ids as Sui does (`derive_id`), so ids match a real execution of the same
  transaction digest, and `coin::from_balance` takes an id too (reported in `CoinPayout.coin_id`).
- `ENTRY_FUNCTIONS` lists the callable functions with their Move parameter types; arguments are checked
  and decoded against it (`emulator.sui.model_args`) before the method runs, as the VM does.

Not modelled: Move arithmetic overflow (the u64 sums involved cannot overflow with a real clock), gas, and
the getters (no caller needs them in a transaction). Signatures are checked with OpenSSL's Ed25519; Sui's
native verifier agrees on every signature an honest signer makes.

Keeping it in step with `move/`: change the Move function and its method here together. The tests in
`tests/emulator/test_model_sync.py` read `move/` and fail when a constant (abort codes included), the
signature of a callable function, or the set of mirrored functions differs from this module, or when the
model no longer reproduces the bytes the Move tests pin (ids, objects, events of their scenarios).
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from daas.chain import codecs
from daas.chain.bcs import Struct
from daas.chain.codecs import (
    MODULE_BUILDS,
    MODULE_ENCLAVE,
    BuildFailedPayload,
    BuildRequestObject,
    BuildResult,
    BuildSpec,
    BuildSucceededPayload,
    EnclaveConfigObject,
    EnclaveObject,
    IntentMessage,
    RegistryObject,
)
from emulator.sui.model_args import Param, decode_args
from emulator.sui.model_objects import (
    OBJECT_TYPES,
    AdminCapObject,
    Clock,
    CoinPayout,
    Entry,
    PackageObject,
    derive_id,
    normalize_id,
)
from emulator.sui.types import (
    AddressOwner,
    Changes,
    CoinValue,
    EmittedEvent,
    FunctionNotFound,
    IdValue,
    MoveAbort,
    MoveValue,
    NitroDocument,
    Owner,
    Payout,
    Shared,
    StoredObject,
    TxContext,
)

ObjT = TypeVar("ObjT", bound=PackageObject)

# === builds.move constants ===

VERSION = 1

STATUS_PENDING = 0
STATUS_SUCCEEDED = 1
STATUS_FAILED = 2
STATUS_CANCELLED = 3

INTENT_BUILD_SUCCEEDED = 1
INTENT_BUILD_FAILED = 2

DEFAULT_MIN_FEE = 10_000_000
DEFAULT_BUILD_TIMEOUT_MS = 3_600_000
MIN_BUILD_TIMEOUT_MS = 60_000
MAX_BUILD_TIMEOUT_MS = 86_400_000
MAX_CLOCK_SKEW_MS = 60_000

DIGEST_LENGTH = 32
MAX_BLOB_ID_LENGTH = 128
MAX_DOCKERFILE_PATH_LENGTH = 256
MAX_PLATFORM_LENGTH = 32

REQUESTER_FAULT_MIN = 100
REQUESTER_FAULT_MAX = 199
INFRA_FAULT_MAX = 299

# === enclave.move constants ===

PCR_LENGTH = 48
PK_LENGTH = 32
CONFIG_NAME = "daas-runner"
ZERO_PCR = bytes(48)


class BuildsAbort(enum.IntEnum):
    """The `E*` constants of `daas::builds`."""

    EPaused = 1
    EWrongVersion = 2
    EFeeTooLow = 3
    EInputTooLong = 4
    EBadDigestLength = 5
    ENotPending = 6
    ENotRequester = 7
    ETooEarlyToCancel = 8
    EWrongEnclaveConfig = 9
    EStaleEnclave = 10
    EBadTimestamp = 11
    EInvalidSignature = 12
    EBadErrorCode = 13
    EDebugNotAllowed = 14
    EEmptyInput = 15
    EBadTimeout = 16

    @property
    def module(self) -> str:
        return MODULE_BUILDS


class EnclaveAbort(enum.IntEnum):
    """The `E*` constants of `daas::enclave`."""

    EPcrMismatch = 100
    EDebugPcrs = 101
    ENoPublicKey = 102
    EBadPkLength = 103
    EBadPcrLength = 104
    EPcrMissing = 105
    ENotStale = 106
    EWrongConfig = 107

    @property
    def module(self) -> str:
        return MODULE_ENCLAVE


def check(condition: bool, code: BuildsAbort | EnclaveAbort) -> None:
    """`assert!(condition, code)`: aborts in the calling function, which has the Move function's name."""
    if not condition:
        raise MoveAbort(code.module, sys._getframe(1).f_code.co_name, int(code))


def utf8_length(text: str) -> int:
    """`String::length`: bytes, not characters."""
    return len(text.encode("utf-8"))


# === Transaction runtime: what TxContext, transfer, event and coin natives give Move code ===


class Runtime:
    """The staged state of one transaction: copy-on-write over the model's committed objects."""

    def __init__(self, committed: Mapping[str, Entry], ctx: TxContext) -> None:
        self.ctx = ctx
        self._committed = committed
        self._staged: dict[str, Entry | None] = {}  # None: deleted in this transaction
        self._created: dict[str, None] = {}  # ordered sets
        self._written: dict[str, None] = {}
        self.events: list[EmittedEvent] = []
        self.payouts: list[Payout] = []

    @property
    def sender(self) -> str:
        return normalize_id(self.ctx.sender)

    def read(self, object_id: str) -> Entry | None:
        if object_id in self._staged:
            return self._staged[object_id]
        return self._committed.get(object_id)

    def new_id(self) -> str:
        """`object::new(ctx)`: the next id of this transaction."""
        object_id = derive_id(self.ctx.digest, self.ctx.ids_created)
        self.ctx.ids_created += 1
        return object_id

    def share(self, value: PackageObject) -> None:
        """`transfer::share_object` of a new object."""
        self._create(Entry(value, Shared()))

    def transfer(self, value: PackageObject, recipient: str) -> None:
        """`transfer::public_transfer` of a new object."""
        self._create(Entry(value, AddressOwner(normalize_id(recipient))))

    def mark_written(self, object_id: str) -> None:
        """A mutable input (`ObjectArg.mutable`): Sui gives it a new version and reports it mutated
        even when the call only reads it."""
        self._written[object_id] = None

    def update(self, value: ObjT) -> ObjT:
        """Writes through a `&mut`: the object keeps its id and owner."""
        entry = self.read(value.id)
        if entry is None:
            raise RuntimeError(f"update of missing object {value.id}")
        self._staged[value.id] = Entry(value, entry.owner)
        self._written[value.id] = None
        return value

    def delete(self, object_id: str) -> None:
        """`object::delete`."""
        self._staged[object_id] = None

    def emit(self, event: codecs.Event) -> None:
        self.events.append(EmittedEvent(event.MODULE, event))

    def pay_coin(self, amount: int, recipient: str) -> None:
        """`transfer::public_transfer(coin::from_balance(funds, ctx), recipient)`."""
        coin_id = self.new_id()
        self.payouts.append(CoinPayout(normalize_id(recipient), amount, coin_id))

    def changes(self, package_id: str) -> Changes:
        created = [
            entry.stored(package_id)
            for object_id in self._created
            if (entry := self._staged[object_id]) is not None
        ]
        mutated = [
            entry.stored(package_id)
            for object_id in self._written
            if object_id not in self._created and (entry := self.read(object_id)) is not None
        ]
        deleted = [
            object_id
            for object_id, entry in self._staged.items()
            if entry is None and object_id in self._committed
        ]
        return Changes(created, mutated, deleted, list(self.events), list(self.payouts))

    def staged(self) -> dict[str, Entry | None]:
        return dict(self._staged)

    def _create(self, entry: Entry) -> None:
        self._staged[entry.object_id] = entry
        self._created[entry.object_id] = None


# === daas::enclave ===


class EnclaveModule:
    """`daas::enclave`, function for function."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # --- public functions ---

    def register_enclave(
        self, config: EnclaveConfigObject, document: NitroDocument, attestation: bytes
    ) -> str:
        pcrs = document.pcrs
        pcr0 = self.find_pcr(pcrs, 0)
        pcr1 = self.find_pcr(pcrs, 1)
        pcr2 = self.find_pcr(pcrs, 2)
        public_key = document.public_key
        timestamp_ms = document.timestamp_ms
        return self.register_attested(
            config, pcr0, pcr1, pcr2, public_key, attestation, timestamp_ms
        )

    def destroy_stale(self, enclave: EnclaveObject, config: EnclaveConfigObject) -> None:
        check(enclave.config_id == config.id, EnclaveAbort.EWrongConfig)
        check(enclave.config_version < config.version, EnclaveAbort.ENotStale)
        self.rt.emit(codecs.EnclaveDestroyed(enclave.id, enclave.config_id))
        self.rt.delete(enclave.id)

    def assert_current(self, enclave: EnclaveObject, config: EnclaveConfigObject) -> None:
        check(enclave.config_id == config.id, EnclaveAbort.EWrongConfig)
        check(enclave.config_version == config.version, EnclaveAbort.EWrongConfig)

    def verify_signature(
        self,
        enclave: EnclaveObject,
        intent: int,
        timestamp_ms: int,
        payload: BuildSucceededPayload | BuildFailedPayload,
        signature: bytes,
    ) -> bool:
        message = self.intent_message_bytes(intent, timestamp_ms, payload)
        try:
            Ed25519PublicKey.from_public_bytes(enclave.pk).verify(signature, message)
        except (InvalidSignature, ValueError):  # ed25519_verify returns false, never aborts
            return False
        return True

    # --- package functions ---

    def create_config(self) -> str:
        config = EnclaveConfigObject(
            id=self.rt.new_id(),
            name=CONFIG_NAME,
            pcr0=ZERO_PCR,
            pcr1=ZERO_PCR,
            pcr2=ZERO_PCR,
            version=0,
        )
        self.rt.share(config)
        return config.id

    def new_debug_enclave(self, config: EnclaveConfigObject, pk: bytes) -> str:
        check(len(pk) == PK_LENGTH, EnclaveAbort.EBadPkLength)
        return self.new_enclave(config, pk, True, b"", b"", b"", b"", 0)

    def update_pcrs(
        self, config: EnclaveConfigObject, pcr0: bytes, pcr1: bytes, pcr2: bytes
    ) -> None:
        self.assert_valid_pcrs(pcr0, pcr1, pcr2)
        config = self.rt.update(
            dataclasses.replace(config, pcr0=pcr0, pcr1=pcr1, pcr2=pcr2, version=config.version + 1)
        )
        self.rt.emit(
            codecs.PcrsUpdated(config.id, config.version, config.pcr0, config.pcr1, config.pcr2)
        )

    def intent_message_bytes(
        self, intent: int, timestamp_ms: int, payload: BuildSucceededPayload | BuildFailedPayload
    ) -> bytes:
        return IntentMessage(intent, timestamp_ms, payload).to_bcs()

    # --- private functions ---

    def register_attested(
        self,
        config: EnclaveConfigObject,
        pcr0: bytes | None,
        pcr1: bytes | None,
        pcr2: bytes | None,
        public_key: bytes | None,
        attestation: bytes,
        attestation_timestamp_ms: int,
    ) -> str:
        check(pcr0 is not None and pcr1 is not None and pcr2 is not None, EnclaveAbort.EPcrMissing)
        assert pcr0 is not None and pcr1 is not None and pcr2 is not None  # narrowed by the check
        self.assert_valid_pcrs(pcr0, pcr1, pcr2)
        check(
            pcr0 == config.pcr0 and pcr1 == config.pcr1 and pcr2 == config.pcr2,
            EnclaveAbort.EPcrMismatch,
        )
        check(public_key is not None, EnclaveAbort.ENoPublicKey)
        assert public_key is not None
        pk = public_key
        check(len(pk) == PK_LENGTH, EnclaveAbort.EBadPkLength)
        return self.new_enclave(
            config, pk, False, pcr0, pcr1, pcr2, attestation, attestation_timestamp_ms
        )

    def new_enclave(
        self,
        config: EnclaveConfigObject,
        pk: bytes,
        debug: bool,
        pcr0: bytes,
        pcr1: bytes,
        pcr2: bytes,
        attestation: bytes,
        attestation_timestamp_ms: int,
    ) -> str:
        enclave = EnclaveObject(
            id=self.rt.new_id(),
            config_id=config.id,
            config_version=config.version,
            pk=pk,
            owner=self.rt.sender,
            debug=debug,
            attestation=attestation,
            attestation_timestamp_ms=attestation_timestamp_ms,
        )
        self.rt.emit(
            codecs.EnclaveRegistered(
                enclave_id=enclave.id,
                config_id=enclave.config_id,
                config_version=enclave.config_version,
                pk=enclave.pk,
                pcr0=pcr0,
                pcr1=pcr1,
                pcr2=pcr2,
                attestation_timestamp_ms=attestation_timestamp_ms,
                owner=enclave.owner,
                debug=debug,
            )
        )
        self.rt.share(enclave)
        return enclave.id

    def find_pcr(self, pcrs: Mapping[int, bytes], index: int) -> bytes | None:
        # By index, never by position (the document's PCR list may skip entries).
        return pcrs.get(index)

    def assert_valid_pcrs(self, pcr0: bytes, pcr1: bytes, pcr2: bytes) -> None:
        check(
            len(pcr0) == PCR_LENGTH and len(pcr1) == PCR_LENGTH and len(pcr2) == PCR_LENGTH,
            EnclaveAbort.EBadPcrLength,
        )
        check(
            not self.is_all_zero(pcr0)
            and not self.is_all_zero(pcr1)
            and not self.is_all_zero(pcr2),
            EnclaveAbort.EDebugPcrs,
        )

    def is_all_zero(self, data: bytes) -> bool:
        return not any(data)


# === daas::builds ===


class BuildsModule:
    """`daas::builds`, function for function."""

    def __init__(self, rt: Runtime, enclave: EnclaveModule) -> None:
        self.rt = rt
        self.enclave = enclave

    # --- publish ---

    def init(self) -> None:
        enclave_config_id = self.enclave.create_config()
        registry = RegistryObject(
            id=self.rt.new_id(),
            version=VERSION,
            payee=self.rt.sender,
            min_fee=DEFAULT_MIN_FEE,
            build_timeout_ms=DEFAULT_BUILD_TIMEOUT_MS,
            paused=False,
            enclave_config_id=enclave_config_id,
            allow_debug=False,
        )
        self.emit_registry_updated(registry)
        self.rt.share(registry)
        self.rt.transfer(AdminCapObject(self.rt.new_id()), self.rt.sender)

    # --- user functions ---

    def request_build(
        self,
        reg: RegistryObject,
        source_blob_id: str,
        source_sha256: bytes,
        dockerfile_path: str,
        platform: str,
        payment: CoinValue,
        clock: Clock,
    ) -> str:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        check(not reg.paused, BuildsAbort.EPaused)
        fee_amount = payment.amount
        check(fee_amount >= reg.min_fee, BuildsAbort.EFeeTooLow)
        spec = BuildSpec(source_blob_id, source_sha256, dockerfile_path, platform)
        self.assert_valid_spec(spec)
        digest = self.spec_digest(spec)
        created_at_ms = clock.timestamp_ms
        deadline_ms = created_at_ms + reg.build_timeout_ms
        requester = self.rt.sender
        request = BuildRequestObject(
            id=self.rt.new_id(),
            requester=requester,
            spec=spec,
            spec_digest=digest,
            fee_balance=fee_amount,  # coin::into_balance(payment): the whole coin is escrowed
            fee_amount=fee_amount,
            status=STATUS_PENDING,
            created_at_ms=created_at_ms,
            deadline_ms=deadline_ms,
            result=None,
        )
        self.rt.emit(
            codecs.BuildRequested(
                request_id=request.id,
                requester=requester,
                source_blob_id=spec.source_blob_id,
                source_sha256=spec.source_sha256,
                dockerfile_path=spec.dockerfile_path,
                platform=spec.platform,
                spec_digest=request.spec_digest,
                fee=fee_amount,
                created_at_ms=created_at_ms,
                deadline_ms=deadline_ms,
            )
        )
        self.rt.share(request)
        return request.id

    def cancel(self, req: BuildRequestObject, clock: Clock) -> None:
        check(req.status == STATUS_PENDING, BuildsAbort.ENotPending)
        check(self.rt.sender == req.requester, BuildsAbort.ENotRequester)
        now = clock.timestamp_ms
        check(now > req.deadline_ms, BuildsAbort.ETooEarlyToCancel)
        refunded = req.fee_balance  # balance::withdraw_all
        self.pay(refunded, req.requester)
        req = self.rt.update(dataclasses.replace(req, fee_balance=0, status=STATUS_CANCELLED))
        self.rt.emit(codecs.BuildCancelled(req.id, req.requester, refunded, now))

    def complete(
        self,
        reg: RegistryObject,
        req: BuildRequestObject,
        config: EnclaveConfigObject,
        enclave: EnclaveObject,
        image_digest: bytes,
        image_index_blob_id: str,
        log_digest: bytes,
        log_blob_id: str,
        timestamp_ms: int,
        signature: bytes,
        clock: Clock,
    ) -> None:
        self.assert_can_post(reg, req, config, enclave)
        check(
            len(image_digest) == DIGEST_LENGTH and len(log_digest) == DIGEST_LENGTH,
            BuildsAbort.EBadDigestLength,
        )
        check(
            utf8_length(image_index_blob_id) <= MAX_BLOB_ID_LENGTH
            and utf8_length(log_blob_id) <= MAX_BLOB_ID_LENGTH,
            BuildsAbort.EInputTooLong,
        )
        self.assert_timestamp(req, timestamp_ms, clock)
        request_id = req.id
        payload = BuildSucceededPayload(
            request_id=request_id,
            spec_digest=req.spec_digest,
            image_digest=image_digest,
            image_index_blob_id=image_index_blob_id,
            log_digest=log_digest,
            log_blob_id=log_blob_id,
        )
        check(
            self.enclave.verify_signature(
                enclave, INTENT_BUILD_SUCCEEDED, timestamp_ms, payload, signature
            ),
            BuildsAbort.EInvalidSignature,
        )

        fee_paid = req.fee_balance  # balance::withdraw_all
        self.pay(fee_paid, reg.payee)
        enclave_id = enclave.id
        result = BuildResult(
            enclave_id=enclave_id,
            succeeded=True,
            image_digest=image_digest,
            image_index_blob_id=image_index_blob_id,
            log_digest=log_digest,
            log_blob_id=log_blob_id,
            error_code=0,
            timestamp_ms=timestamp_ms,
            signature=signature,
        )
        req = self.rt.update(
            dataclasses.replace(req, fee_balance=0, status=STATUS_SUCCEEDED, result=result)
        )
        self.rt.emit(
            codecs.BuildSucceeded(
                request_id=request_id,
                requester=req.requester,
                enclave_id=enclave_id,
                enclave_pk=enclave.pk,
                config_version=enclave.config_version,
                spec_digest=req.spec_digest,
                image_digest=image_digest,
                image_index_blob_id=image_index_blob_id,
                log_digest=log_digest,
                log_blob_id=log_blob_id,
                timestamp_ms=timestamp_ms,
                signature=signature,
                fee_paid=fee_paid,
                payee=reg.payee,
            )
        )

    def fail(
        self,
        reg: RegistryObject,
        req: BuildRequestObject,
        config: EnclaveConfigObject,
        enclave: EnclaveObject,
        error_code: int,
        log_digest: bytes,
        log_blob_id: str,
        timestamp_ms: int,
        signature: bytes,
        clock: Clock,
    ) -> None:
        self.assert_can_post(reg, req, config, enclave)
        check(len(log_digest) == DIGEST_LENGTH, BuildsAbort.EBadDigestLength)
        check(utf8_length(log_blob_id) <= MAX_BLOB_ID_LENGTH, BuildsAbort.EInputTooLong)
        self.assert_timestamp(req, timestamp_ms, clock)
        check(
            REQUESTER_FAULT_MIN <= error_code <= INFRA_FAULT_MAX,
            BuildsAbort.EBadErrorCode,
        )
        request_id = req.id
        payload = BuildFailedPayload(
            request_id=request_id,
            spec_digest=req.spec_digest,
            error_code=error_code,
            log_digest=log_digest,
            log_blob_id=log_blob_id,
        )
        check(
            self.enclave.verify_signature(
                enclave, INTENT_BUILD_FAILED, timestamp_ms, payload, signature
            ),
            BuildsAbort.EInvalidSignature,
        )

        amount = req.fee_balance  # balance::withdraw_all
        requester_fault = error_code <= REQUESTER_FAULT_MAX
        fee_paid = amount if requester_fault else 0
        refunded = amount - fee_paid
        recipient = reg.payee if requester_fault else req.requester
        self.pay(amount, recipient)
        enclave_id = enclave.id
        result = BuildResult(
            enclave_id=enclave_id,
            succeeded=False,
            image_digest=b"",
            image_index_blob_id="",
            log_digest=log_digest,
            log_blob_id=log_blob_id,
            error_code=error_code,
            timestamp_ms=timestamp_ms,
            signature=signature,
        )
        req = self.rt.update(
            dataclasses.replace(req, fee_balance=0, status=STATUS_FAILED, result=result)
        )
        self.rt.emit(
            codecs.BuildFailed(
                request_id=request_id,
                requester=req.requester,
                enclave_id=enclave_id,
                enclave_pk=enclave.pk,
                config_version=enclave.config_version,
                spec_digest=req.spec_digest,
                error_code=error_code,
                log_digest=log_digest,
                log_blob_id=log_blob_id,
                timestamp_ms=timestamp_ms,
                signature=signature,
                fee_paid=fee_paid,
                refunded=refunded,
            )
        )

    # --- admin functions (the AdminCap is checked by argument decoding: owned by the sender) ---

    def register_debug_enclave(
        self, reg: RegistryObject, _: AdminCapObject, config: EnclaveConfigObject, pk: bytes
    ) -> str:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        check(reg.allow_debug, BuildsAbort.EDebugNotAllowed)
        return self.enclave.new_debug_enclave(config, pk)

    def update_pcrs(
        self,
        reg: RegistryObject,
        _: AdminCapObject,
        config: EnclaveConfigObject,
        pcr0: bytes,
        pcr1: bytes,
        pcr2: bytes,
    ) -> None:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        self.enclave.update_pcrs(config, pcr0, pcr1, pcr2)

    def set_payee(self, reg: RegistryObject, _: AdminCapObject, payee: str) -> None:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        reg = self.rt.update(dataclasses.replace(reg, payee=payee))
        self.emit_registry_updated(reg)

    def set_min_fee(self, reg: RegistryObject, _: AdminCapObject, min_fee: int) -> None:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        reg = self.rt.update(dataclasses.replace(reg, min_fee=min_fee))
        self.emit_registry_updated(reg)

    def set_build_timeout_ms(
        self, reg: RegistryObject, _: AdminCapObject, build_timeout_ms: int
    ) -> None:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        check(
            MIN_BUILD_TIMEOUT_MS <= build_timeout_ms <= MAX_BUILD_TIMEOUT_MS,
            BuildsAbort.EBadTimeout,
        )
        reg = self.rt.update(dataclasses.replace(reg, build_timeout_ms=build_timeout_ms))
        self.emit_registry_updated(reg)

    def set_paused(self, reg: RegistryObject, _: AdminCapObject, paused: bool) -> None:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        reg = self.rt.update(dataclasses.replace(reg, paused=paused))
        self.emit_registry_updated(reg)

    def set_allow_debug(self, reg: RegistryObject, _: AdminCapObject, allow_debug: bool) -> None:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        reg = self.rt.update(dataclasses.replace(reg, allow_debug=allow_debug))
        self.emit_registry_updated(reg)

    def set_enclave_config(
        self, reg: RegistryObject, _: AdminCapObject, enclave_config_id: str
    ) -> None:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        reg = self.rt.update(dataclasses.replace(reg, enclave_config_id=enclave_config_id))
        self.emit_registry_updated(reg)

    def migrate(self, reg: RegistryObject, _: AdminCapObject) -> None:
        check(reg.version < VERSION, BuildsAbort.EWrongVersion)
        self.rt.update(dataclasses.replace(reg, version=VERSION))

    # --- helpers ---

    def spec_digest(self, spec: BuildSpec) -> bytes:
        return spec.digest()

    # --- private functions ---

    def assert_valid_spec(self, spec: BuildSpec) -> None:
        self.assert_text(spec.source_blob_id, MAX_BLOB_ID_LENGTH)
        check(len(spec.source_sha256) == DIGEST_LENGTH, BuildsAbort.EBadDigestLength)
        self.assert_text(spec.dockerfile_path, MAX_DOCKERFILE_PATH_LENGTH)
        self.assert_text(spec.platform, MAX_PLATFORM_LENGTH)

    def assert_text(self, text: str, max_length: int) -> None:
        check(text != "", BuildsAbort.EEmptyInput)
        check(utf8_length(text) <= max_length, BuildsAbort.EInputTooLong)

    def assert_can_post(
        self,
        reg: RegistryObject,
        req: BuildRequestObject,
        config: EnclaveConfigObject,
        enclave: EnclaveObject,
    ) -> None:
        check(reg.version == VERSION, BuildsAbort.EWrongVersion)
        check(req.status == STATUS_PENDING, BuildsAbort.ENotPending)
        config_id = config.id
        check(config_id == reg.enclave_config_id, BuildsAbort.EWrongEnclaveConfig)
        check(enclave.config_id == config_id, BuildsAbort.EWrongEnclaveConfig)
        check(enclave.config_version == config.version, BuildsAbort.EStaleEnclave)
        check(not enclave.debug or reg.allow_debug, BuildsAbort.EDebugNotAllowed)

    def assert_timestamp(self, req: BuildRequestObject, timestamp_ms: int, clock: Clock) -> None:
        check(
            req.created_at_ms <= timestamp_ms <= clock.timestamp_ms + MAX_CLOCK_SKEW_MS,
            BuildsAbort.EBadTimestamp,
        )

    def pay(self, funds: int, recipient: str) -> None:
        # A zero balance is destroyed (balance::destroy_zero): no coin, no id taken.
        if funds == 0:
            return
        self.rt.pay_coin(funds, recipient)

    def emit_registry_updated(self, reg: RegistryObject) -> None:
        self.rt.emit(
            codecs.RegistryUpdated(
                registry_id=reg.id,
                payee=reg.payee,
                min_fee=reg.min_fee,
                build_timeout_ms=reg.build_timeout_ms,
                paused=reg.paused,
                enclave_config_id=reg.enclave_config_id,
                allow_debug=reg.allow_debug,
            )
        )


# === Callable functions and their Move signatures (without the trailing `&mut TxContext`) ===


@dataclasses.dataclass(frozen=True)
class EntryFunction:
    params: tuple[Param, ...]
    returns: str | None  # the Move return type ("ID"), None for none


def _sig(*params: str, returns: str | None = None) -> EntryFunction:
    """`_sig("reg: &Registry", ...)`: parameters spelled as in the Move source."""
    parsed = tuple(Param(*(part.strip() for part in p.split(":", 1))) for p in params)
    return EntryFunction(parsed, returns)


_ADMIN = ("reg: &mut Registry", "_: &AdminCap")

ENTRY_FUNCTIONS: dict[tuple[str, str], EntryFunction] = {
    (MODULE_BUILDS, "request_build"): _sig(
        "reg: &Registry",
        "source_blob_id: String",
        "source_sha256: vector<u8>",
        "dockerfile_path: String",
        "platform: String",
        "payment: Coin<SUI>",
        "clock: &Clock",
        returns="ID",
    ),
    (MODULE_BUILDS, "cancel"): _sig("req: &mut BuildRequest", "clock: &Clock"),
    (MODULE_BUILDS, "complete"): _sig(
        "reg: &Registry",
        "req: &mut BuildRequest",
        "config: &EnclaveConfig",
        "enclave: &Enclave",
        "image_digest: vector<u8>",
        "image_index_blob_id: String",
        "log_digest: vector<u8>",
        "log_blob_id: String",
        "timestamp_ms: u64",
        "signature: vector<u8>",
        "clock: &Clock",
    ),
    (MODULE_BUILDS, "fail"): _sig(
        "reg: &Registry",
        "req: &mut BuildRequest",
        "config: &EnclaveConfig",
        "enclave: &Enclave",
        "error_code: u16",
        "log_digest: vector<u8>",
        "log_blob_id: String",
        "timestamp_ms: u64",
        "signature: vector<u8>",
        "clock: &Clock",
    ),
    (MODULE_BUILDS, "register_debug_enclave"): _sig(
        "reg: &Registry",
        "_: &AdminCap",
        "config: &EnclaveConfig",
        "pk: vector<u8>",
        returns="ID",
    ),
    (MODULE_BUILDS, "update_pcrs"): _sig(
        "reg: &Registry",
        "_: &AdminCap",
        "config: &mut EnclaveConfig",
        "pcr0: vector<u8>",
        "pcr1: vector<u8>",
        "pcr2: vector<u8>",
    ),
    (MODULE_BUILDS, "set_payee"): _sig(*_ADMIN, "payee: address"),
    (MODULE_BUILDS, "set_min_fee"): _sig(*_ADMIN, "min_fee: u64"),
    (MODULE_BUILDS, "set_build_timeout_ms"): _sig(*_ADMIN, "build_timeout_ms: u64"),
    (MODULE_BUILDS, "set_paused"): _sig(*_ADMIN, "paused: bool"),
    (MODULE_BUILDS, "set_allow_debug"): _sig(*_ADMIN, "allow_debug: bool"),
    (MODULE_BUILDS, "set_enclave_config"): _sig(*_ADMIN, "enclave_config_id: ID"),
    (MODULE_BUILDS, "migrate"): _sig(*_ADMIN),
    (MODULE_ENCLAVE, "register_enclave"): _sig(
        "config: &EnclaveConfig",
        "document: NitroAttestationDocument",
        "attestation: vector<u8>",
        returns="ID",
    ),
    (MODULE_ENCLAVE, "destroy_stale"): _sig("enclave: Enclave", "config: &EnclaveConfig"),
    (MODULE_ENCLAVE, "assert_current"): _sig("enclave: &Enclave", "config: &EnclaveConfig"),
}


# === The model and its transactions ===


class DaasTransaction:
    """One programmable transaction's calls to our package; nothing reaches the model before `commit`."""

    def __init__(self, model: DaasModel, ctx: TxContext) -> None:
        self._model = model
        self._generation = model._generation
        self._rt = Runtime(model._objects, ctx)
        self.enclave = EnclaveModule(self._rt)
        self.builds = BuildsModule(self._rt, self.enclave)
        self._failed = False
        self._done = False

    def call(self, module: str, function: str, args: Sequence[MoveValue]) -> list[MoveValue]:
        self._check_open()
        ids_before = self._rt.ctx.ids_created
        try:
            signature = ENTRY_FUNCTIONS.get((module, function))
            if signature is None:
                raise FunctionNotFound(
                    f"{self._model.package_id}::{module}::{function} is not a public function "
                    "callable from a transaction"
                )
            decoded = decode_args(
                f"{module}::{function}",
                signature.params,
                args,
                read=self._rt.read,
                sender=self._rt.ctx.sender,
                now_ms=self._rt.ctx.timestamp_ms,
            )
            for object_id in decoded.mutable_ids:
                self._rt.mark_written(object_id)
            result = self._method(module, function)(*decoded.values)
        except BaseException:
            # On chain the whole transaction aborts; keep the context as it was and refuse to commit.
            self._failed = True
            self._rt.ctx.ids_created = ids_before
            raise
        if signature.returns == "ID":
            assert isinstance(result, str)
            return [IdValue(result)]
        return []

    def commit(self) -> Changes:
        self._check_open()
        if self._model._generation != self._generation:
            raise RuntimeError("another transaction committed since this one began")
        self._done = True
        changes = self._rt.changes(self._model.package_id)
        self._model._apply(self._rt.staged())
        return changes

    def _method(self, module: str, function: str) -> Callable[..., object]:
        target: BuildsModule | EnclaveModule = (
            self.builds if module == MODULE_BUILDS else self.enclave
        )
        method: Callable[..., object] = getattr(target, function)
        return method

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("transaction already committed")
        if self._failed:
            raise RuntimeError("transaction aborted: drop it, as a node does")


class DaasModel:
    """The `daas` package's objects and rules (`PackageModel`)."""

    def __init__(self, package_id: str) -> None:
        self.package_id = normalize_id(package_id)
        self._objects: dict[str, Entry] = {}
        self._generation = 0  # bumped by every commit; a transaction begun earlier may not commit

    # --- PackageModel ---

    def publish(self, ctx: TxContext) -> Changes:
        """Runs `builds::init` (which creates the enclave config) for the publisher `ctx.sender`."""
        if self._objects:
            raise RuntimeError("the package is already published")
        tx = DaasTransaction(self, ctx)
        tx.builds.init()
        return tx.commit()

    def begin(self, ctx: TxContext) -> DaasTransaction:
        return DaasTransaction(self, ctx)

    def get(self, object_id: str) -> StoredObject | None:
        entry = self._objects.get(normalize_id(object_id))
        return None if entry is None else entry.stored(self.package_id)

    def objects(self) -> list[StoredObject]:
        return [entry.stored(self.package_id) for entry in self._objects.values()]

    # --- conveniences for the node (genesis output, persistence) ---

    @property
    def registry_id(self) -> str | None:
        return self._find_id(RegistryObject)

    @property
    def enclave_config_id(self) -> str | None:
        """The config the registry names (the one `init` created, until `set_enclave_config`)."""
        registry_id = self.registry_id
        if registry_id is None:
            return None
        registry = self._objects[registry_id].value
        assert isinstance(registry, RegistryObject)
        return registry.enclave_config_id

    def load(self, stored: Iterable[StoredObject]) -> None:
        """Restores objects saved from `objects()` (e.g. a node's state file); replaces all state."""
        objects: dict[str, Entry] = {}
        prefix = f"{self.package_id}::"
        for item in stored:
            if not item.type_tag.startswith(prefix):
                raise ValueError(f"{item.type_tag} is not a type of package {self.package_id}")
            name = item.type_tag.rsplit("::", 1)[-1]
            if name not in OBJECT_TYPES:
                raise ValueError(f"unknown object type {item.type_tag}")
            value: PackageObject = OBJECT_TYPES[name][1].from_bcs(item.contents)
            objects[normalize_id(item.object_id)] = Entry(value, _owner(item.owner))
        self._objects = objects
        self._generation += 1

    def _apply(self, staged: Mapping[str, Entry | None]) -> None:
        """Writes a committed transaction's staged objects (called by `DaasTransaction.commit`)."""
        for object_id, entry in staged.items():
            if entry is None:
                self._objects.pop(object_id, None)
            else:
                self._objects[object_id] = entry
        self._generation += 1

    # --- test-only, as `builds::set_version_for_testing` ---

    def set_version_for_testing(self, version: int) -> None:
        """Simulates a registry left behind by an older (or newer) package version."""
        registry_id = self.registry_id
        if registry_id is None:
            raise RuntimeError("not published")
        entry = self._objects[registry_id]
        assert isinstance(entry.value, RegistryObject)
        self._objects[registry_id] = Entry(
            dataclasses.replace(entry.value, version=version), entry.owner
        )
        self._generation += 1

    def _find_id(self, cls: type[Struct]) -> str | None:
        return next((e.object_id for e in self._objects.values() if isinstance(e.value, cls)), None)


def _owner(owner: Owner) -> Owner:
    return AddressOwner(normalize_id(owner.address)) if isinstance(owner, AddressOwner) else owner
