"""Getting an attestor's key on chain as an `Enclave`, and finding that enclave again at the next start.

- `ensure_debug_enclave`: development. The admin registers a `LocalKeyAttestor`'s key with
  `builds::register_debug_enclave`, which the registry accepts only while `allow_debug` is on (never on a
  production network). The enclave id is written to an `EnclaveRecord` beside the key file.
- `register_attested_enclave`: production. Anyone submits `enclave::register_enclave` with the NSM's
  attestation document; the chain checks it against the AWS root and the configured PCRs.
- `resolve_enclave`: the runner at start. The enclave id from the record, checked on chain: the object holds
  this key, belongs to the registry's enclave config at its current version, and, if it is a debug enclave,
  the registry still allows debug enclaves. Anything else is a `ConfigError` that says what to do.

The record (`<key file>.enclave.json`, mode 0644) holds ids and the public key only, never a secret.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from daas.attestation.attestor import Attestor
from daas.chain.bcs import normalize_address
from daas.chain.codecs import EnclaveConfigObject, EnclaveObject, RegistryObject
from daas.chain.ports import ChainWriter
from daas.chain.transactions import DaasPackage, TransactionSubmitter
from daas.chain.types import ExecutionResult
from daas.errors import ChainError, CodecError, ConfigError, ObjectNotFound

__all__ = [
    "EnclaveRecord",
    "check_enclave",
    "ensure_debug_enclave",
    "record_path_for",
    "register_attested_enclave",
    "resolve_enclave",
]

log = logging.getLogger(__name__)

_SETTING = "keys.enclave_key_file"


@dataclasses.dataclass(frozen=True)
class EnclaveRecord:
    """Which on-chain enclave holds a key, on which chain and package."""

    enclave_id: str
    public_key: str  # hex
    chain_id: str
    package_id: str
    enclave_config_id: str
    debug: bool
    tx_digest: str | None = None

    def matches(self, attestor: Attestor, package: DaasPackage, chain_id: str) -> bool:
        return (
            self.public_key == attestor.public_key.hex()
            and self.chain_id == chain_id
            and normalize_address(self.package_id) == package.package_id
            and normalize_address(self.enclave_config_id) == package.enclave_config_id
        )

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> EnclaveRecord | None:
        """The record at `path`; None if there is none or it is unreadable (it is then re-created)."""
        try:
            data: Any = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring the unreadable enclave record %s: %s", path, exc)
            return None


def record_path_for(key_file: Path) -> Path:
    """Where the record of the enclave holding the key in `key_file` is kept."""
    return key_file.with_name(key_file.name + ".enclave.json")


async def _read(writer: ChainWriter, object_id: str, what: str) -> bytes:
    info = await writer.get_object(object_id)
    if info.contents is None:
        raise ChainError(f"the node returned {what} {object_id} without its contents")
    return info.contents


async def check_enclave(
    writer: ChainWriter, package: DaasPackage, enclave_id: str, public_key: bytes
) -> EnclaveObject:
    """The enclave `enclave_id`, if it can post results signed by `public_key` now; else `ConfigError`."""
    try:
        enclave = EnclaveObject.from_bcs(await _read(writer, enclave_id, "enclave"))
        config = EnclaveConfigObject.from_bcs(
            await _read(writer, package.enclave_config_id, "enclave config")
        )
        registry = RegistryObject.from_bcs(await _read(writer, package.registry_id, "registry"))
    except ObjectNotFound as exc:
        raise ConfigError(
            f"enclave {enclave_id} is not on chain ({exc}): register the key again",
            setting=_SETTING,
        ) from exc
    except CodecError as exc:
        raise ConfigError(f"enclave {enclave_id} does not decode: {exc}", setting=_SETTING) from exc
    problem = None
    if enclave.pk != public_key:
        problem = "holds another public key"
    elif normalize_address(registry.enclave_config_id) != package.enclave_config_id:
        problem = f"the registry now uses enclave config {registry.enclave_config_id}"
    elif normalize_address(enclave.config_id) != package.enclave_config_id:
        problem = f"belongs to enclave config {enclave.config_id}"
    elif enclave.config_version != config.version:
        problem = (
            f"is stale (registered under config version {enclave.config_version}, "
            f"the config is at {config.version}): register the key again"
        )
    elif enclave.debug and not registry.allow_debug:
        problem = "is a debug enclave and the registry no longer allows debug enclaves"
    if problem is not None:
        raise ConfigError(
            f"enclave {enclave_id} cannot post results: it {problem}", setting=_SETTING
        )
    return enclave


def _created_enclave(result: ExecutionResult) -> str:
    for change in result.created:
        if change.object_type and change.object_type.endswith("::enclave::Enclave"):
            return change.object_id
    raise ChainError(f"transaction {result.digest} created no Enclave object")


async def ensure_debug_enclave(
    writer: ChainWriter,
    admin: TransactionSubmitter,
    package: DaasPackage,
    *,
    admin_cap_id: str,
    attestor: Attestor,
    chain_id: str,
    record_path: Path,
) -> EnclaveRecord:
    """The debug enclave holding `attestor`'s key: the recorded one if still usable, else a new one.

    `admin` signs with the key that owns `admin_cap_id`. Raises `ConfigError` when the registry does not
    allow debug enclaves (switch `allow_debug` on with the admin key first; never on a public network).
    """
    existing = EnclaveRecord.load(record_path)
    if existing is not None and existing.matches(attestor, package, chain_id):
        try:
            await check_enclave(writer, package, existing.enclave_id, attestor.public_key)
        except ConfigError as exc:
            log.info("registering the key again: %s", exc)
        else:
            return existing
    registry = RegistryObject.from_bcs(await _read(writer, package.registry_id, "registry"))
    if not registry.allow_debug:
        raise ConfigError(
            f"the registry {package.registry_id} does not allow debug enclaves: as the admin, call "
            "builds::set_allow_debug(true) first (development networks only)",
            setting="chain.registry_id",
        )
    result = await admin.submit(package.register_debug_enclave(admin_cap_id, attestor.public_key))
    record = EnclaveRecord(
        enclave_id=_created_enclave(result),
        public_key=attestor.public_key.hex(),
        chain_id=chain_id,
        package_id=package.package_id,
        enclave_config_id=package.enclave_config_id,
        debug=True,
        tx_digest=result.digest,
    )
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record.save(record_path)
    log.info("registered debug enclave %s (transaction %s)", record.enclave_id, result.digest)
    return record


async def register_attested_enclave(
    submitter: TransactionSubmitter,
    package: DaasPackage,
    *,
    document: bytes,
    public_key: bytes,
    chain_id: str,
    record_path: Path | None = None,
) -> EnclaveRecord:
    """Register the key attested by `document` (from `NitroAttestor.attestation_document`); anyone may."""
    result = await submitter.submit(package.register_enclave(document))
    record = EnclaveRecord(
        enclave_id=_created_enclave(result),
        public_key=public_key.hex(),
        chain_id=chain_id,
        package_id=package.package_id,
        enclave_config_id=package.enclave_config_id,
        debug=False,
        tx_digest=result.digest,
    )
    if record_path is not None:
        record.save(record_path)
    log.info("registered attested enclave %s (transaction %s)", record.enclave_id, result.digest)
    return record


async def resolve_enclave(
    writer: ChainWriter,
    package: DaasPackage,
    attestor: Attestor,
    *,
    chain_id: str,
    record_path: Path,
) -> str:
    """The id of the usable enclave holding `attestor`'s key, from the record at `record_path`."""
    record = EnclaveRecord.load(record_path)
    if record is None or not record.matches(attestor, package, chain_id):
        raise ConfigError(
            f"no enclave is recorded for the key {attestor.public_key.hex()} on this chain and package "
            f"({record_path}): register it first (development: `daas runner --register-debug-enclave "
            "--admin-cap ID` with the admin's key)",
            setting=_SETTING,
        )
    await check_enclave(writer, package, record.enclave_id, attestor.public_key)
    return record.enclave_id
