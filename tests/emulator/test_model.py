"""The Python model of the `daas` Move package: every rule of `move/sources/`, with the Move abort codes.

Tests drive `DaasModel` as the node does: one `begin`/`call`.../`commit` per transaction, arguments as
`MoveValue`s (pure arguments as BCS bytes), the clock and the transaction digest in a `TxContext`. Every
committed transaction is checked by `Chain.check_committed`: the coin invariant (escrow held plus coins paid out
equals coins paid in), and every created or mutated object and every event decoding with the codecs. Every
refused call is checked to leave the model untouched. Transaction digests are numbered as in
`sui::test_scenario` (`bcs(n as u64)` padded to 32 bytes), so object ids equal the Move tests' ids.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from daas.chain import bcs
from daas.chain import codecs as c
from emulator.sui.model import (
    CONFIG_NAME,
    DEFAULT_BUILD_TIMEOUT_MS,
    DEFAULT_MIN_FEE,
    MAX_CLOCK_SKEW_MS,
    STATUS_CANCELLED,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_SUCCEEDED,
    VERSION,
    ZERO_PCR,
    BuildsAbort,
    DaasModel,
    EnclaveAbort,
)
from emulator.sui.model_objects import AdminCapObject, CoinPayout, derive_id
from emulator.sui.types import (
    CLOCK_ID,
    AddressOwner,
    Changes,
    CoinValue,
    CommandArgumentError,
    EmittedEvent,
    FunctionNotFound,
    IdValue,
    MoveAbort,
    MoveValue,
    NitroDocument,
    ObjectArg,
    PureArg,
    Shared,
    TxContext,
)


def addr(short: int) -> str:
    return "0x" + format(short, "064x")


ADMIN = addr(0xAD)
USER = addr(0xB0B)
PAYEE = addr(0xFEE)
RELAYER = addr(0xBEEF)
STRANGER = addr(0xCAFE)
OPERATOR = addr(0xE0)
PACKAGE = addr(0xDAA5)

FEE = 25_000_000
T_CREATE = 1_766_999_000_000
DEADLINE = T_CREATE + DEFAULT_BUILD_TIMEOUT_MS
T_RESULT = 1_767_000_000_000
SOURCE_SHA256 = bytes(range(32))
SPEC = c.BuildSpec("blob-abc", SOURCE_SHA256, "Dockerfile", "linux/amd64")
IMAGE_DIGEST = hashlib.sha256(b"manifest").digest()
LOG_DIGEST = hashlib.sha256(b"log").digest()
PCR0 = hashlib.sha384(b"pcr0").digest()
PCR1 = PCR0
PCR2 = hashlib.sha384(b"pcr2").digest()
ATTESTATION = bytes.fromhex("8444a1013822a0")
ATTESTATION_TS = 1_744_684_007_462

# RFC 8032 section 7.1 test 1 (the debug enclave) and test 2 (an attested enclave's key).
RFC1 = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
)
RFC2 = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
)
FORGER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def raw_pk(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


RFC_PK = raw_pk(RFC1)
OPERATOR_PK = raw_pk(RFC2)
assert RFC_PK.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

# --- arguments as a transaction carries them ---------------------------------------------------------------


def pure(codec: bcs.Codec[Any], value: object) -> PureArg:
    out = bytearray()
    codec.encode(value, out)
    return PureArg(bytes(out))


def u64(value: int) -> PureArg:
    return pure(bcs.U64, value)


def u16(value: int) -> PureArg:
    return pure(bcs.U16, value)


def string(value: str) -> PureArg:
    return pure(bcs.String, value)


def vec(value: bytes) -> PureArg:
    return pure(bcs.Bytes, value)


def address(value: str) -> PureArg:
    return pure(bcs.Address, value)


def boolean(value: bool) -> PureArg:
    return pure(bcs.Bool, value)


def obj(object_id: str, mutable: bool = False) -> ObjectArg:
    return ObjectArg(object_id, mutable)


def mut(object_id: str) -> ObjectArg:
    return ObjectArg(object_id, True)


CLOCK = ObjectArg(CLOCK_ID, False)

Call = tuple[str, str, Sequence[MoveValue]]


def tx_digest(n: int) -> bytes:
    """`tx_context::dummy_tx_hash_with_hint(n)`, as `sui::test_scenario` numbers transactions."""
    return struct.pack("<Q", n) + bytes(24)


def sign_succeeded(
    key: Ed25519PrivateKey,
    request_id: str,
    spec_digest: bytes,
    timestamp_ms: int,
    image_digest: bytes = IMAGE_DIGEST,
    image_index_blob_id: str = "index-blob",
    log_digest: bytes = LOG_DIGEST,
    log_blob_id: str = "log-blob",
) -> bytes:
    payload = c.BuildSucceededPayload(
        request_id, spec_digest, image_digest, image_index_blob_id, log_digest, log_blob_id
    )
    return key.sign(c.signing_message(payload, timestamp_ms))


def sign_failed(
    key: Ed25519PrivateKey,
    request_id: str,
    spec_digest: bytes,
    timestamp_ms: int,
    error_code: int,
    log_digest: bytes = LOG_DIGEST,
    log_blob_id: str = "log-blob",
) -> bytes:
    payload = c.BuildFailedPayload(request_id, spec_digest, error_code, log_digest, log_blob_id)
    return key.sign(c.signing_message(payload, timestamp_ms))


# --- a node-like driver --------------------------------------------------------------------------------------


class Chain:
    """Runs transactions against one model and checks what every committed transaction reports."""

    def __init__(self) -> None:
        self.model = DaasModel(PACKAGE)
        self.now = T_CREATE
        self.tx_count = 0
        self.paid_in = 0
        self.paid_out = 0
        self.publish_changes = self.model.publish(self.ctx(ADMIN))
        self.check_committed(self.publish_changes, [])
        assert self.model.registry_id is not None and self.model.enclave_config_id is not None
        self.registry_id = self.model.registry_id
        self.config_id = self.model.enclave_config_id
        [self.cap_id] = [
            s.object_id for s in self.publish_changes.created if s.type_tag.endswith("::AdminCap")
        ]
        self.enclave_id = ""

    @classmethod
    def setup(cls) -> Chain:
        """As `builds_tests::setup`: payee := PAYEE, allow_debug := true, RFC 8032 key as debug enclave."""
        chain = cls()
        _, results = chain.run(
            ADMIN,
            ("builds", "set_payee", [mut(chain.registry_id), obj(chain.cap_id), address(PAYEE)]),
            (
                "builds",
                "set_allow_debug",
                [mut(chain.registry_id), obj(chain.cap_id), boolean(True)],
            ),
            chain.register_debug_call(RFC_PK),
        )
        enclave = results[2][0]
        assert isinstance(enclave, IdValue)
        chain.enclave_id = enclave.object_id
        return chain

    def ctx(self, sender: str, ids_created: int = 0) -> TxContext:
        ctx = TxContext(sender, tx_digest(self.tx_count), self.now, 0, ids_created)
        self.tx_count += 1
        return ctx

    def run(
        self, sender: str, *calls: Call, ids_created: int = 0
    ) -> tuple[Changes, list[list[MoveValue]]]:
        tx = self.model.begin(self.ctx(sender, ids_created))
        results = [tx.call(module, function, args) for module, function, args in calls]
        changes = tx.commit()
        self.check_committed(changes, calls)
        return changes, results

    def refused(
        self, error: type[Exception], sender: str, *calls: Call
    ) -> pytest.ExceptionInfo[Any]:
        """Runs the calls in one transaction, expects `error`, and checks nothing changed."""
        before = self.model.objects()
        tx = self.model.begin(self.ctx(sender))
        with pytest.raises(error) as info:
            for module, function, args in calls:
                tx.call(module, function, args)
        with pytest.raises(RuntimeError):
            tx.commit()
        assert self.model.objects() == before
        return info

    def aborts(
        self,
        code: BuildsAbort | EnclaveAbort,
        sender: str,
        *calls: Call,
        function: str | None = None,
    ) -> MoveAbort:
        info = self.refused(MoveAbort, sender, *calls)
        abort: MoveAbort = info.value
        assert (abort.module, abort.code) == (code.module, int(code)), abort
        if function is not None:
            assert abort.function == function
        return abort

    def check_committed(self, changes: Changes, calls: Sequence[Call]) -> None:
        """The coin invariant, and every reported object and event decoding with the codecs."""
        for _, _, args in calls:
            self.paid_in += sum(a.amount for a in args if isinstance(a, CoinValue))
        self.paid_out += sum(p.amount for p in changes.payouts)
        escrow = sum(
            c.BuildRequestObject.from_bcs(s.contents).fee_balance
            for s in self.model.objects()
            if s.type_tag.endswith("::builds::BuildRequest")
        )
        assert escrow + self.paid_out == self.paid_in, "coins minted or lost"
        for stored in changes.created + changes.mutated:
            assert self.model.get(stored.object_id) == stored
            value = decode_object(stored.type_tag, stored.contents)
            assert value.to_bcs() == stored.contents
            assert getattr(value, "id") == stored.object_id  # noqa: B009 - every object has an id
        for object_id in changes.deleted:
            assert self.model.get(object_id) is None
        for event in changes.events:
            assert c.decode_event(event.module, type(event.event).__name__, event.event.to_bcs())

    # --- readers ---

    def registry(self) -> c.RegistryObject:
        return c.RegistryObject.from_bcs(self.contents(self.registry_id))

    def request(self, request_id: str) -> c.BuildRequestObject:
        return c.BuildRequestObject.from_bcs(self.contents(request_id))

    def config(self, config_id: str | None = None) -> c.EnclaveConfigObject:
        return c.EnclaveConfigObject.from_bcs(self.contents(config_id or self.config_id))

    def enclave(self, enclave_id: str) -> c.EnclaveObject:
        return c.EnclaveObject.from_bcs(self.contents(enclave_id))

    def contents(self, object_id: str) -> bytes:
        stored = self.model.get(object_id)
        assert stored is not None, object_id
        return stored.contents

    # --- calls ---

    def admin_call(self, function: str, *args: MoveValue) -> Call:
        return ("builds", function, [mut(self.registry_id), obj(self.cap_id), *args])

    def register_debug_call(self, pk: bytes, config_id: str | None = None) -> Call:
        return (
            "builds",
            "register_debug_enclave",
            [obj(self.registry_id), obj(self.cap_id), obj(config_id or self.config_id), vec(pk)],
        )

    def update_pcrs_call(
        self, pcr0: bytes = PCR0, pcr1: bytes = PCR1, pcr2: bytes = PCR2, *, config_id: str = ""
    ) -> Call:
        return (
            "builds",
            "update_pcrs",
            [
                obj(self.registry_id),
                obj(self.cap_id),
                mut(config_id or self.config_id),
                vec(pcr0),
                vec(pcr1),
                vec(pcr2),
            ],
        )

    def admin(self, function: str, *args: MoveValue) -> Changes:
        return self.run(ADMIN, self.admin_call(function, *args))[0]

    def request_call(
        self,
        fee: int = FEE,
        blob: str = SPEC.source_blob_id,
        sha: bytes = SPEC.source_sha256,
        path: str = SPEC.dockerfile_path,
        platform: str = SPEC.platform,
    ) -> Call:
        return (
            "builds",
            "request_build",
            [
                obj(self.registry_id),
                string(blob),
                vec(sha),
                string(path),
                string(platform),
                CoinValue(fee),
                CLOCK,
            ],
        )

    def request_build(self, sender: str = USER, **kwargs: Any) -> str:
        _, results = self.run(sender, self.request_call(**kwargs))
        request_id = results[0][0]
        assert isinstance(request_id, IdValue)
        return request_id.object_id

    def complete_call(
        self,
        request_id: str,
        *,
        image_digest: bytes = IMAGE_DIGEST,
        index: str = "index-blob",
        log_digest: bytes = LOG_DIGEST,
        log_blob: str = "log-blob",
        ts: int = T_RESULT,
        signature: bytes | None = None,
        key: Ed25519PrivateKey = RFC1,
        config_id: str | None = None,
        enclave_id: str | None = None,
    ) -> Call:
        if signature is None:
            spec_digest = self.request(request_id).spec_digest
            signature = sign_succeeded(
                key, request_id, spec_digest, ts, image_digest, index, log_digest, log_blob
            )
        return (
            "builds",
            "complete",
            [
                obj(self.registry_id),
                mut(request_id),
                obj(config_id or self.config_id),
                obj(enclave_id or self.enclave_id),
                vec(image_digest),
                string(index),
                vec(log_digest),
                string(log_blob),
                u64(ts),
                vec(signature),
                CLOCK,
            ],
        )

    def fail_call(
        self,
        request_id: str,
        error_code: int = 110,
        *,
        log_digest: bytes = LOG_DIGEST,
        log_blob: str = "log-blob",
        ts: int = T_RESULT,
        signature: bytes | None = None,
        key: Ed25519PrivateKey = RFC1,
        config_id: str | None = None,
        enclave_id: str | None = None,
    ) -> Call:
        if signature is None:
            spec_digest = self.request(request_id).spec_digest
            signature = sign_failed(
                key, request_id, spec_digest, ts, error_code, log_digest, log_blob
            )
        return (
            "builds",
            "fail",
            [
                obj(self.registry_id),
                mut(request_id),
                obj(config_id or self.config_id),
                obj(enclave_id or self.enclave_id),
                u16(error_code),
                vec(log_digest),
                string(log_blob),
                u64(ts),
                vec(signature),
                CLOCK,
            ],
        )

    def post_call(self, kind: str, request_id: str, **kwargs: Any) -> Call:
        if kind == "complete":
            return self.complete_call(request_id, **kwargs)
        return self.fail_call(request_id, **kwargs)

    def cancel_call(self, request_id: str) -> Call:
        return ("builds", "cancel", [mut(request_id), CLOCK])

    def other_config_with_enclave(self) -> tuple[str, str]:
        """As `builds_tests::enclave_of_other_config`: a second config and a debug enclave under it,
        made through the package functions (`public(package)` in Move, so only the tests reach them)."""
        tx = self.model.begin(self.ctx(ADMIN))
        other_config_id = tx.enclave.create_config()
        self.check_committed(tx.commit(), [])
        tx = self.model.begin(self.ctx(ADMIN))
        other_enclave_id = tx.enclave.new_debug_enclave(self.config(other_config_id), RFC_PK)
        self.check_committed(tx.commit(), [])
        return other_config_id, other_enclave_id

    def register_attested_call(
        self,
        pcrs: dict[int, bytes] | None = None,
        public_key: bytes | None = OPERATOR_PK,
        config_id: str | None = None,
    ) -> Call:
        document = NitroDocument(
            module_id="i-0123-enc0123",
            timestamp_ms=ATTESTATION_TS,
            digest="SHA384",
            pcrs={0: PCR0, 1: PCR1, 2: PCR2} if pcrs is None else pcrs,
            public_key=public_key,
            user_data=None,
            nonce=None,
        )
        return (
            "enclave",
            "register_enclave",
            [obj(config_id or self.config_id), document, vec(ATTESTATION)],
        )


OBJECT_CLASSES: dict[str, type[bcs.Struct]] = {
    "builds::Registry": c.RegistryObject,
    "builds::AdminCap": AdminCapObject,
    "builds::BuildRequest": c.BuildRequestObject,
    "enclave::EnclaveConfig": c.EnclaveConfigObject,
    "enclave::Enclave": c.EnclaveObject,
}


def decode_object(type_tag: str, contents: bytes) -> bcs.Struct:
    package, rest = type_tag.split("::", 1)
    assert package == PACKAGE
    return OBJECT_CLASSES[rest].from_bcs(contents)


def kw(name: str, value: object) -> dict[str, Any]:
    """One keyword argument chosen by a test parameter."""
    return {name: value}


def events(changes: Changes) -> list[bcs.Struct]:
    return [e.event for e in changes.events]


@pytest.fixture
def fresh() -> Chain:
    """Just published: payee = ADMIN, no debug enclaves, all-zero PCRs."""
    return Chain()


@pytest.fixture
def chain() -> Chain:
    """As the Move tests' `setup`: payee = PAYEE, allow_debug, the RFC 8032 key as a debug enclave."""
    return Chain.setup()


@pytest.fixture
def pending(chain: Chain) -> str:
    """A pending request made at T_CREATE, with the clock then moved to T_RESULT."""
    request_id = chain.request_build()
    chain.now = T_RESULT
    return request_id


def registry_updated(reg: c.RegistryObject) -> c.RegistryUpdated:
    return c.RegistryUpdated(
        reg.id,
        reg.payee,
        reg.min_fee,
        reg.build_timeout_ms,
        reg.paused,
        reg.enclave_config_id,
        reg.allow_debug,
    )


# === publish (builds::init) ===================================================================================


def test_publish_shares_the_config_and_registry_and_sends_the_cap(fresh: Chain) -> None:
    changes = fresh.publish_changes
    config_id, registry_id, cap_id = (derive_id(tx_digest(0), k) for k in range(3))
    assert [s.object_id for s in changes.created] == [config_id, registry_id, cap_id]
    assert [s.type_tag for s in changes.created] == [
        f"{PACKAGE}::enclave::EnclaveConfig",
        f"{PACKAGE}::builds::Registry",
        f"{PACKAGE}::builds::AdminCap",
    ]
    assert [s.owner for s in changes.created] == [Shared(), Shared(), AddressOwner(ADMIN)]
    assert changes.mutated == [] and changes.deleted == [] and changes.payouts == []
    registry = c.RegistryObject(
        registry_id,
        VERSION,
        ADMIN,
        DEFAULT_MIN_FEE,
        DEFAULT_BUILD_TIMEOUT_MS,
        False,
        config_id,
        False,
    )
    assert fresh.registry() == registry
    assert registry.min_fee == 10_000_000 and registry.build_timeout_ms == 3_600_000
    assert fresh.config() == c.EnclaveConfigObject(
        config_id, CONFIG_NAME, ZERO_PCR, ZERO_PCR, ZERO_PCR, 0
    )
    assert CONFIG_NAME == "daas-runner" and bytes(48) == ZERO_PCR
    assert fresh.contents(cap_id) == bytes.fromhex(cap_id[2:])  # the UID alone
    assert changes.events == [EmittedEvent("builds", registry_updated(registry))]


def test_publish_uses_the_context_counter_and_runs_once() -> None:
    model = DaasModel(PACKAGE)
    ctx = TxContext(ADMIN, bytes(range(32)), T_CREATE, 0, ids_created=1)  # id 0: the package
    changes = model.publish(ctx)
    assert [s.object_id for s in changes.created] == [
        derive_id(bytes(range(32)), k) for k in (1, 2, 3)
    ]
    assert ctx.ids_created == 4
    with pytest.raises(RuntimeError):
        model.publish(TxContext(ADMIN, bytes(32), T_CREATE))


# === request_build ============================================================================================


def test_request_build_escrows_the_whole_payment(chain: Chain) -> None:
    changes, results = chain.run(USER, chain.request_call(fee=FEE))
    request_id = derive_id(tx_digest(2), 0)
    assert results == [[IdValue(request_id)]]
    expected = c.BuildRequestObject(
        request_id,
        USER,
        SPEC,
        SPEC.digest(),
        FEE,
        FEE,
        STATUS_PENDING,
        T_CREATE,
        DEADLINE,
        None,
    )
    assert chain.request(request_id) == expected
    assert [(s.object_id, s.owner) for s in changes.created] == [(request_id, Shared())]
    assert changes.mutated == [] and changes.payouts == []
    assert events(changes) == [
        c.BuildRequested(
            request_id,
            USER,
            "blob-abc",
            SOURCE_SHA256,
            "Dockerfile",
            "linux/amd64",
            SPEC.digest(),
            FEE,
            T_CREATE,
            DEADLINE,
        )
    ]
    assert changes.events[0].module == "builds"


def test_request_build_accepts_exactly_the_minimum_fee_and_rejects_one_less(chain: Chain) -> None:
    chain.aborts(BuildsAbort.EFeeTooLow, USER, chain.request_call(fee=DEFAULT_MIN_FEE - 1))
    request_id = chain.request_build(fee=DEFAULT_MIN_FEE)
    assert chain.request(request_id).fee_balance == DEFAULT_MIN_FEE


def test_request_build_rejects_while_paused(chain: Chain) -> None:
    chain.admin("set_paused", boolean(True))
    abort = chain.aborts(BuildsAbort.EPaused, USER, chain.request_call())
    assert abort.function == "request_build"
    chain.admin("set_paused", boolean(False))
    chain.request_build()


@pytest.mark.parametrize("version", [0, VERSION + 1])
def test_request_build_rejects_a_registry_of_another_version(chain: Chain, version: int) -> None:
    chain.model.set_version_for_testing(version)
    chain.aborts(BuildsAbort.EWrongVersion, USER, chain.request_call())


def test_request_build_checks_version_then_paused_then_fee_then_the_spec(chain: Chain) -> None:
    chain.admin("set_paused", boolean(True))
    chain.model.set_version_for_testing(0)
    chain.aborts(BuildsAbort.EWrongVersion, USER, chain.request_call(fee=0, blob=""))
    chain.model.set_version_for_testing(VERSION)
    chain.aborts(BuildsAbort.EPaused, USER, chain.request_call(fee=0, blob=""))
    chain.admin("set_paused", boolean(False))
    chain.aborts(BuildsAbort.EFeeTooLow, USER, chain.request_call(fee=0, blob=""))
    # The spec field by field: blob id, sha256, path, platform.
    chain.aborts(BuildsAbort.EEmptyInput, USER, chain.request_call(blob="", sha=b""))
    chain.aborts(BuildsAbort.EBadDigestLength, USER, chain.request_call(sha=b"", path=""))
    chain.aborts(BuildsAbort.EEmptyInput, USER, chain.request_call(path="", platform="x" * 33))


@pytest.mark.parametrize(("field", "limit"), [("blob", 128), ("path", 256), ("platform", 32)])
def test_request_build_length_limits_and_exact_boundaries(
    chain: Chain, field: str, limit: int
) -> None:
    abort = chain.aborts(
        BuildsAbort.EInputTooLong, USER, chain.request_call(**kw(field, "a" * (limit + 1)))
    )
    assert abort.function == "assert_text"
    request_id = chain.request_build(**kw(field, "a" * limit))
    spec = chain.request(request_id).spec
    assert limit in (
        len(spec.source_blob_id),
        len(spec.dockerfile_path),
        len(spec.platform),
    )


def test_request_build_counts_bytes_not_characters(chain: Chain) -> None:
    chain.aborts(BuildsAbort.EInputTooLong, USER, chain.request_call(platform="é" * 17))  # 34 bytes
    request_id = chain.request_build(platform="é" * 16)  # 32 bytes
    assert chain.request(request_id).spec.platform == "é" * 16


@pytest.mark.parametrize("field", ["blob", "path", "platform"])
def test_request_build_rejects_empty_inputs(chain: Chain, field: str) -> None:
    abort = chain.aborts(BuildsAbort.EEmptyInput, USER, chain.request_call(**kw(field, "")))
    assert abort.function == "assert_text"


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_request_build_rejects_a_source_sha256_that_is_not_32_bytes(
    chain: Chain, length: int
) -> None:
    abort = chain.aborts(BuildsAbort.EBadDigestLength, USER, chain.request_call(sha=bytes(length)))
    assert abort.function == "assert_valid_spec"


def test_request_build_deadline_follows_the_timeout_at_request_time(chain: Chain) -> None:
    first = chain.request_build()
    chain.admin("set_build_timeout_ms", u64(60_000))
    chain.now = T_CREATE + 5
    second = chain.request_build()
    assert chain.request(first).deadline_ms == T_CREATE + DEFAULT_BUILD_TIMEOUT_MS
    assert chain.request(second).created_at_ms == T_CREATE + 5
    assert chain.request(second).deadline_ms == T_CREATE + 5 + 60_000


# === cancel ===================================================================================================


def test_cancel_at_the_deadline_is_rejected_and_just_after_refunds(chain: Chain) -> None:
    request_id = chain.request_build()
    chain.now = DEADLINE
    abort = chain.aborts(BuildsAbort.ETooEarlyToCancel, USER, chain.cancel_call(request_id))
    assert abort.function == "cancel"
    chain.now = DEADLINE + 1
    changes = chain.run(USER, chain.cancel_call(request_id))[0]
    coin_id = derive_id(tx_digest(chain.tx_count - 1), 0)
    assert changes.payouts == [CoinPayout(USER, FEE, coin_id)]
    assert events(changes) == [c.BuildCancelled(request_id, USER, FEE, DEADLINE + 1)]
    assert [s.object_id for s in changes.mutated] == [request_id]
    request = chain.request(request_id)
    assert (request.status, request.fee_balance, request.fee_amount) == (STATUS_CANCELLED, 0, FEE)
    assert request.result is None


def test_cancel_by_someone_else_is_rejected_before_the_deadline_check(chain: Chain) -> None:
    request_id = chain.request_build()
    chain.now = DEADLINE  # too early as well: the requester check comes first
    chain.aborts(BuildsAbort.ENotRequester, STRANGER, chain.cancel_call(request_id))
    chain.now = DEADLINE + 1
    chain.aborts(BuildsAbort.ENotRequester, PAYEE, chain.cancel_call(request_id))


def test_cancel_of_a_free_request_sends_no_coin(chain: Chain) -> None:
    chain.admin("set_min_fee", u64(0))
    request_id = chain.request_build(fee=0)
    chain.now = DEADLINE + 1
    tx = chain.model.begin(ctx := chain.ctx(USER))
    tx.call(*chain.cancel_call(request_id))
    changes = tx.commit()
    assert changes.payouts == [] and ctx.ids_created == 0  # balance::destroy_zero takes no id
    assert events(changes) == [c.BuildCancelled(request_id, USER, 0, DEADLINE + 1)]


def test_cancel_needs_no_current_registry(chain: Chain) -> None:
    request_id = chain.request_build()
    chain.model.set_version_for_testing(0)
    chain.now = DEADLINE + 1
    chain.run(USER, chain.cancel_call(request_id))
    assert chain.request(request_id).status == STATUS_CANCELLED


@pytest.mark.parametrize("settle", ["cancel", "complete", "fail"])
@pytest.mark.parametrize("then", ["cancel", "complete", "fail"])
def test_a_settled_request_is_not_pending(chain: Chain, settle: str, then: str) -> None:
    request_id = chain.request_build()
    chain.now = DEADLINE + 1  # late enough to cancel, and results may still be posted
    first = (
        chain.cancel_call(request_id) if settle == "cancel" else chain.post_call(settle, request_id)
    )
    chain.run(USER, first)
    second = (
        chain.cancel_call(request_id) if then == "cancel" else chain.post_call(then, request_id)
    )
    abort = chain.aborts(BuildsAbort.ENotPending, USER, second)
    assert abort.function == ("cancel" if then == "cancel" else "assert_can_post")


# === complete and fail ========================================================================================


def test_complete_pays_the_payee_and_stores_the_result(chain: Chain, pending: str) -> None:
    call = chain.complete_call(pending)
    changes = chain.run(RELAYER, call)[0]
    signature = sign_succeeded(RFC1, pending, SPEC.digest(), T_RESULT)
    coin_id = derive_id(tx_digest(chain.tx_count - 1), 0)
    assert changes.payouts == [CoinPayout(PAYEE, FEE, coin_id)]
    result = c.BuildResult(
        chain.enclave_id,
        True,
        IMAGE_DIGEST,
        "index-blob",
        LOG_DIGEST,
        "log-blob",
        0,
        T_RESULT,
        signature,
    )
    assert chain.request(pending) == c.BuildRequestObject(
        pending, USER, SPEC, SPEC.digest(), 0, FEE, STATUS_SUCCEEDED, T_CREATE, DEADLINE, result
    )
    assert events(changes) == [
        c.BuildSucceeded(
            pending,
            USER,
            chain.enclave_id,
            RFC_PK,
            0,
            SPEC.digest(),
            IMAGE_DIGEST,
            "index-blob",
            LOG_DIGEST,
            "log-blob",
            T_RESULT,
            signature,
            FEE,
            PAYEE,
        )
    ]
    assert [s.object_id for s in changes.mutated] == [pending]  # reg, config, enclave taken by &


@pytest.mark.parametrize(
    ("code", "payee_gets"),
    [(100, True), (110, True), (199, True), (200, False), (201, False), (299, False)],
)
def test_fail_sends_the_fee_by_error_code_class(
    chain: Chain, pending: str, code: int, payee_gets: bool
) -> None:
    changes = chain.run(RELAYER, chain.fail_call(pending, code))[0]
    recipient = PAYEE if payee_gets else USER
    coin_id = derive_id(tx_digest(chain.tx_count - 1), 0)
    assert changes.payouts == [CoinPayout(recipient, FEE, coin_id)]
    signature = sign_failed(RFC1, pending, SPEC.digest(), T_RESULT, code)
    fee_paid, refunded = (FEE, 0) if payee_gets else (0, FEE)
    assert events(changes) == [
        c.BuildFailed(
            pending,
            USER,
            chain.enclave_id,
            RFC_PK,
            0,
            SPEC.digest(),
            code,
            LOG_DIGEST,
            "log-blob",
            T_RESULT,
            signature,
            fee_paid,
            refunded,
        )
    ]
    request = chain.request(pending)
    assert (request.status, request.fee_balance) == (STATUS_FAILED, 0)
    assert request.result == c.BuildResult(
        chain.enclave_id, False, b"", "", LOG_DIGEST, "log-blob", code, T_RESULT, signature
    )


@pytest.mark.parametrize("code", [0, 99, 300, 65535])
def test_fail_rejects_error_codes_outside_100_to_299(chain: Chain, pending: str, code: int) -> None:
    abort = chain.aborts(BuildsAbort.EBadErrorCode, RELAYER, chain.fail_call(pending, code))
    assert abort.function == "fail"


def test_fail_checks_the_timestamp_before_the_error_code_and_the_code_before_the_signature(
    chain: Chain, pending: str
) -> None:
    late = T_RESULT + MAX_CLOCK_SKEW_MS + 1
    chain.aborts(BuildsAbort.EBadTimestamp, RELAYER, chain.fail_call(pending, 99, ts=late))
    chain.aborts(
        BuildsAbort.EBadErrorCode, RELAYER, chain.fail_call(pending, 99, signature=bytes(64))
    )


KINDS = ["complete", "fail"]


@pytest.mark.parametrize("kind", KINDS)
def test_results_are_accepted_while_paused(chain: Chain, pending: str, kind: str) -> None:
    chain.admin("set_paused", boolean(True))
    chain.run(RELAYER, chain.post_call(kind, pending))
    assert chain.request(pending).status != STATUS_PENDING


@pytest.mark.parametrize("kind", KINDS)
def test_results_need_a_current_registry(chain: Chain, pending: str, kind: str) -> None:
    chain.model.set_version_for_testing(0)
    abort = chain.aborts(BuildsAbort.EWrongVersion, RELAYER, chain.post_call(kind, pending))
    assert abort.function == "assert_can_post"


@pytest.mark.parametrize("kind", KINDS)
def test_results_reject_a_config_that_is_not_the_registrys(
    chain: Chain, pending: str, kind: str
) -> None:
    other_config, other_enclave = chain.other_config_with_enclave()
    call = chain.post_call(kind, pending, config_id=other_config, enclave_id=other_enclave)
    chain.aborts(BuildsAbort.EWrongEnclaveConfig, RELAYER, call, function="assert_can_post")


@pytest.mark.parametrize("kind", KINDS)
def test_results_reject_an_enclave_of_another_config(chain: Chain, pending: str, kind: str) -> None:
    _, other_enclave = chain.other_config_with_enclave()
    call = chain.post_call(kind, pending, enclave_id=other_enclave)
    chain.aborts(BuildsAbort.EWrongEnclaveConfig, RELAYER, call, function="assert_can_post")


@pytest.mark.parametrize("kind", KINDS)
def test_results_follow_the_registrys_config(chain: Chain, pending: str, kind: str) -> None:
    other_config, other_enclave = chain.other_config_with_enclave()
    chain.admin("set_enclave_config", pure(bcs.ID, other_config))
    chain.aborts(BuildsAbort.EWrongEnclaveConfig, RELAYER, chain.post_call(kind, pending))
    call = chain.post_call(kind, pending, config_id=other_config, enclave_id=other_enclave)
    chain.run(RELAYER, call)


@pytest.mark.parametrize("kind", KINDS)
def test_results_reject_a_stale_enclave_after_update_pcrs(
    chain: Chain, pending: str, kind: str
) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    abort = chain.aborts(BuildsAbort.EStaleEnclave, RELAYER, chain.post_call(kind, pending))
    assert abort.function == "assert_can_post"


@pytest.mark.parametrize("kind", KINDS)
def test_results_of_a_debug_enclave_need_allow_debug(chain: Chain, pending: str, kind: str) -> None:
    chain.admin("set_allow_debug", boolean(False))
    chain.aborts(BuildsAbort.EDebugNotAllowed, RELAYER, chain.post_call(kind, pending))
    chain.admin("set_allow_debug", boolean(True))
    chain.run(RELAYER, chain.post_call(kind, pending))


def test_an_attested_enclave_posts_without_allow_debug(chain: Chain, pending: str) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    _, results = chain.run(OPERATOR, chain.register_attested_call())
    attested = results[0][0]
    assert isinstance(attested, IdValue)
    chain.admin("set_allow_debug", boolean(False))
    call = chain.complete_call(pending, key=RFC2, enclave_id=attested.object_id)
    changes = chain.run(RELAYER, call)[0]
    event = events(changes)[0]
    assert isinstance(event, c.BuildSucceeded)
    assert (event.enclave_pk, event.config_version) == (OPERATOR_PK, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_digest": bytes(31)},
        {"image_digest": b""},
        {"log_digest": bytes(33)},
        {"image_digest": bytes(33), "index": "x" * 129},  # digests before blob ids
    ],
)
def test_complete_rejects_digests_that_are_not_32_bytes(
    chain: Chain, pending: str, kwargs: dict[str, Any]
) -> None:
    call = chain.complete_call(pending, **kwargs)
    chain.aborts(BuildsAbort.EBadDigestLength, RELAYER, call, function="complete")


@pytest.mark.parametrize("length", [0, 31, 33])
def test_fail_rejects_a_log_digest_that_is_not_32_bytes(
    chain: Chain, pending: str, length: int
) -> None:
    call = chain.fail_call(pending, log_digest=bytes(length))
    chain.aborts(BuildsAbort.EBadDigestLength, RELAYER, call, function="fail")


@pytest.mark.parametrize("field", ["index", "log_blob"])
def test_complete_blob_ids_up_to_128_bytes(chain: Chain, pending: str, field: str) -> None:
    long = chain.complete_call(pending, **kw(field, "b" * 129))
    chain.aborts(BuildsAbort.EInputTooLong, RELAYER, long, function="complete")
    chain.run(RELAYER, chain.complete_call(pending, **kw(field, "b" * 128)))
    result = chain.request(pending).result
    assert result is not None
    assert "b" * 128 in (result.image_index_blob_id, result.log_blob_id)


def test_fail_log_blob_id_up_to_128_bytes_and_may_be_empty(chain: Chain, pending: str) -> None:
    long = chain.fail_call(pending, 201, log_blob="b" * 129)
    chain.aborts(BuildsAbort.EInputTooLong, RELAYER, long, function="fail")
    chain.run(RELAYER, chain.fail_call(pending, 201, log_blob=""))
    other = chain.request_build()
    chain.run(RELAYER, chain.fail_call(other, 201, log_blob="b" * 128))


def test_complete_accepts_empty_blob_ids(chain: Chain, pending: str) -> None:
    # Move checks only the upper bound on result blob ids.
    chain.run(RELAYER, chain.complete_call(pending, index="", log_blob=""))
    assert chain.request(pending).status == STATUS_SUCCEEDED


@pytest.mark.parametrize("kind", KINDS)
def test_result_timestamp_window_and_its_boundaries(chain: Chain, kind: str) -> None:
    early = chain.request_build()
    chain.now = T_RESULT
    # Before the request: rejected; exactly at creation: accepted.
    before = chain.post_call(kind, early, ts=T_CREATE - 1)
    chain.aborts(BuildsAbort.EBadTimestamp, RELAYER, before, function="assert_timestamp")
    chain.run(RELAYER, chain.post_call(kind, early, ts=T_CREATE))
    # More than 60 s ahead of the clock: rejected; exactly 60 s ahead: accepted.
    late = chain.request_build()
    ahead = chain.post_call(kind, late, ts=T_RESULT + MAX_CLOCK_SKEW_MS + 1)
    chain.aborts(BuildsAbort.EBadTimestamp, RELAYER, ahead, function="assert_timestamp")
    chain.run(RELAYER, chain.post_call(kind, late, ts=T_RESULT + MAX_CLOCK_SKEW_MS))
    result = chain.request(late).result
    assert result is not None and result.timestamp_ms == T_RESULT + MAX_CLOCK_SKEW_MS


@pytest.mark.parametrize("kind", KINDS)
def test_a_forged_signature_is_rejected(chain: Chain, pending: str, kind: str) -> None:
    abort = chain.aborts(
        BuildsAbort.EInvalidSignature, RELAYER, chain.post_call(kind, pending, key=FORGER)
    )
    assert abort.function == kind


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("signature", [b"", bytes(63), bytes(64), bytes(65)])
def test_a_malformed_signature_is_rejected_not_a_crash(
    chain: Chain, pending: str, kind: str, signature: bytes
) -> None:
    call = chain.post_call(kind, pending, signature=signature)
    chain.aborts(BuildsAbort.EInvalidSignature, RELAYER, call)


def test_a_flipped_bit_in_the_signature_is_rejected(chain: Chain, pending: str) -> None:
    good = sign_succeeded(RFC1, pending, SPEC.digest(), T_RESULT)
    bad = bytes([good[0] ^ 1]) + good[1:]
    chain.aborts(
        BuildsAbort.EInvalidSignature, RELAYER, chain.complete_call(pending, signature=bad)
    )
    chain.run(RELAYER, chain.complete_call(pending, signature=good))


def test_a_tampered_result_is_rejected(chain: Chain, pending: str) -> None:
    signature = sign_succeeded(RFC1, pending, SPEC.digest(), T_RESULT)
    for kwargs in (
        {"image_digest": hashlib.sha256(b"other manifest").digest()},
        {"index": "other-index"},
        {"log_digest": hashlib.sha256(b"other log").digest()},
        {"log_blob": "other-log"},
        {"ts": T_RESULT - 1},
    ):
        call = chain.complete_call(pending, signature=signature, **kwargs)
        chain.aborts(BuildsAbort.EInvalidSignature, RELAYER, call)


@pytest.mark.parametrize("kind", KINDS)
def test_a_result_replayed_on_another_request_is_rejected(chain: Chain, kind: str) -> None:
    first = chain.request_build()
    second = chain.request_build()  # same spec, same digest: only the request id differs
    assert chain.request(first).spec_digest == chain.request(second).spec_digest
    chain.now = T_RESULT
    if kind == "complete":
        signature = sign_succeeded(RFC1, first, SPEC.digest(), T_RESULT)
    else:
        signature = sign_failed(RFC1, first, SPEC.digest(), T_RESULT, 110)
    call = chain.post_call(kind, first, signature=signature)
    chain.run(RELAYER, call)
    replay = chain.post_call(kind, second, signature=signature)
    chain.aborts(BuildsAbort.EInvalidSignature, RELAYER, replay)
    chain.aborts(BuildsAbort.ENotPending, RELAYER, call)  # and on the same request: settled


def test_a_result_for_another_spec_is_rejected(chain: Chain, pending: str) -> None:
    other_digest = c.BuildSpec("other", SOURCE_SHA256, "Dockerfile", "linux/amd64").digest()
    signature = sign_succeeded(RFC1, pending, other_digest, T_RESULT)
    chain.aborts(
        BuildsAbort.EInvalidSignature, RELAYER, chain.complete_call(pending, signature=signature)
    )


def test_a_success_signature_posted_as_a_failure_is_rejected(chain: Chain, pending: str) -> None:
    success = sign_succeeded(RFC1, pending, SPEC.digest(), T_RESULT)
    call = chain.fail_call(pending, 110, signature=success)
    chain.aborts(BuildsAbort.EInvalidSignature, RELAYER, call, function="fail")


def test_a_failure_signature_posted_as_a_success_is_rejected(chain: Chain, pending: str) -> None:
    failure = sign_failed(RFC1, pending, SPEC.digest(), T_RESULT, 110)
    call = chain.complete_call(pending, signature=failure)
    chain.aborts(BuildsAbort.EInvalidSignature, RELAYER, call, function="complete")


def test_the_intent_byte_separates_payload_types(chain: Chain, pending: str) -> None:
    succeeded = c.BuildSucceededPayload(
        pending, SPEC.digest(), IMAGE_DIGEST, "index-blob", LOG_DIGEST, "log-blob"
    )
    failed = c.BuildFailedPayload(pending, SPEC.digest(), 110, LOG_DIGEST, "log-blob")
    # The right payload under the other payload type's intent byte, in both directions.
    wrong_success = RFC1.sign(c.IntentMessage(2, T_RESULT, succeeded).to_bcs())
    wrong_failure = RFC1.sign(c.IntentMessage(1, T_RESULT, failed).to_bcs())
    chain.aborts(
        BuildsAbort.EInvalidSignature,
        RELAYER,
        chain.complete_call(pending, signature=wrong_success),
    )
    chain.aborts(
        BuildsAbort.EInvalidSignature, RELAYER, chain.fail_call(pending, signature=wrong_failure)
    )
    # A bare payload without the intent message around it (as a naive signer would sign).
    bare = RFC1.sign(succeeded.to_bcs())
    chain.aborts(
        BuildsAbort.EInvalidSignature, RELAYER, chain.complete_call(pending, signature=bare)
    )
    right = RFC1.sign(c.IntentMessage(1, T_RESULT, succeeded).to_bcs())
    chain.run(RELAYER, chain.complete_call(pending, signature=right))


@pytest.mark.parametrize("kind", KINDS)
def test_result_checks_run_in_move_order(chain: Chain, pending: str, kind: str) -> None:
    """Each step breaks one more rule than the next; the first broken rule in Move order wins."""
    chain.run(ADMIN, chain.update_pcrs_call())  # the debug enclave is now stale
    chain.admin("set_allow_debug", boolean(False))
    bad: dict[str, Any] = {"log_digest": bytes(1), "log_blob": "x" * 200, "ts": 0, "key": FORGER}
    chain.aborts(BuildsAbort.EStaleEnclave, RELAYER, chain.post_call(kind, pending, **bad))
    other_config, stale_free = chain.other_config_with_enclave()
    chain.admin("set_enclave_config", pure(bcs.ID, other_config))
    # Current enclave of the registry's config, but debug while allow_debug is off.
    call = chain.post_call(kind, pending, config_id=other_config, enclave_id=stale_free, **bad)
    chain.aborts(BuildsAbort.EDebugNotAllowed, RELAYER, call)
    chain.admin("set_allow_debug", boolean(True))
    rest = [
        (BuildsAbort.EBadDigestLength, bad),
        (BuildsAbort.EInputTooLong, {**bad, "log_digest": LOG_DIGEST}),
        (BuildsAbort.EBadTimestamp, {**bad, "log_digest": LOG_DIGEST, "log_blob": "l"}),
        (
            BuildsAbort.EInvalidSignature,
            {**bad, "log_digest": LOG_DIGEST, "log_blob": "l", "ts": T_RESULT},
        ),
    ]
    for code, kwargs in rest:
        call = chain.post_call(
            kind, pending, config_id=other_config, enclave_id=stale_free, **kwargs
        )
        chain.aborts(code, RELAYER, call)


def test_posting_checks_version_then_pending_then_config(chain: Chain, pending: str) -> None:
    chain.run(RELAYER, chain.complete_call(pending))
    other_config, other_enclave = chain.other_config_with_enclave()
    settled_elsewhere = chain.complete_call(
        pending, config_id=other_config, enclave_id=other_enclave
    )
    chain.aborts(BuildsAbort.ENotPending, RELAYER, settled_elsewhere)
    chain.model.set_version_for_testing(0)
    chain.aborts(BuildsAbort.EWrongVersion, RELAYER, settled_elsewhere)


# === register_debug_enclave and update_pcrs ===================================================================


def test_register_debug_enclave_needs_allow_debug(fresh: Chain) -> None:
    abort = fresh.aborts(BuildsAbort.EDebugNotAllowed, ADMIN, fresh.register_debug_call(RFC_PK))
    assert abort.function == "register_debug_enclave"


def test_register_debug_enclave_shares_a_debug_enclave(chain: Chain) -> None:
    enclave_id = derive_id(tx_digest(1), 0)
    assert chain.enclave_id == enclave_id
    assert chain.enclave(enclave_id) == c.EnclaveObject(
        enclave_id, chain.config_id, 0, RFC_PK, ADMIN, True, b"", 0
    )
    stored = chain.model.get(enclave_id)
    assert stored is not None and stored.owner == Shared()
    assert stored.type_tag == f"{PACKAGE}::enclave::Enclave"
    changes, _ = chain.run(ADMIN, chain.register_debug_call(OPERATOR_PK))
    assert changes.events == [
        EmittedEvent(
            "enclave",
            c.EnclaveRegistered(
                changes.created[0].object_id,
                chain.config_id,
                0,
                OPERATOR_PK,
                b"",
                b"",
                b"",
                0,
                ADMIN,
                True,
            ),
        )
    ]


@pytest.mark.parametrize("length", [0, 31, 33])
def test_register_debug_enclave_rejects_a_key_that_is_not_32_bytes(
    chain: Chain, length: int
) -> None:
    call = chain.register_debug_call(bytes(range(length)))
    abort = chain.aborts(EnclaveAbort.EBadPkLength, ADMIN, call)
    assert (abort.module, abort.function) == ("enclave", "new_debug_enclave")


def test_register_debug_enclave_needs_a_current_registry(chain: Chain) -> None:
    chain.model.set_version_for_testing(0)
    chain.aborts(BuildsAbort.EWrongVersion, ADMIN, chain.register_debug_call(RFC_PK))


def test_update_pcrs_sets_the_pcrs_and_bumps_the_version(chain: Chain) -> None:
    changes, _ = chain.run(ADMIN, chain.update_pcrs_call())
    assert chain.config() == c.EnclaveConfigObject(
        chain.config_id, "daas-runner", PCR0, PCR1, PCR2, 1
    )
    assert changes.events == [
        EmittedEvent("enclave", c.PcrsUpdated(chain.config_id, 1, PCR0, PCR1, PCR2))
    ]
    assert [s.object_id for s in changes.mutated] == [chain.config_id]
    chain.run(ADMIN, chain.update_pcrs_call(PCR2, PCR2, PCR0))
    assert chain.config().version == 2


@pytest.mark.parametrize("which", [0, 1, 2])
def test_update_pcrs_rejects_bad_pcrs(chain: Chain, which: int) -> None:
    pcrs = [PCR0, PCR1, PCR2]
    short = list(pcrs)
    short[which] = PCR0[:47]
    abort = chain.aborts(EnclaveAbort.EBadPcrLength, ADMIN, chain.update_pcrs_call(*short))
    assert abort.function == "assert_valid_pcrs"
    zero = list(pcrs)
    zero[which] = ZERO_PCR
    chain.aborts(EnclaveAbort.EDebugPcrs, ADMIN, chain.update_pcrs_call(*zero))
    both = list(zero)
    both[(which + 1) % 3] = bytes(49)
    chain.aborts(EnclaveAbort.EBadPcrLength, ADMIN, chain.update_pcrs_call(*both))


def test_update_pcrs_needs_a_current_registry(chain: Chain) -> None:
    chain.model.set_version_for_testing(0)
    chain.aborts(BuildsAbort.EWrongVersion, ADMIN, chain.update_pcrs_call())


def test_update_pcrs_needs_the_config_by_mutable_reference(chain: Chain) -> None:
    module, function, args = chain.update_pcrs_call()
    args = list(args)
    args[2] = obj(chain.config_id, mutable=False)
    info = chain.refused(CommandArgumentError, ADMIN, (module, function, args))
    assert "immutably" in str(info.value) and "config" in str(info.value)


# === enclave::register_enclave ================================================================================


def test_register_enclave_admits_a_document_with_the_configured_pcrs(chain: Chain) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    # PCRs by index: extra PCRs, in any order, are ignored.
    pcrs = {4: bytes(48), 2: PCR2, 3: b"\x01" * 48, 1: PCR1, 0: PCR0}
    changes, results = chain.run(OPERATOR, chain.register_attested_call(pcrs))
    enclave_id = derive_id(tx_digest(chain.tx_count - 1), 0)
    assert results == [[IdValue(enclave_id)]]
    assert chain.enclave(enclave_id) == c.EnclaveObject(
        enclave_id, chain.config_id, 1, OPERATOR_PK, OPERATOR, False, ATTESTATION, ATTESTATION_TS
    )
    assert changes.events == [
        EmittedEvent(
            "enclave",
            c.EnclaveRegistered(
                enclave_id,
                chain.config_id,
                1,
                OPERATOR_PK,
                PCR0,
                PCR1,
                PCR2,
                ATTESTATION_TS,
                OPERATOR,
                False,
            ),
        )
    ]


@pytest.mark.parametrize("missing", [0, 1, 2])
def test_register_enclave_rejects_a_document_without_pcr(chain: Chain, missing: int) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    pcrs = {0: PCR0, 1: PCR1, 2: PCR2, 3: PCR0}
    del pcrs[missing]
    call = chain.register_attested_call(pcrs, public_key=None)  # PCRs come before the key
    abort = chain.aborts(EnclaveAbort.EPcrMissing, OPERATOR, call)
    assert (abort.module, abort.function) == ("enclave", "register_attested")


def test_register_enclave_looks_pcrs_up_by_index_not_position(chain: Chain) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    shifted = {1: PCR0, 2: PCR1, 3: PCR2}  # right values, wrong indices: PCR 0 is absent
    chain.aborts(EnclaveAbort.EPcrMissing, OPERATOR, chain.register_attested_call(shifted))


@pytest.mark.parametrize("length", [0, 32, 47, 49, 64])
def test_register_enclave_rejects_a_pcr_that_is_not_48_bytes(chain: Chain, length: int) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    call = chain.register_attested_call({0: PCR0, 1: b"\x01" * length, 2: PCR2})
    chain.aborts(EnclaveAbort.EBadPcrLength, OPERATOR, call, function="assert_valid_pcrs")


def test_register_enclave_rejects_a_debug_mode_document_against_an_unset_config(
    chain: Chain,
) -> None:
    # Equal to the unset config's PCRs, but all zero: refused before the comparison.
    zero = {0: ZERO_PCR, 1: ZERO_PCR, 2: ZERO_PCR}
    chain.aborts(EnclaveAbort.EDebugPcrs, OPERATOR, chain.register_attested_call(zero))
    # Real PCRs against the unset config: they differ.
    chain.aborts(EnclaveAbort.EPcrMismatch, OPERATOR, chain.register_attested_call())


@pytest.mark.parametrize("which", [0, 1, 2])
def test_register_enclave_rejects_one_zero_pcr(chain: Chain, which: int) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    pcrs = {0: PCR0, 1: PCR1, 2: PCR2}
    pcrs[which] = ZERO_PCR
    chain.aborts(EnclaveAbort.EDebugPcrs, OPERATOR, chain.register_attested_call(pcrs))


@pytest.mark.parametrize("which", [0, 1, 2])
def test_register_enclave_rejects_pcrs_that_differ_from_the_config(
    chain: Chain, which: int
) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    pcrs = {0: PCR0, 1: PCR1, 2: PCR2}
    pcrs[which] = hashlib.sha384(b"another image").digest()
    call = chain.register_attested_call(pcrs, public_key=None)  # PCRs come before the key
    chain.aborts(EnclaveAbort.EPcrMismatch, OPERATOR, call, function="register_attested")


def test_register_enclave_rejects_a_document_without_public_key(chain: Chain) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    call = chain.register_attested_call(public_key=None)
    chain.aborts(EnclaveAbort.ENoPublicKey, OPERATOR, call, function="register_attested")


@pytest.mark.parametrize("length", [0, 31, 33, 65, 91])
def test_register_enclave_rejects_a_public_key_that_is_not_32_bytes(
    chain: Chain, length: int
) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    call = chain.register_attested_call(public_key=bytes(range(length)))
    chain.aborts(EnclaveAbort.EBadPkLength, OPERATOR, call, function="register_attested")


def test_register_enclave_against_an_old_pcr_set_fails_after_an_update(chain: Chain) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    chain.run(OPERATOR, chain.register_attested_call())
    chain.run(ADMIN, chain.update_pcrs_call(PCR2, PCR2, PCR2))
    chain.aborts(EnclaveAbort.EPcrMismatch, OPERATOR, chain.register_attested_call())


# === enclave::destroy_stale and assert_current ================================================================


def destroy_call(chain: Chain, enclave_id: str, config_id: str | None = None) -> Call:
    return ("enclave", "destroy_stale", [mut(enclave_id), obj(config_id or chain.config_id)])


def test_destroy_stale_rejects_a_current_enclave(chain: Chain) -> None:
    abort = chain.aborts(EnclaveAbort.ENotStale, STRANGER, destroy_call(chain, chain.enclave_id))
    assert (abort.module, abort.function) == ("enclave", "destroy_stale")


def test_destroy_stale_removes_an_enclave_after_update_pcrs(chain: Chain) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    changes = chain.run(STRANGER, destroy_call(chain, chain.enclave_id))[0]  # anyone may
    assert changes.deleted == [chain.enclave_id]
    assert changes.created == [] and changes.mutated == []
    assert changes.events == [
        EmittedEvent("enclave", c.EnclaveDestroyed(chain.enclave_id, chain.config_id))
    ]
    assert chain.model.get(chain.enclave_id) is None
    info = chain.refused(CommandArgumentError, STRANGER, destroy_call(chain, chain.enclave_id))
    assert chain.enclave_id in str(info.value)


def test_destroy_stale_rejects_an_enclave_of_another_config(chain: Chain) -> None:
    other_config, other_enclave = chain.other_config_with_enclave()
    chain.run(ADMIN, chain.update_pcrs_call())  # ours is stale; theirs belongs elsewhere
    chain.aborts(EnclaveAbort.EWrongConfig, STRANGER, destroy_call(chain, other_enclave))
    chain.aborts(
        EnclaveAbort.EWrongConfig, STRANGER, destroy_call(chain, chain.enclave_id, other_config)
    )


def test_destroy_stale_takes_the_enclave_by_value(chain: Chain) -> None:
    chain.run(ADMIN, chain.update_pcrs_call())
    call = ("enclave", "destroy_stale", [obj(chain.enclave_id), obj(chain.config_id)])
    info = chain.refused(CommandArgumentError, STRANGER, call)
    assert "by value" in str(info.value)


def test_assert_current(chain: Chain) -> None:
    call = ("enclave", "assert_current", [obj(chain.enclave_id), obj(chain.config_id)])
    assert chain.run(STRANGER, call)[1] == [[]]
    _, other_enclave = chain.other_config_with_enclave()
    other = ("enclave", "assert_current", [obj(other_enclave), obj(chain.config_id)])
    chain.aborts(EnclaveAbort.EWrongConfig, STRANGER, other, function="assert_current")
    chain.run(ADMIN, chain.update_pcrs_call())
    chain.aborts(EnclaveAbort.EWrongConfig, STRANGER, call, function="assert_current")


# === admin setters and migrate ================================================================================

SETTERS: list[tuple[str, PureArg, str, object]] = [
    ("set_payee", address(STRANGER), "payee", STRANGER),
    ("set_min_fee", u64(7), "min_fee", 7),
    ("set_build_timeout_ms", u64(120_000), "build_timeout_ms", 120_000),
    ("set_paused", boolean(True), "paused", True),
    ("set_allow_debug", boolean(False), "allow_debug", False),
    ("set_enclave_config", pure(bcs.ID, addr(0x1234)), "enclave_config_id", addr(0x1234)),
]


@pytest.mark.parametrize(("function", "arg", "field", "value"), SETTERS)
def test_admin_setters_update_the_registry_and_emit(
    chain: Chain, function: str, arg: PureArg, field: str, value: object
) -> None:
    changes = chain.admin(function, arg)
    registry = chain.registry()
    assert getattr(registry, field) == value
    assert changes.events == [EmittedEvent("builds", registry_updated(registry))]
    assert [s.object_id for s in changes.mutated] == [chain.registry_id]


@pytest.mark.parametrize(("function", "arg", "field", "value"), SETTERS)
def test_admin_setters_need_the_admin_cap_of_the_sender(
    chain: Chain, function: str, arg: PureArg, field: str, value: object
) -> None:
    info = chain.refused(CommandArgumentError, STRANGER, chain.admin_call(function, arg))
    assert "owned by" in str(info.value) and chain.cap_id in str(info.value)
    assert getattr(chain.registry(), field) != value


@pytest.mark.parametrize(("function", "arg", "field", "value"), SETTERS)
def test_admin_setters_need_a_current_registry(
    chain: Chain, function: str, arg: PureArg, field: str, value: object
) -> None:
    chain.model.set_version_for_testing(0)
    chain.aborts(
        BuildsAbort.EWrongVersion, ADMIN, chain.admin_call(function, arg), function=function
    )


@pytest.mark.parametrize(
    "call_of",
    [
        lambda ch: ch.register_debug_call(RFC_PK),
        lambda ch: ch.update_pcrs_call(),
        lambda ch: ch.admin_call("migrate"),
    ],
)
def test_other_admin_functions_need_the_admin_cap_of_the_sender(chain: Chain, call_of: Any) -> None:
    chain.model.set_version_for_testing(0)  # so that migrate would succeed for the owner
    chain.refused(CommandArgumentError, STRANGER, call_of(chain))


@pytest.mark.parametrize(
    ("timeout", "accepted"),
    [(0, False), (59_999, False), (60_000, True), (86_400_000, True), (86_400_001, False)],
)
def test_set_build_timeout_ms_bounds(chain: Chain, timeout: int, accepted: bool) -> None:
    call = chain.admin_call("set_build_timeout_ms", u64(timeout))
    if accepted:
        chain.run(ADMIN, call)
        assert chain.registry().build_timeout_ms == timeout
    else:
        chain.aborts(BuildsAbort.EBadTimeout, ADMIN, call, function="set_build_timeout_ms")


def test_set_paused_is_reversible_and_other_settings_stay(chain: Chain) -> None:
    before = chain.registry()
    chain.admin("set_paused", boolean(True))
    chain.admin("set_paused", boolean(False))
    assert chain.registry() == before


def test_migrate_raises_an_old_registry_and_then_has_nothing_to_do(chain: Chain) -> None:
    chain.aborts(BuildsAbort.EWrongVersion, ADMIN, chain.admin_call("migrate"), function="migrate")
    chain.model.set_version_for_testing(0)
    changes = chain.admin("migrate")
    assert chain.registry().version == VERSION
    assert changes.events == []  # migrate emits nothing
    chain.request_build()
    chain.aborts(BuildsAbort.EWrongVersion, ADMIN, chain.admin_call("migrate"))


def test_migrate_refuses_a_newer_registry(chain: Chain) -> None:
    chain.model.set_version_for_testing(VERSION + 1)
    chain.aborts(BuildsAbort.EWrongVersion, ADMIN, chain.admin_call("migrate"))


def test_the_admin_cap_serves_its_owner_only() -> None:
    """The cap's recorded owner decides, whoever that is: here a publisher other than ADMIN."""
    model = DaasModel(PACKAGE)
    model.publish(TxContext(STRANGER, tx_digest(0), T_CREATE))
    registry_id, cap_id = model.registry_id, derive_id(tx_digest(0), 2)
    assert registry_id is not None
    tx = model.begin(TxContext(STRANGER, tx_digest(1), T_CREATE))
    tx.call("builds", "set_min_fee", [mut(registry_id), obj(cap_id), u64(1)])
    tx.commit()
    tx = model.begin(TxContext(ADMIN, tx_digest(2), T_CREATE))
    with pytest.raises(CommandArgumentError):
        tx.call("builds", "set_min_fee", [mut(registry_id), obj(cap_id), u64(2)])


# === arguments, as the VM checks them before Move runs ========================================================


def test_wrong_argument_count(chain: Chain) -> None:
    module, function, args = chain.request_call()
    info = chain.refused(CommandArgumentError, USER, (module, function, list(args)[:-1]))
    assert "takes 7 arguments" in str(info.value)
    chain.refused(CommandArgumentError, USER, (module, function, [*args, CLOCK]))


@pytest.mark.parametrize(
    ("index", "arg", "message"),
    [
        (1, PureArg(b"\x05abc"), "truncated"),  # String shorter than its length
        (1, PureArg(b"\x01a\x00"), "trailing"),  # String with a byte left over
        (1, PureArg(b"\x02\xc3\x28"), "UTF-8"),  # invalid UTF-8
        (1, PureArg(b"\x80\x00"), "ULEB128"),  # non-canonical length
        (2, PureArg(b""), "truncated"),  # vector<u8> without its length
        (2, PureArg(b"\x05ab"), "truncated"),  # vector<u8> shorter than its length
        (2, PureArg(b"\x01a\x00"), "trailing"),  # vector<u8> with a byte left over
        (1, CoinValue(5), "pure String"),
        (5, vec(b"x"), "Coin<SUI>"),
        (5, CoinValue(-1), "not a u64"),
        (5, CoinValue(2**64), "not a u64"),
        (6, PureArg(b"\x06"), "Clock"),
        (6, ObjectArg(addr(7), False), "Clock"),
        (6, ObjectArg(CLOCK_ID, True), "immutably"),
        (0, vec(b"x"), "expected an object"),
        (0, IdValue(addr(1)), "expected an object"),
    ],
)
def test_malformed_arguments_are_command_argument_errors(
    chain: Chain, index: int, arg: MoveValue, message: str
) -> None:
    module, function, args = chain.request_call()
    args = list(args)
    args[index] = arg
    info = chain.refused(CommandArgumentError, USER, (module, function, args))
    text = str(info.value)
    assert f"argument {index}" in text and "request_build" in text
    assert message in text, text


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        (PureArg(bytes(7)), "truncated"),
        (PureArg(bytes(9)), "trailing"),
        (u16(5), "truncated"),
    ],
)
def test_integer_arguments_decode_strictly(chain: Chain, arg: PureArg, message: str) -> None:
    info = chain.refused(CommandArgumentError, ADMIN, chain.admin_call("set_build_timeout_ms", arg))
    assert message in str(info.value)


def test_bool_address_id_and_u16_arguments_decode_strictly(chain: Chain, pending: str) -> None:
    cases: list[tuple[str, MoveValue]] = [
        ("set_paused", PureArg(b"\x02")),
        ("set_payee", PureArg(bytes(31))),
        ("set_payee", PureArg(bytes(33))),
        ("set_payee", IdValue(addr(1))),  # an ID is not an address
        ("set_enclave_config", PureArg(bytes(31))),
    ]
    for function, arg in cases:
        chain.refused(CommandArgumentError, ADMIN, chain.admin_call(function, arg))
    module, function, args = chain.fail_call(pending)
    args = list(args)
    args[4] = u64(110)  # u16 parameter
    chain.refused(CommandArgumentError, RELAYER, (module, function, args))


def test_an_id_result_may_be_passed_where_an_id_is_expected(chain: Chain) -> None:
    tx = chain.model.begin(chain.ctx(ADMIN))
    other_config = tx.enclave.create_config()
    tx.call(*chain.admin_call("set_enclave_config", IdValue(other_config)))
    chain.check_committed(tx.commit(), [])
    assert chain.registry().enclave_config_id == other_config


def test_object_arguments_are_checked(chain: Chain, pending: str) -> None:
    module, function, args = chain.complete_call(pending)

    def with_arg(index: int, arg: MoveValue) -> Call:
        replaced = list(args)
        replaced[index] = arg
        return (module, function, replaced)

    cases = [
        (with_arg(0, obj(pending)), "is a builds::BuildRequest, not a builds::Registry"),
        (with_arg(2, obj(chain.enclave_id)), "is a enclave::Enclave, not a enclave::EnclaveConfig"),
        (with_arg(3, obj(addr(0x404))), "not a live object"),
        (with_arg(1, obj(pending, mutable=False)), "immutably"),
        (with_arg(0, obj(chain.cap_id)), "not a builds::Registry"),
    ]
    for call, message in cases:
        info = chain.refused(CommandArgumentError, RELAYER, call)
        assert message in str(info.value), str(info.value)
    # A shared object declared mutable may be passed where `&` is expected.
    chain.run(RELAYER, with_arg(0, mut(chain.registry_id)))


def test_functions_not_callable_from_a_transaction(chain: Chain) -> None:
    for module, function in [
        ("builds", "init"),
        ("builds", "assert_can_post"),
        ("builds", "pay"),
        ("enclave", "create_config"),
        ("enclave", "new_debug_enclave"),
        ("enclave", "update_pcrs"),
        ("builds", "nonexistent"),
        ("other", "request_build"),
    ]:
        info = chain.refused(FunctionNotFound, ADMIN, (module, function, []))
        assert function in str(info.value)


# === transactions =============================================================================================


def test_an_abort_in_the_second_call_leaves_the_first_unapplied(chain: Chain) -> None:
    before = chain.registry()
    abort = chain.aborts(
        BuildsAbort.EBadTimeout,
        ADMIN,
        chain.admin_call("set_payee", address(STRANGER)),
        chain.admin_call("set_build_timeout_ms", u64(1)),
    )
    assert abort.function == "set_build_timeout_ms"
    assert chain.registry() == before


def test_an_abort_after_a_request_leaves_no_request_and_no_escrow(chain: Chain) -> None:
    count = len(chain.model.objects())
    chain.aborts(BuildsAbort.EFeeTooLow, USER, chain.request_call(), chain.request_call(fee=1))
    assert len(chain.model.objects()) == count


def test_an_aborted_transaction_cannot_commit_or_continue(chain: Chain) -> None:
    tx = chain.model.begin(ctx := chain.ctx(USER, ids_created=3))
    with pytest.raises(MoveAbort):
        tx.call(*chain.request_call(fee=1))
    assert ctx.ids_created == 3
    with pytest.raises(RuntimeError):
        tx.call(*chain.request_call())
    with pytest.raises(RuntimeError):
        tx.commit()


def test_calls_in_one_transaction_see_each_others_effects(chain: Chain) -> None:
    chain.now = T_RESULT
    tx = chain.model.begin(chain.ctx(USER))
    request_call = chain.request_call()
    [[request]] = [tx.call(*request_call)]
    assert isinstance(request, IdValue)
    spec_digest = SPEC.digest()
    signature = sign_succeeded(RFC1, request.object_id, spec_digest, T_RESULT)
    # The request created above is visible (and pending) to the next call.
    tx.call(
        "builds",
        "complete",
        [
            obj(chain.registry_id),
            mut(request.object_id),
            obj(chain.config_id),
            obj(chain.enclave_id),
            vec(IMAGE_DIGEST),
            string("index-blob"),
            vec(LOG_DIGEST),
            string("log-blob"),
            u64(T_RESULT),
            vec(signature),
            CLOCK,
        ],
    )
    changes = tx.commit()
    chain.check_committed(changes, [request_call])
    # Created and settled in the same transaction: reported once, as created, with final contents.
    assert [s.object_id for s in changes.created] == [request.object_id]
    assert changes.mutated == []
    assert chain.request(request.object_id).status == STATUS_SUCCEEDED
    assert [type(e.event).__name__ for e in changes.events] == ["BuildRequested", "BuildSucceeded"]
    # The fee coin took the id after the request's.
    digest = tx_digest(chain.tx_count - 1)
    assert request.object_id == derive_id(digest, 0)
    assert changes.payouts == [CoinPayout(PAYEE, FEE, derive_id(digest, 1))]


def test_an_object_created_and_deleted_in_one_transaction_is_not_reported(chain: Chain) -> None:
    changes, results = chain.run(
        ADMIN,
        chain.register_debug_call(OPERATOR_PK),
        chain.update_pcrs_call(),
    )
    [new_enclave] = results[0]
    assert isinstance(new_enclave, IdValue)
    tx = chain.model.begin(chain.ctx(ADMIN))
    [[second]] = [tx.call(*chain.register_debug_call(OPERATOR_PK))]
    assert isinstance(second, IdValue)
    tx.call(*chain.update_pcrs_call(PCR2, PCR2, PCR2))
    tx.call(*destroy_call(chain, second.object_id))
    changes = tx.commit()
    assert changes.created == [] and changes.deleted == []
    assert [s.object_id for s in changes.mutated] == [chain.config_id]
    assert [type(e.event).__name__ for e in changes.events] == [
        "EnclaveRegistered",
        "PcrsUpdated",
        "EnclaveDestroyed",
    ]
    assert chain.model.get(second.object_id) is None


def test_mutable_inputs_are_reported_mutated_even_when_unchanged(chain: Chain) -> None:
    module, function, args = chain.request_call()
    args = list(args)
    args[0] = mut(chain.registry_id)
    changes = chain.run(USER, (module, function, args))[0]
    assert [s.object_id for s in changes.mutated] == [chain.registry_id]
    assert changes.mutated[0].contents == chain.contents(chain.registry_id)


def test_a_transaction_begun_before_another_commit_may_not_commit(chain: Chain) -> None:
    first = chain.model.begin(chain.ctx(ADMIN))
    second = chain.model.begin(chain.ctx(ADMIN))
    first.call(*chain.admin_call("set_min_fee", u64(1)))
    second.call(*chain.admin_call("set_min_fee", u64(2)))
    first.commit()
    with pytest.raises(RuntimeError):
        second.commit()
    assert chain.registry().min_fee == 1
    with pytest.raises(RuntimeError):
        first.commit()  # and a transaction commits once


def test_ids_are_deterministic_and_follow_the_context_counter() -> None:
    def run(digest: bytes, ids_created: int) -> list[str]:
        model = DaasModel(PACKAGE)
        changes = model.publish(TxContext(ADMIN, digest, T_CREATE, 0, ids_created))
        return [s.object_id for s in changes.created]

    digest = hashlib.sha256(b"tx").digest()
    assert run(digest, 0) == run(digest, 0)
    assert run(digest, 0)[1:] == run(digest, 1)[:2]
    assert set(run(digest, 0)).isdisjoint(run(hashlib.sha256(b"other").digest(), 0))
    # ObjectID::derive_id with the RegularObjectId scope byte 0xf1 (sui-types base_types.rs).
    preimage = b"\xf1" + digest + (0).to_bytes(8, "little")
    assert run(digest, 0)[0] == "0x" + hashlib.blake2b(preimage, digest_size=32).hexdigest()


def test_get_and_objects_serve_every_object(chain: Chain, pending: str) -> None:
    stored = {s.object_id: s for s in chain.model.objects()}
    assert set(stored) == {
        chain.config_id,
        chain.registry_id,
        chain.cap_id,
        chain.enclave_id,
        pending,
    }
    for object_id, item in stored.items():
        assert chain.model.get(object_id) == item
        assert chain.model.get(object_id.upper().replace("0X", "0x")) == item
        decode_object(item.type_tag, item.contents)
    assert chain.model.get(addr(0x404)) is None
    assert stored[chain.cap_id].owner == AddressOwner(ADMIN)


def test_load_restores_saved_objects(chain: Chain, pending: str) -> None:
    restored = DaasModel(PACKAGE)
    restored.load(chain.model.objects())
    assert restored.objects() == chain.model.objects()
    assert restored.registry_id == chain.registry_id
    chain.model = restored
    chain.run(RELAYER, chain.complete_call(pending))
    assert chain.request(pending).status == STATUS_SUCCEEDED
