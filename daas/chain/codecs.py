"""BCS layouts of the `daas` Move package: the build spec, signed payloads, events and objects.

Every class mirrors a Move struct in `move/sources/` field for field (see `docs/protocol.md`); the same test
vectors are pinned in `move/tests/` and `tests/chain/test_codecs.py`. Decoding is strict: truncated input,
trailing bytes, bad bools or invalid UTF-8 raise `CodecError`.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import ClassVar, Generic, TypeVar

from daas.chain.bcs import (
    ID,
    U8,
    U16,
    U64,
    Address,
    Bool,
    Bytes,
    Option,
    Reader,
    String,
    Struct,
    StructCodec,
    check_layout,
    normalize_address,
)
from daas.errors import CodecError

MODULE_BUILDS = "builds"
MODULE_ENCLAVE = "enclave"


class Intent(enum.IntEnum):
    """Intent byte of each signed payload type (BCS carries no type name, so this separates them)."""

    BUILD_SUCCEEDED = 1
    BUILD_FAILED = 2


class RequestStatus(enum.IntEnum):
    """`BuildRequest.status` on chain."""

    PENDING = 0
    SUCCEEDED = 1
    FAILED = 2
    CANCELLED = 3


@dataclasses.dataclass(frozen=True)
class BuildSpec(Struct):
    source_blob_id: str
    source_sha256: bytes
    dockerfile_path: str
    platform: str

    __bcs__ = (
        ("source_blob_id", String),
        ("source_sha256", Bytes),
        ("dockerfile_path", String),
        ("platform", String),
    )

    def digest(self) -> bytes:
        """`spec_digest = sha256(bcs(spec))`, as `request_build` computes it on chain."""
        return hashlib.sha256(self.to_bcs()).digest()


def spec_digest(spec: BuildSpec) -> bytes:
    return spec.digest()


@dataclasses.dataclass(frozen=True)
class BuildSucceededPayload(Struct):
    request_id: str
    spec_digest: bytes
    image_digest: bytes
    image_index_blob_id: str
    log_digest: bytes
    log_blob_id: str

    INTENT: ClassVar[Intent] = Intent.BUILD_SUCCEEDED
    __bcs__ = (
        ("request_id", ID),
        ("spec_digest", Bytes),
        ("image_digest", Bytes),
        ("image_index_blob_id", String),
        ("log_digest", Bytes),
        ("log_blob_id", String),
    )


@dataclasses.dataclass(frozen=True)
class BuildFailedPayload(Struct):
    request_id: str
    spec_digest: bytes
    error_code: int
    log_digest: bytes
    log_blob_id: str

    INTENT: ClassVar[Intent] = Intent.BUILD_FAILED
    __bcs__ = (
        ("request_id", ID),
        ("spec_digest", Bytes),
        ("error_code", U16),
        ("log_digest", Bytes),
        ("log_blob_id", String),
    )


P = TypeVar("P", bound=Struct)


@dataclasses.dataclass(frozen=True)
class IntentMessage(Generic[P]):
    """`IntentMessage<P> { intent: u8, timestamp_ms: u64, payload: P }`: the bytes an enclave signs."""

    intent: int
    timestamp_ms: int
    payload: P

    def to_bcs(self) -> bytes:
        out = bytearray()
        U8.encode(self.intent, out)
        U64.encode(self.timestamp_ms, out)
        self.payload.encode_into(out)
        return bytes(out)

    @classmethod
    def from_bcs(cls, data: bytes, payload_type: type[P]) -> IntentMessage[P]:
        reader = Reader(data)
        intent = U8.decode(reader)
        timestamp_ms = U64.decode(reader)
        payload = payload_type.read_from(reader)
        reader.finish()
        return cls(intent, timestamp_ms, payload)


def signing_message(
    payload: BuildSucceededPayload | BuildFailedPayload, timestamp_ms: int
) -> bytes:
    """The exact bytes the enclave signs for a result payload."""
    return IntentMessage(int(payload.INTENT), timestamp_ms, payload).to_bcs()


# --- events -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BuildRequested(Struct):
    request_id: str
    requester: str
    source_blob_id: str
    source_sha256: bytes
    dockerfile_path: str
    platform: str
    spec_digest: bytes
    fee: int
    created_at_ms: int
    deadline_ms: int

    MODULE: ClassVar[str] = MODULE_BUILDS
    __bcs__ = (
        ("request_id", ID),
        ("requester", Address),
        ("source_blob_id", String),
        ("source_sha256", Bytes),
        ("dockerfile_path", String),
        ("platform", String),
        ("spec_digest", Bytes),
        ("fee", U64),
        ("created_at_ms", U64),
        ("deadline_ms", U64),
    )

    @property
    def spec(self) -> BuildSpec:
        return BuildSpec(
            self.source_blob_id, self.source_sha256, self.dockerfile_path, self.platform
        )


@dataclasses.dataclass(frozen=True)
class BuildSucceeded(Struct):
    request_id: str
    requester: str
    enclave_id: str
    enclave_pk: bytes
    config_version: int
    spec_digest: bytes
    image_digest: bytes
    image_index_blob_id: str
    log_digest: bytes
    log_blob_id: str
    timestamp_ms: int
    signature: bytes
    fee_paid: int
    payee: str

    MODULE: ClassVar[str] = MODULE_BUILDS
    __bcs__ = (
        ("request_id", ID),
        ("requester", Address),
        ("enclave_id", ID),
        ("enclave_pk", Bytes),
        ("config_version", U64),
        ("spec_digest", Bytes),
        ("image_digest", Bytes),
        ("image_index_blob_id", String),
        ("log_digest", Bytes),
        ("log_blob_id", String),
        ("timestamp_ms", U64),
        ("signature", Bytes),
        ("fee_paid", U64),
        ("payee", Address),
    )

    def payload(self) -> BuildSucceededPayload:
        return BuildSucceededPayload(
            self.request_id,
            self.spec_digest,
            self.image_digest,
            self.image_index_blob_id,
            self.log_digest,
            self.log_blob_id,
        )


@dataclasses.dataclass(frozen=True)
class BuildFailed(Struct):
    request_id: str
    requester: str
    enclave_id: str
    enclave_pk: bytes
    config_version: int
    spec_digest: bytes
    error_code: int
    log_digest: bytes
    log_blob_id: str
    timestamp_ms: int
    signature: bytes
    fee_paid: int
    refunded: int

    MODULE: ClassVar[str] = MODULE_BUILDS
    __bcs__ = (
        ("request_id", ID),
        ("requester", Address),
        ("enclave_id", ID),
        ("enclave_pk", Bytes),
        ("config_version", U64),
        ("spec_digest", Bytes),
        ("error_code", U16),
        ("log_digest", Bytes),
        ("log_blob_id", String),
        ("timestamp_ms", U64),
        ("signature", Bytes),
        ("fee_paid", U64),
        ("refunded", U64),
    )

    def payload(self) -> BuildFailedPayload:
        return BuildFailedPayload(
            self.request_id, self.spec_digest, self.error_code, self.log_digest, self.log_blob_id
        )


@dataclasses.dataclass(frozen=True)
class BuildCancelled(Struct):
    request_id: str
    requester: str
    refunded: int
    cancelled_at_ms: int

    MODULE: ClassVar[str] = MODULE_BUILDS
    __bcs__ = (
        ("request_id", ID),
        ("requester", Address),
        ("refunded", U64),
        ("cancelled_at_ms", U64),
    )


@dataclasses.dataclass(frozen=True)
class RegistryUpdated(Struct):
    registry_id: str
    payee: str
    min_fee: int
    build_timeout_ms: int
    paused: bool
    enclave_config_id: str
    allow_debug: bool

    MODULE: ClassVar[str] = MODULE_BUILDS
    __bcs__ = (
        ("registry_id", ID),
        ("payee", Address),
        ("min_fee", U64),
        ("build_timeout_ms", U64),
        ("paused", Bool),
        ("enclave_config_id", ID),
        ("allow_debug", Bool),
    )


@dataclasses.dataclass(frozen=True)
class EnclaveRegistered(Struct):
    enclave_id: str
    config_id: str
    config_version: int
    pk: bytes
    pcr0: bytes
    pcr1: bytes
    pcr2: bytes
    attestation_timestamp_ms: int
    owner: str
    debug: bool

    MODULE: ClassVar[str] = MODULE_ENCLAVE
    __bcs__ = (
        ("enclave_id", ID),
        ("config_id", ID),
        ("config_version", U64),
        ("pk", Bytes),
        ("pcr0", Bytes),
        ("pcr1", Bytes),
        ("pcr2", Bytes),
        ("attestation_timestamp_ms", U64),
        ("owner", Address),
        ("debug", Bool),
    )


@dataclasses.dataclass(frozen=True)
class PcrsUpdated(Struct):
    config_id: str
    version: int
    pcr0: bytes
    pcr1: bytes
    pcr2: bytes

    MODULE: ClassVar[str] = MODULE_ENCLAVE
    __bcs__ = (
        ("config_id", ID),
        ("version", U64),
        ("pcr0", Bytes),
        ("pcr1", Bytes),
        ("pcr2", Bytes),
    )


@dataclasses.dataclass(frozen=True)
class EnclaveDestroyed(Struct):
    enclave_id: str
    config_id: str

    MODULE: ClassVar[str] = MODULE_ENCLAVE
    __bcs__ = (("enclave_id", ID), ("config_id", ID))


Event = (
    BuildRequested
    | BuildSucceeded
    | BuildFailed
    | BuildCancelled
    | RegistryUpdated
    | EnclaveRegistered
    | PcrsUpdated
    | EnclaveDestroyed
)

EVENT_TYPES: dict[tuple[str, str], type[Struct]] = {
    (cls.MODULE, cls.__name__): cls
    for cls in (
        BuildRequested,
        BuildSucceeded,
        BuildFailed,
        BuildCancelled,
        RegistryUpdated,
        EnclaveRegistered,
        PcrsUpdated,
        EnclaveDestroyed,
    )
}


@dataclasses.dataclass(frozen=True)
class EventType:
    """A parsed Move event type `0xPKG::module::Name` (generic arguments are not used by our package)."""

    package: str
    module: str
    name: str

    @classmethod
    def parse(cls, text: str) -> EventType:
        parts = text.split("::")
        if len(parts) != 3 or "<" in text:
            raise CodecError(f"{text!r} is not a `0xPACKAGE::module::Name` event type")
        return cls(normalize_address(parts[0]), parts[1], parts[2])

    def __str__(self) -> str:
        return f"{self.package}::{self.module}::{self.name}"


def event_class(module: str, name: str) -> type[Struct] | None:
    """The layout of one of our events, or None for a name this version does not know."""
    return EVENT_TYPES.get((module, name))


def decode_event(module: str, name: str, contents: bytes) -> Struct:
    """Decode one of our events; `CodecError` for unknown names or malformed bytes."""
    cls = event_class(module, name)
    if cls is None:
        raise CodecError(f"unknown event {module}::{name}")
    return cls.from_bcs(contents)


# --- objects (for readers that fetch object BCS) ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BuildResult(Struct):
    enclave_id: str
    succeeded: bool
    image_digest: bytes
    image_index_blob_id: str
    log_digest: bytes
    log_blob_id: str
    error_code: int
    timestamp_ms: int
    signature: bytes

    __bcs__ = (
        ("enclave_id", ID),
        ("succeeded", Bool),
        ("image_digest", Bytes),
        ("image_index_blob_id", String),
        ("log_digest", Bytes),
        ("log_blob_id", String),
        ("error_code", U16),
        ("timestamp_ms", U64),
        ("signature", Bytes),
    )


@dataclasses.dataclass(frozen=True)
class BuildRequestObject(Struct):
    """`BuildRequest` as stored (the `Balance<SUI>` escrow is a struct holding one u64)."""

    id: str
    requester: str
    spec: BuildSpec
    spec_digest: bytes
    fee_balance: int
    fee_amount: int
    status: int
    created_at_ms: int
    deadline_ms: int
    result: BuildResult | None

    __bcs__ = (
        ("id", ID),
        ("requester", Address),
        ("spec", StructCodec(BuildSpec)),
        ("spec_digest", Bytes),
        ("fee_balance", U64),
        ("fee_amount", U64),
        ("status", U8),
        ("created_at_ms", U64),
        ("deadline_ms", U64),
        ("result", Option(StructCodec(BuildResult))),
    )


@dataclasses.dataclass(frozen=True)
class RegistryObject(Struct):
    id: str
    version: int
    payee: str
    min_fee: int
    build_timeout_ms: int
    paused: bool
    enclave_config_id: str
    allow_debug: bool

    __bcs__ = (
        ("id", ID),
        ("version", U64),
        ("payee", Address),
        ("min_fee", U64),
        ("build_timeout_ms", U64),
        ("paused", Bool),
        ("enclave_config_id", ID),
        ("allow_debug", Bool),
    )


@dataclasses.dataclass(frozen=True)
class EnclaveConfigObject(Struct):
    id: str
    name: str
    pcr0: bytes
    pcr1: bytes
    pcr2: bytes
    version: int

    __bcs__ = (
        ("id", ID),
        ("name", String),
        ("pcr0", Bytes),
        ("pcr1", Bytes),
        ("pcr2", Bytes),
        ("version", U64),
    )


@dataclasses.dataclass(frozen=True)
class EnclaveObject(Struct):
    id: str
    config_id: str
    config_version: int
    pk: bytes
    owner: str
    debug: bool
    attestation: bytes
    attestation_timestamp_ms: int

    __bcs__ = (
        ("id", ID),
        ("config_id", ID),
        ("config_version", U64),
        ("pk", Bytes),
        ("owner", Address),
        ("debug", Bool),
        ("attestation", Bytes),
        ("attestation_timestamp_ms", U64),
    )


for _cls in (
    BuildSpec,
    BuildSucceededPayload,
    BuildFailedPayload,
    *EVENT_TYPES.values(),
    BuildResult,
    BuildRequestObject,
    RegistryObject,
    EnclaveConfigObject,
    EnclaveObject,
):
    check_layout(_cls)
