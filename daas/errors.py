"""One error hierarchy for every DaaS service and the CLI.

Third-party exceptions (grpclib, httpx, docker, SQLAlchemy, cryptography) are mapped to these classes once, at the
boundary module that talks to the external system, and chained with ``raise ... from exc``. Nothing above that
boundary catches a third-party exception.

    DaasError                       base; ``str(err)`` is a message a user can act on
    ├── ConfigError                 a setting is missing or invalid (names the setting)
    ├── DatabaseError               the database cannot be reached or refused a statement
    │   └── MigrationError          the schema is not at the expected revision
    ├── CodecError                  bytes that do not decode as the expected BCS layout
    ├── ChainError                  talking to a Sui node
    │   ├── ChainUnavailable        transient: connection refused, UNAVAILABLE, deadline (retried)
    │   │   └── OutcomeUnknown      a transaction was sent but no answer came: resubmit the same bytes only
    │   ├── ChainIdMismatch         the node serves another network than the one configured
    │   ├── CheckpointPruned        the node no longer holds a needed checkpoint
    │   ├── ObjectNotFound          an object id that does not exist
    │   ├── TransactionRejected     refused before execution: signature, stale object, gas budget
    │   └── TransactionFailed       executed but aborted (carries the Move abort code)
    ├── BlobStoreError              talking to Walrus
    │   ├── BlobStoreUnavailable    transient: 429, 503, 504, connection errors (retried)
    │   ├── BlobNotFound            the aggregator does not know the blob id
    │   ├── BlobTooLarge            over the publisher's or aggregator's size cap
    │   └── BlobIntegrityError      served bytes differ from the expected length or sha256
    ├── KeyError_                   a key file that is missing, malformed or has unsafe permissions
    ├── AttestationError            an attestation document or signature that does not verify
    │   ├── AttestationMalformed    not a well-formed Nitro document (``field`` names the field)
    │   ├── AttestationForged       the COSE signature does not verify with the leaf certificate's key
    │   ├── AttestationUntrusted    the certificates do not chain to the pinned root at the given time
    │   └── AttestationRefused      authentic, but refused: debug-mode PCRs, other PCRs or public key
    ├── BuildError                  a build that cannot succeed; carries a ``BuildFailureCode``
    │   ├── RequesterFault          codes 100-199: the fee goes to the payee
    │   └── InfrastructureFault     codes 200-299: the fee is refunded
    └── NotFound                    a build, event or blob the caller asked for does not exist

``KeyError_`` has a trailing underscore so it never shadows the builtin ``KeyError``.
"""

from __future__ import annotations

import enum


class DaasError(Exception):
    """Base class of every error DaaS raises on purpose."""


class ConfigError(DaasError):
    """A setting is missing or invalid; the message names the setting."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class DatabaseError(DaasError):
    """The database cannot be reached or refused a statement."""


class MigrationError(DatabaseError):
    """The schema is not at the revision this code expects."""


class CodecError(DaasError):
    """Bytes that do not decode as the expected BCS layout (truncated, trailing bytes, bad values)."""


class ChainError(DaasError):
    """Talking to a Sui node failed."""


class ChainUnavailable(ChainError):
    """A transient node fault: worth retrying with backoff."""


class OutcomeUnknown(ChainUnavailable):
    """A transaction was sent but no answer came back: it may or may not have executed.

    Resubmitting the same signed bytes is safe (Sui executes a transaction digest at most once and answers a
    repeat with the first result); signing *different* bytes over the same gas coin version is not.
    """

    def __init__(self, message: str, *, digest: str) -> None:
        super().__init__(message)
        self.digest = digest


class ChainIdMismatch(ChainError):
    """The node serves another network than the one configured."""


class CheckpointPruned(ChainError):
    """The node pruned a checkpoint we need; an archival endpoint must serve it."""


class ObjectNotFound(ChainError):
    """An object id that does not exist (or was deleted)."""


class TransactionRejected(ChainError):
    """The node refused a transaction before executing it (bad signature, stale or foreign object, gas).

    Nothing changed on chain, not even the gas coin.
    """

    def __init__(self, message: str, *, digest: str | None = None) -> None:
        super().__init__(message)
        self.digest = digest


class TransactionFailed(ChainError):
    """A transaction was executed but aborted; its gas was still charged.

    ``abort_code`` with ``module`` (e.g. ``"builds"``) identifies a Move abort: codes are only unique per module.
    Other execution failures (insufficient gas, a bad argument) leave ``abort_code`` unset.
    """

    def __init__(
        self,
        message: str,
        *,
        abort_code: int | None = None,
        digest: str | None = None,
        module: str | None = None,
        function: str | None = None,
    ):
        super().__init__(message)
        self.abort_code = abort_code
        self.digest = digest
        self.module = module
        self.function = function


class BlobStoreError(DaasError):
    """Talking to Walrus failed."""


class BlobStoreUnavailable(BlobStoreError):
    """A transient Walrus fault (429, 503, 504, connection error): worth retrying."""


class BlobNotFound(BlobStoreError):
    """The aggregator does not know this blob id."""


class BlobTooLarge(BlobStoreError):
    """The blob exceeds the publisher's or aggregator's size cap."""


class BlobIntegrityError(BlobStoreError):
    """The bytes served are not the blob expected: wrong length or wrong sha256 (never retried)."""


class KeyError_(DaasError):
    """A key file that is missing, malformed, or readable by others."""


class AttestationError(DaasError):
    """An attestation document or enclave signature that does not verify."""


class AttestationMalformed(AttestationError):
    """A document that is not a well-formed Nitro attestation; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class AttestationForged(AttestationError):
    """The COSE_Sign1 signature does not verify with the key of the document's own leaf certificate."""


class AttestationUntrusted(AttestationError):
    """The certificate chain does not lead to the pinned root at the verification time.

    ``check`` names the failed check (``root``, ``key_usage``, ``basic_constraints``, ``validity``, ``chain``).
    """

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class AttestationRefused(AttestationError):
    """An authentic document we do not accept: debug-mode PCRs, or PCRs or a public key other than expected.

    ``check`` names the failed check (``not_debug``, ``expected_pcrs``, ``expected_public_key``).
    """

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class BuildFailureCode(enum.IntEnum):
    """Error codes posted on chain by ``fail``.

    100-199 are the requester's fault (the fee goes to the payee); 200-299 are ours (full refund).
    """

    # requester's fault
    BUNDLE_DIGEST_MISMATCH = 100
    BUNDLE_TOO_LARGE = 101
    BUNDLE_MALFORMED = 102
    BUNDLE_UNSAFE_PATH = 103
    BUNDLE_UNSAFE_ENTRY = 104
    BUNDLE_TOO_MANY_FILES = 105
    DOCKERFILE_NOT_FOUND = 106
    INVALID_BUILD_CONFIG = 107
    BUILD_STEP_FAILED = 110
    BUILD_TIMEOUT = 111
    BUILD_OUT_OF_MEMORY = 112
    UNSUPPORTED_PLATFORM = 113
    IMAGE_TOO_LARGE = 114
    BUNDLE_NOT_FOUND = 115
    # infrastructure
    INTERNAL = 200
    BLOB_STORE_UNAVAILABLE = 201
    DOCKER_UNAVAILABLE = 202
    ATTEMPTS_EXHAUSTED = 203
    CHAIN_UNAVAILABLE = 204

    @property
    def is_requester_fault(self) -> bool:
        return 100 <= self.value < 200


class BuildError(DaasError):
    """A build that cannot succeed; ``code`` is what goes on chain."""

    def __init__(self, code: BuildFailureCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class RequesterFault(BuildError):
    """The request or its bundle is at fault (codes 100-199)."""

    def __init__(self, code: BuildFailureCode, message: str) -> None:
        if not code.is_requester_fault:
            raise ValueError(f"{code!r} is not a requester-fault code")
        super().__init__(code, message)


class InfrastructureFault(BuildError):
    """We are at fault (codes 200-299); the requester is refunded."""

    def __init__(self, code: BuildFailureCode, message: str) -> None:
        if code.is_requester_fault:
            raise ValueError(f"{code!r} is not an infrastructure code")
        super().__init__(code, message)


class NotFound(DaasError):
    """A build, event or blob the caller asked for does not exist."""
