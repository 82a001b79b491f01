"""Verification of a build from the chain and Walrus alone: the checklist of `daas verify`.

`verify_build` reads objects from a Sui node (`ObjectReader`, e.g. `daas.chain.client.SuiClient`) and blobs from
Walrus (`daas.walrus.BlobStore`); it never reads a database, so anyone can run it against public endpoints and
get the same answer. It re-derives every claim a finished `BuildRequest` makes and returns one `Check` per claim:

| check | what it compares |
|---|---|
| `request` | the object exists, is our package's `builds::BuildRequest` and decodes |
| `request.spec_digest` | `sha256(bcs(spec))` recomputed from the stored spec equals the stored `spec_digest` |
| `request.status` | SUCCEEDED or FAILED with a result posted (PENDING and CANCELLED have nothing to verify) |
| `source` | the source bundle read from Walrus has the spec's `source_sha256` (its size is reported) |
| `registry` | the configured `Registry` exists, is ours and decodes |
| `enclave` | the result's enclave exists, is our `enclave::Enclave` and decodes |
| `enclave.config` | its `config_id` is the registry's `enclave_config_id` (and that config exists) |
| `enclave.config_version` | its `config_version` equals the config's current `version` (a stale enclave fails) |
| `enclave.debug` | not a debug enclave; on localnet and devnet a debug enclave passes with a warning |
| `enclave.pcrs` | attested: the config's PCR0-2 are 48 bytes, not all zero, equal to `--pcrN` if given |
| `result.signature` | Ed25519 by the enclave's `pk` over the rebuilt `IntentMessage` (success or failure payload) |
| `result.timestamp` | the signed timestamp is not before the request |
| `attestation.*` | attested: the stored document passes `daas.attestation.check_document` (at its own |
| | time, PCRs equal to the config's, public key equal to `pk`); its timestamp is the enclave's |
| `image.index` | the image index blob parses and names the on-chain manifest digest |
| `image.manifest` | the manifest's bytes hash to the on-chain `image_digest` |
| `image.config` | the config blob hashes to the manifest's config digest and size |
| `image.platform` | the config's os/architecture equal the spec's platform |
| `image.layer.N` | every layer hashes to its manifest digest and size, and decompresses to its config `diff_id` |
| `log` | the log blob hashes to `log_digest` (no log blob: a pass with a warning) |

Where the result came from: the request object holds it (`BuildRequestObject.result`). The transaction that posted
it is the object's `previous_transaction` (nothing changes a settled request again); reading the transaction or its
`BuildSucceeded` event would need `GetTransaction`, which the Sui stand-in does not serve, and the object already
holds every signed field, so it is not read.

Unreachable endpoints raise (`ChainUnavailable`, `BlobStoreUnavailable`): an outage is not a verdict. An unknown
request id raises `NotFound`. Everything else, a missing blob included, is a failed check.

Debug enclaves: nothing attests what code such an enclave ran; the registry admits them only with `allow_debug`,
which is meant for development networks. A debug enclave therefore fails `enclave.debug` on testnet and mainnet,
and passes it with a warning on localnet and devnet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from daas.attestation import Check, check_document
from daas.attestation.attestor import verify_result
from daas.chain.bcs import Struct, normalize_address
from daas.chain.codecs import (
    MODULE_BUILDS,
    MODULE_ENCLAVE,
    BuildFailedPayload,
    BuildRequestObject,
    BuildResult,
    BuildSucceededPayload,
    EnclaveConfigObject,
    EnclaveObject,
    RegistryObject,
    RequestStatus,
)
from daas.chain.types import ObjectInfo
from daas.config import MIB, Network, Settings
from daas.errors import (
    BlobStoreError,
    BlobStoreUnavailable,
    CodecError,
    ConfigError,
    NotFound,
    ObjectNotFound,
)
from daas.image.index import MAX_INDEX_BYTES, BlobEntry, ImageIndex
from daas.image.oci import MANIFEST_MEDIA_TYPE, check_digest
from daas.walrus.ports import BlobStore

__all__ = [
    "DEBUG_NETWORKS",
    "ObjectReader",
    "VerifyOptions",
    "VerifyReport",
    "verify_build",
]

DEBUG_NETWORKS = frozenset({Network.LOCALNET, Network.DEVNET})
PCR_BYTES = 48
_MAX_CONFIG_BYTES = 4 * MIB  # an image config is a few KiB
_MAX_LOG_BYTES = 64 * MIB
_READ = 1024 * 1024

S = TypeVar("S", bound=Struct)


class ObjectReader(Protocol):
    """The one chain read verification needs (`SuiClient` provides it)."""

    async def get_object(self, object_id: str) -> ObjectInfo: ...


@dataclasses.dataclass(frozen=True)
class VerifyOptions:
    """What the verifier trusts: the deployment (package, registry), the network, the attestation root."""

    package_id: str
    registry_id: str
    network: Network
    # Trust anchor for attestation documents (DER); None: the pinned AWS Nitro root.
    root_der: bytes | None = None
    # PCRs published for the runner release (index -> 48 bytes), compared with the config's when given.
    expected_pcrs: Mapping[int, bytes] | None = None
    max_source_bytes: int = 256 * MIB

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        root_der: bytes | None = None,
        expected_pcrs: Mapping[int, bytes] | None = None,
    ) -> VerifyOptions:
        """The deployment `settings` name; ConfigError when it names no package or registry."""
        chain = settings.chain
        if chain.package_id is None or chain.registry_id is None:
            missing = "package_id" if chain.package_id is None else "registry_id"
            raise ConfigError(
                f"chain.{missing} is not set: verification trusts one deployment of the daas "
                "package, name it with chain.package_id and chain.registry_id",
                setting=f"chain.{missing}",
            )
        return cls(
            package_id=chain.package_id,
            registry_id=chain.registry_id,
            network=settings.network,
            root_der=root_der,
            expected_pcrs=expected_pcrs,
            max_source_bytes=settings.runner.max_bundle_bytes,
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "package_id", normalize_address(self.package_id))
        object.__setattr__(self, "registry_id", normalize_address(self.registry_id))

    @property
    def debug_allowed(self) -> bool:
        return self.network in DEBUG_NETWORKS


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    """The checklist of one request; `ok` when every check passed."""

    request_id: str
    status: (
        str | None
    )  # "pending", "succeeded", "failed", "cancelled"; None if the object is unreadable
    checks: tuple[Check, ...]
    warnings: tuple[str, ...]
    # The transaction that last changed the request (for a settled request: the one that posted the result).
    result_tx_digest: str | None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "request_id": self.request_id,
            "status": self.status,
            "result_tx_digest": self.result_tx_digest,
            "checks": [
                {"name": check.name, "ok": check.ok, "detail": check.detail}
                for check in self.checks
            ],
            "warnings": list(self.warnings),
        }


async def verify_build(
    chain: ObjectReader, store: BlobStore, request_id: str, options: VerifyOptions
) -> VerifyReport:
    """Every check of the module docstring for `request_id`, in that order."""
    return await _Verifier(chain, store, options).run(normalize_address(request_id))


_STATUS_NAMES = {status.value: status.name.lower() for status in RequestStatus}


def _short(data: bytes) -> str:
    return data.hex()[:16] + "…" if data else "(empty)"


def _iso(ms: int) -> str:
    try:
        when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"  # a value no calendar holds (a forged field): show it raw
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


class _Verifier:
    def __init__(self, chain: ObjectReader, store: BlobStore, options: VerifyOptions) -> None:
        self.chain = chain
        self.store = store
        self.options = options
        self.checks: list[Check] = []
        self.warnings: list[str] = []

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    # --- the run -----------------------------------------------------------------------------------------

    async def run(self, request_id: str) -> VerifyReport:
        try:
            info = await self.chain.get_object(request_id)
        except ObjectNotFound as exc:
            raise NotFound(
                f"no object {request_id} on chain: check the id, and that chain.grpc_url is a node "
                "of the network it was requested on"
            ) from exc
        request = self._decode(
            "request", info, MODULE_BUILDS, "BuildRequest", BuildRequestObject, request_id
        )
        if request is None:
            return self._report(request_id, None, info)
        status = _STATUS_NAMES.get(request.status, f"unknown ({request.status})")
        self.add(
            "request",
            True,
            f"BuildRequest by {request.requester}, created {_iso(request.created_at_ms)}, "
            f"fee {request.fee_amount} MIST",
        )
        spec_digest = request.spec.digest()
        self.add(
            "request.spec_digest",
            spec_digest == request.spec_digest,
            f"sha256(bcs(spec)) = {spec_digest.hex()}"
            + (
                ""
                if spec_digest == request.spec_digest
                else f", stored {request.spec_digest.hex()}"
            ),
        )
        result = self._status(request, status)
        await self._source(request)
        if result is not None:
            await self._result(request_id, request, result)
        return self._report(request_id, status, info)

    def _report(self, request_id: str, status: str | None, info: ObjectInfo) -> VerifyReport:
        return VerifyReport(
            request_id,
            status,
            tuple(self.checks),
            tuple(self.warnings),
            info.previous_transaction,
        )

    def _status(self, request: BuildRequestObject, status: str) -> BuildResult | None:
        result = request.result
        settled = request.status in (RequestStatus.SUCCEEDED, RequestStatus.FAILED)
        if not settled or result is None:
            detail = (
                f"{status}: no result to verify" if not settled else f"{status} without a result"
            )
            self.add("request.status", False, detail)
            return None
        if result.succeeded != (request.status == RequestStatus.SUCCEEDED):
            self.add(
                "request.status",
                False,
                f"status {status} but the result says succeeded={result.succeeded}",
            )
            return None
        detail = f"{status} at {_iso(result.timestamp_ms)}"
        if not result.succeeded:
            detail += f" with error code {result.error_code}"
        self.add("request.status", True, detail)
        return result

    async def _result(
        self, request_id: str, request: BuildRequestObject, result: BuildResult
    ) -> None:
        enclave = await self._enclave(result.enclave_id)
        self._signature(request_id, request, result, enclave)
        ok = request.created_at_ms <= result.timestamp_ms
        self.add(
            "result.timestamp",
            ok,
            f"signed at {_iso(result.timestamp_ms)}, requested at {_iso(request.created_at_ms)}"
            + ("" if ok else ": the result predates its request"),
        )
        if result.succeeded:
            await self._image(request, result)
        await self._log(result)

    # --- objects -----------------------------------------------------------------------------------------

    def _decode(
        self,
        name: str,
        info: ObjectInfo,
        module: str,
        struct: str,
        cls: type[S],
        object_id: str,
    ) -> S | None:
        expected = f"{self.options.package_id}::{module}::{struct}"
        if not _same_type(info.object_type, expected):
            self.add(name, False, f"object {object_id} is a {info.object_type}, not a {expected}")
            return None
        if info.contents is None:
            self.add(name, False, f"the node returned {object_id} without its contents")
            return None
        try:
            value = cls.from_bcs(info.contents)
        except CodecError as exc:
            self.add(name, False, f"{object_id} does not decode as {struct}: {exc}")
            return None
        if normalize_address(getattr(value, "id")) != normalize_address(object_id):  # noqa: B009
            self.add(name, False, f"{object_id} holds the id {getattr(value, 'id')}")  # noqa: B009
            return None
        return value

    async def _read_object(
        self, name: str, object_id: str, module: str, struct: str, cls: type[S]
    ) -> S | None:
        try:
            info = await self.chain.get_object(object_id)
        except ObjectNotFound:
            self.add(name, False, f"{struct} {object_id} does not exist on chain")
            return None
        return self._decode(name, info, module, struct, cls, object_id)

    async def _enclave(self, enclave_id: str) -> EnclaveObject | None:
        registry = await self._read_object(
            "registry", self.options.registry_id, MODULE_BUILDS, "Registry", RegistryObject
        )
        if registry is not None:
            self.add(
                "registry",
                True,
                f"registry {registry.id}: enclave config {registry.enclave_config_id}, "
                f"allow_debug {str(registry.allow_debug).lower()}",
            )
        enclave = await self._read_object(
            "enclave", enclave_id, MODULE_ENCLAVE, "Enclave", EnclaveObject
        )
        if enclave is None:
            return None
        kind = "debug enclave" if enclave.debug else "attested enclave"
        self.add("enclave", True, f"{kind} {enclave.id}, key {enclave.pk.hex()}")

        config: EnclaveConfigObject | None = None
        if registry is None:
            self.add("enclave.config", False, "the registry is unreadable")
        elif normalize_address(enclave.config_id) != normalize_address(registry.enclave_config_id):
            self.add(
                "enclave.config",
                False,
                f"the enclave belongs to config {enclave.config_id}, the registry trusts "
                f"{registry.enclave_config_id}",
            )
        else:
            config = await self._read_object(
                "enclave.config",
                registry.enclave_config_id,
                MODULE_ENCLAVE,
                "EnclaveConfig",
                EnclaveConfigObject,
            )
            if config is not None:
                self.add("enclave.config", True, f"config {config.id} ({config.name!r})")

        if config is None:
            self.add("enclave.config_version", False, "no enclave config to compare with")
        elif enclave.config_version == config.version:
            self.add("enclave.config_version", True, f"version {config.version}, current")
        else:
            self.add(
                "enclave.config_version",
                False,
                f"stale: registered under version {enclave.config_version}, the config is at "
                f"{config.version} (its PCRs changed since)",
            )
        self._debug(enclave)
        self._pcrs(enclave, config)
        if not enclave.debug:
            self._attestation(enclave, config)
        return enclave

    def _debug(self, enclave: EnclaveObject) -> None:
        network = self.options.network.value
        if not enclave.debug:
            self.add("enclave.debug", True, "not a debug enclave")
        elif self.options.debug_allowed:
            text = f"a debug enclave: nothing attests the code it ran (accepted on {network})"
            self.add("enclave.debug", True, text)
            self.warn(text)
        else:
            self.add(
                "enclave.debug",
                False,
                f"a debug enclave: nothing attests the code it ran, refused on {network}",
            )

    def _pcrs(self, enclave: EnclaveObject, config: EnclaveConfigObject | None) -> None:
        expected = self.options.expected_pcrs
        if config is None:
            self.add("enclave.pcrs", False, "no enclave config to read PCRs from")
            return
        pcrs = {0: config.pcr0, 1: config.pcr1, 2: config.pcr2}
        problems = []
        if not enclave.debug or expected:
            for index, value in pcrs.items():
                if len(value) != PCR_BYTES:
                    problems.append(f"PCR{index} is {len(value)} bytes, not {PCR_BYTES}")
                elif not any(value):
                    problems.append(f"PCR{index} is all zero")
        for index, value in (expected or {}).items():
            if pcrs.get(index) != value:
                problems.append(
                    f"PCR{index} is {_short(pcrs.get(index, b''))}, expected {_short(value)}"
                )
        if problems:
            self.add("enclave.pcrs", False, "; ".join(problems))
        elif enclave.debug and not expected:
            self.add("enclave.pcrs", True, "debug enclave: no PCRs were attested")
        else:
            shown = ", ".join(f"PCR{i} {_short(v)}" for i, v in pcrs.items())
            self.add("enclave.pcrs", True, shown + (" (as expected)" if expected else ""))

    def _attestation(self, enclave: EnclaveObject, config: EnclaveConfigObject | None) -> None:
        if not enclave.attestation:
            self.add("attestation.document", False, "the enclave stores no attestation document")
            return
        expected = None if config is None else {0: config.pcr0, 1: config.pcr1, 2: config.pcr2}
        checks = check_document(
            enclave.attestation,
            root_der=self.options.root_der,
            expected_pcrs=expected,
            expected_public_key=enclave.pk,
        )
        for check in checks:
            self.add(f"attestation.{check.name}", check.ok, check.detail)
        if expected is None:
            self.add("attestation.expected_pcrs", False, "no enclave config to compare with")
        timestamp = _document_timestamp(checks, enclave.attestation)
        if timestamp is not None:
            ok = timestamp == enclave.attestation_timestamp_ms
            self.add(
                "attestation.timestamp",
                ok,
                f"document made at {_iso(timestamp)}"
                + ("" if ok else f", the enclave says {_iso(enclave.attestation_timestamp_ms)}"),
            )

    def _signature(
        self,
        request_id: str,
        request: BuildRequestObject,
        result: BuildResult,
        enclave: EnclaveObject | None,
    ) -> None:
        payload: BuildSucceededPayload | BuildFailedPayload
        if result.succeeded:
            payload = BuildSucceededPayload(
                request_id,
                request.spec_digest,
                result.image_digest,
                result.image_index_blob_id,
                result.log_digest,
                result.log_blob_id,
            )
        else:
            payload = BuildFailedPayload(
                request_id,
                request.spec_digest,
                result.error_code,
                result.log_digest,
                result.log_blob_id,
            )
        if enclave is None:
            self.add("result.signature", False, "no enclave key to check the signature with")
            return
        ok = verify_result(enclave.pk, payload, result.timestamp_ms, result.signature)
        kind = "success" if result.succeeded else "failure"
        self.add(
            "result.signature",
            ok,
            f"Ed25519 over the {kind} payload, key {_short(enclave.pk)}: "
            + ("valid" if ok else "does not verify"),
        )

    # --- blobs -------------------------------------------------------------------------------------------

    async def _blob_check(
        self, name: str, action: Callable[[], Awaitable[tuple[bool, str]]]
    ) -> bool:
        """Run one blob check; a missing or corrupt blob fails it, an outage propagates."""
        try:
            ok, detail = await action()
        except BlobStoreUnavailable:
            raise
        except (BlobStoreError, ValueError, zlib.error) as exc:
            ok, detail = False, str(exc)
        return self.add(name, ok, detail)

    async def _source(self, request: BuildRequestObject) -> None:
        spec = request.spec

        async def check() -> tuple[bool, str]:
            size, digest = await _digest(
                self.store, spec.source_blob_id, max_bytes=self.options.max_source_bytes
            )
            if digest != spec.source_sha256:
                return False, (
                    f"blob {spec.source_blob_id}: {size} bytes with sha256 {digest.hex()}, "
                    f"the spec says {spec.source_sha256.hex()}"
                )
            return True, f"blob {spec.source_blob_id}: {size} bytes, sha256 {digest.hex()}"

        await self._blob_check("source", check)

    async def _image(self, request: BuildRequestObject, result: BuildResult) -> None:
        manifest_digest = "sha256:" + result.image_digest.hex()
        index_holder: list[ImageIndex] = []

        async def index_check() -> tuple[bool, str]:
            data = await self.store.read(result.image_index_blob_id, max_bytes=MAX_INDEX_BYTES)
            index = ImageIndex.from_bytes(data)
            index_holder.append(index)
            if index.manifest != manifest_digest:
                return (
                    False,
                    f"the index names manifest {index.manifest}, the chain {manifest_digest}",
                )
            return True, (
                f"blob {result.image_index_blob_id}: {len(index.blobs)} blobs, "
                f"{index.total_size} bytes, platform {index.platform}"
            )

        await self._blob_check("image.index", index_check)
        if not index_holder:
            return
        index = index_holder[0]
        manifest_holder: list[dict[str, Any]] = []

        async def manifest_check() -> tuple[bool, str]:
            entry = index.blobs.get(manifest_digest) or index.manifest_entry
            data = await _read_entry(self.store, entry, max_bytes=_MAX_CONFIG_BYTES)
            actual = "sha256:" + hashlib.sha256(data).hexdigest()
            if actual != manifest_digest:
                return False, f"the manifest hashes to {actual}, the chain says {manifest_digest}"
            document = json.loads(data)
            if not isinstance(document, dict) or document.get("mediaType") != MANIFEST_MEDIA_TYPE:
                return False, "the manifest is not an OCI image manifest"
            manifest_holder.append(document)
            return True, f"{manifest_digest} ({len(data)} bytes)"

        await self._blob_check("image.manifest", manifest_check)
        if not manifest_holder:
            return
        manifest = manifest_holder[0]
        diff_ids: list[str] = []
        platforms: list[str] = []

        async def config_check() -> tuple[bool, str]:
            descriptor = _descriptor(manifest.get("config"))
            entry = _entry(index, descriptor)
            data = await _read_entry(self.store, entry, max_bytes=_MAX_CONFIG_BYTES)
            actual = "sha256:" + hashlib.sha256(data).hexdigest()
            if actual != descriptor[0] or len(data) != descriptor[1]:
                return False, (
                    f"the config is {len(data)} bytes with digest {actual}, the manifest says "
                    f"{descriptor[1]} bytes with {descriptor[0]}"
                )
            config = json.loads(data)
            rootfs = config.get("rootfs") if isinstance(config, dict) else None
            if isinstance(rootfs, dict) and isinstance(rootfs.get("diff_ids"), list):
                diff_ids.extend(str(d) for d in rootfs["diff_ids"])
            platforms.append(_platform(config))
            return True, f"{actual} ({len(data)} bytes)"

        config_ok = await self._blob_check("image.config", config_check)
        if platforms:
            ok = platforms[0] == request.spec.platform
            self.add(
                "image.platform",
                ok,
                platforms[0] + ("" if ok else f", the spec asked for {request.spec.platform}"),
            )
        else:
            self.add("image.platform", False, "the image config is unreadable")
        layers = manifest.get("layers")
        if not isinstance(layers, list) or not layers:
            self.add("image.layer", False, "the manifest lists no layers")
            return
        for number, layer in enumerate(layers):
            diff_id = diff_ids[number] if config_ok and number < len(diff_ids) else None

            async def layer_check(
                layer: object = layer, diff_id: str | None = diff_id
            ) -> tuple[bool, str]:
                descriptor = _descriptor(layer)
                entry = _entry(index, descriptor)
                problem, uncompressed = await _check_layer(self.store, entry, descriptor)
                if problem:
                    return False, problem
                chunks = len(entry.chunks)
                detail = (
                    f"{descriptor[0]} ({descriptor[1]} bytes in {chunks} "
                    f"chunk{'s' if chunks != 1 else ''})"
                )
                if diff_id is None:
                    return False, detail + ": no diff_id in the config for this layer"
                if uncompressed != diff_id:
                    return (
                        False,
                        detail + f": decompresses to {uncompressed}, the config says {diff_id}",
                    )
                return True, detail

            await self._blob_check(f"image.layer.{number}", layer_check)

    async def _log(self, result: BuildResult) -> None:
        if not result.log_blob_id:
            text = (
                "no log blob was stored (Walrus was unreachable): the log digest cannot be checked"
            )
            self.add("log", True, text)
            self.warn(text)
            return

        async def check() -> tuple[bool, str]:
            size, digest = await _digest(self.store, result.log_blob_id, max_bytes=_MAX_LOG_BYTES)
            if digest != result.log_digest:
                return False, (
                    f"blob {result.log_blob_id}: sha256 {digest.hex()}, the result says "
                    f"{result.log_digest.hex()}"
                )
            return True, f"blob {result.log_blob_id}: {size} bytes, sha256 {digest.hex()}"

        await self._blob_check("log", check)


# --- helpers ---------------------------------------------------------------------------------------------


def _same_type(actual: str | None, expected: str) -> bool:
    if actual is None:
        return False
    parts = actual.split("::")
    if len(parts) != 3:
        return False
    try:
        return f"{normalize_address(parts[0])}::{parts[1]}::{parts[2]}" == expected
    except CodecError:
        return False


def _document_timestamp(checks: Sequence[Check], raw: bytes) -> int | None:
    if not checks or not checks[0].ok:
        return None
    from daas.attestation import parse_document

    return parse_document(raw).timestamp_ms


def _descriptor(value: object) -> tuple[str, int]:
    """(digest, size) of a manifest descriptor; `ValueError` if malformed."""
    if not isinstance(value, dict):
        raise ValueError("a manifest descriptor is not an object")
    digest = check_digest(str(value.get("digest")))
    size = value.get("size")
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"the descriptor of {digest} has no valid size")
    return digest, size


def _entry(index: ImageIndex, descriptor: tuple[str, int]) -> BlobEntry:
    entry = index.blobs.get(descriptor[0])
    if entry is None:
        raise ValueError(f"the image index does not hold {descriptor[0]}")
    if entry.size != descriptor[1]:
        raise ValueError(
            f"the index says {descriptor[0]} is {entry.size} bytes, the manifest {descriptor[1]}"
        )
    return entry


def _platform(config: object) -> str:
    if not isinstance(config, dict):
        return "unknown"
    platform = f"{config.get('os', '?')}/{config.get('architecture', '?')}"
    if config.get("variant"):
        platform += f"/{config['variant']}"
    return platform


async def _digest(store: BlobStore, blob_id: str, *, max_bytes: int) -> tuple[int, bytes]:
    """Size and sha256 of a blob, streamed."""
    digest = hashlib.sha256()
    size = 0
    async with store.open_stream(blob_id, max_bytes=max_bytes) as chunks:
        async for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
    return size, digest.digest()


async def _chunks(store: BlobStore, entry: BlobEntry) -> AsyncIterator[bytes]:
    """The bytes of an OCI blob, chunk after chunk; `ValueError` naming a chunk that differs from the index."""
    for number, chunk in enumerate(entry.chunks):
        digest = hashlib.sha256()
        size = 0
        async with store.open_stream(chunk.blob_id, max_bytes=chunk.size) as pieces:
            async for piece in pieces:
                digest.update(piece)
                size += len(piece)
                yield piece
        if size != chunk.size or digest.hexdigest() != chunk.sha256:
            raise ValueError(
                f"chunk {number} ({chunk.blob_id}) of {entry.digest} is {size} bytes with sha256 "
                f"{digest.hexdigest()}, the index says {chunk.size} bytes with {chunk.sha256}"
            )


async def _read_entry(store: BlobStore, entry: BlobEntry, *, max_bytes: int) -> bytes:
    if entry.size > max_bytes:
        raise ValueError(f"{entry.digest} is {entry.size} bytes, more than {max_bytes} expected")
    parts = [piece async for piece in _chunks(store, entry)]
    return b"".join(parts)


async def _check_layer(
    store: BlobStore, entry: BlobEntry, descriptor: tuple[str, int]
) -> tuple[str | None, str]:
    """(problem or None, `sha256:` of the decompressed layer) for a gzip layer, streamed."""
    compressed = hashlib.sha256()
    uncompressed = hashlib.sha256()
    size = 0
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, several members handled below
    async for piece in _chunks(store, entry):
        compressed.update(piece)
        size += len(piece)
        data = piece
        while data:
            uncompressed.update(inflater.decompress(data, _READ))
            data = inflater.unconsumed_tail
            if inflater.eof and inflater.unused_data:
                rest = inflater.unused_data
                inflater = zlib.decompressobj(wbits=47)
                data = rest
    uncompressed.update(inflater.flush())
    actual = "sha256:" + compressed.hexdigest()
    if actual != descriptor[0] or size != descriptor[1]:
        return (
            f"the layer is {size} bytes with digest {actual}, the manifest says "
            f"{descriptor[1]} bytes with {descriptor[0]}"
        ), ""
    return None, "sha256:" + uncompressed.hexdigest()
