"""Settings: built once per process by `load_settings` and passed down; never a module-level singleton.

Sources, highest priority first: keyword overrides (the CLI's flags), environment variables (`DAAS_` prefix,
`__` between nested names: `DAAS_RUNNER__MEMORY_MB=4096`), an optional TOML file (`--config FILE`, or
`DAAS_CONFIG_FILE`), then defaults. A network preset (`localnet`, `devnet`, `testnet`, `mainnet`) supplies the
endpoints; every endpoint can be overridden one by one. Invalid values fail at start with a `ConfigError` that
names the setting and its environment variable.
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from daas.errors import ConfigError

ENV_PREFIX = "DAAS_"
MIB = 1024 * 1024
GIB = 1024 * MIB


class Network(enum.StrEnum):
    LOCALNET = "localnet"
    DEVNET = "devnet"
    TESTNET = "testnet"
    MAINNET = "mainnet"


@dataclasses.dataclass(frozen=True)
class NetworkPreset:
    grpc_url: str
    # None where the network is re-created from genesis (localnet, devnet): the id cannot be pinned.
    chain_id: str | None
    archive_grpc_url: str | None
    walrus_publisher_url: str | None
    walrus_aggregator_url: str
    # `{id}` / `{digest}`, and `{rpc}`: the node's URL, for explorers of custom networks.
    explorer_object_url: str
    explorer_tx_url: str


PRESETS: dict[Network, NetworkPreset] = {
    Network.LOCALNET: NetworkPreset(
        grpc_url="http://127.0.0.1:9000",
        chain_id=None,
        archive_grpc_url=None,
        walrus_publisher_url="http://127.0.0.1:31415",
        walrus_aggregator_url="http://127.0.0.1:31415",
        explorer_object_url="https://custom.suiscan.xyz/custom/object/{id}?network={rpc}",
        explorer_tx_url="https://custom.suiscan.xyz/custom/tx/{digest}?network={rpc}",
    ),
    Network.DEVNET: NetworkPreset(
        grpc_url="https://fullnode.devnet.sui.io:443",
        chain_id=None,
        archive_grpc_url=None,
        # Walrus has no devnet; blob ids are plain strings on chain, so testnet storage serves devnet too.
        walrus_publisher_url="https://publisher.walrus-testnet.walrus.space",
        walrus_aggregator_url="https://aggregator.walrus-testnet.walrus.space",
        explorer_object_url="https://suiscan.xyz/devnet/object/{id}",
        explorer_tx_url="https://suiscan.xyz/devnet/tx/{digest}",
    ),
    Network.TESTNET: NetworkPreset(
        grpc_url="https://fullnode.testnet.sui.io:443",
        chain_id="69WiPg3DAQiwdxfncX6wYQ2siKwAe6L9BZthQea3JNMD",
        archive_grpc_url="https://archive.testnet.sui.io:443",
        walrus_publisher_url="https://publisher.walrus-testnet.walrus.space",
        walrus_aggregator_url="https://aggregator.walrus-testnet.walrus.space",
        explorer_object_url="https://suiscan.xyz/testnet/object/{id}",
        explorer_tx_url="https://suiscan.xyz/testnet/tx/{digest}",
    ),
    Network.MAINNET: NetworkPreset(
        grpc_url="https://fullnode.mainnet.sui.io:443",
        chain_id="4btiuiMPvEENsttpZC7CZ53DruC3MAgfznDbASZ7DR6S",
        archive_grpc_url="https://archive.mainnet.sui.io:443",
        # There is no public mainnet publisher: operators must run or rent one and set it.
        walrus_publisher_url=None,
        walrus_aggregator_url="https://aggregator.walrus-mainnet.walrus.space",
        explorer_object_url="https://suiscan.xyz/mainnet/object/{id}",
        explorer_tx_url="https://suiscan.xyz/mainnet/tx/{digest}",
    ),
}


def _check_url(value: str | None, *, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{value!r} is not an {' or '.join(schemes)} URL with a host")
    return value.rstrip("/")


def _check_object_id(value: str | None) -> str | None:
    if value is None:
        return None
    digits = value[2:] if value.startswith("0x") else ""
    if not 1 <= len(digits) <= 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"{value!r} is not a 0x-prefixed Sui object id")
    return "0x" + digits.lower().rjust(64, "0")


class _Section(BaseModel):
    # A misspelt key in a file or environment variable must fail, not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class ChainSettings(_Section):
    """The Sui node and our package's objects on it."""

    grpc_url: str | None = Field(None, description="overrides the preset's fullnode gRPC URL")
    archive_grpc_url: str | None = Field(
        None, description="gRPC endpoint for checkpoints the fullnode has pruned"
    )
    chain_id: str | None = Field(None, description="expected chain id; overrides the preset's")
    package_id: str | None = None
    extra_package_ids: list[str] = Field(
        default_factory=list,
        description="earlier ids of an upgraded package, whose event types keep their defining package",
    )
    registry_id: str | None = None
    enclave_config_id: str | None = None
    gas_budget: int = Field(100_000_000, ge=1_000_000, description="MIST per transaction")
    request_timeout_s: float = Field(30.0, gt=0)
    api_token: SecretStr | None = Field(None, description="x-token header for RPC providers")

    _urls = field_validator("grpc_url", "archive_grpc_url")(_check_url)
    _ids = field_validator("package_id", "registry_id", "enclave_config_id")(_check_object_id)

    @field_validator("extra_package_ids")
    @classmethod
    def _extra_ids(cls, values: list[str]) -> list[str]:
        return [str(_check_object_id(value)) for value in values]


class WalrusSettings(_Section):
    """Walrus publisher (writes) and aggregator (reads)."""

    publisher_url: str | None = None
    aggregator_url: str | None = None
    max_request_bytes: int = Field(
        10 * MIB, ge=64 * 1024, description="public publishers accept 10 MiB per request"
    )
    epochs: int = Field(5, ge=1, le=53, description="storage epochs bought per blob")
    retries: int = Field(5, ge=0, le=20)
    timeout_s: float = Field(60.0, gt=0)

    _urls = field_validator("publisher_url", "aggregator_url")(_check_url)


class KeySettings(_Section):
    """Where keys live. Keys themselves never enter the database or the logs."""

    sui_keystore: Path = Field(
        Path("~/.sui/sui_config/sui.keystore"), description="Sui CLI keystore (JSON list)"
    )
    sui_address: str | None = Field(None, description="which keystore entry signs; default first")
    sui_private_key: SecretStr | None = Field(None, description="a suiprivkey1... string")
    enclave_key_file: Path | None = Field(
        None, description="runner's local attestor key (0600); default DATA_DIR/enclave.key"
    )

    @field_validator("sui_private_key")
    @classmethod
    def _bech32(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("suiprivkey1"):
            raise ValueError("must be a bech32 string starting with 'suiprivkey1'")
        return value

    _addr = field_validator("sui_address")(_check_object_id)


class RunnerSettings(_Section):
    """Limits and timing of the build runner."""

    runner_id: str | None = Field(None, description="default: hostname-pid")
    memory_mb: int = Field(2048, ge=64, description="memory limit of a build")
    cpus: float = Field(1.0, gt=0, le=64)
    build_timeout_s: int = Field(1800, ge=10, description="wall-clock limit of a build")
    max_bundle_bytes: int = Field(256 * MIB, ge=1024)
    max_unpacked_bytes: int = Field(1 * GIB, ge=1024, description="guards against bombs")
    max_files: int = Field(20_000, ge=1)
    max_image_bytes: int = Field(4 * GIB, ge=MIB)
    lease_s: int = Field(60, ge=5, description="claim lease; renewed every lease_s / 2")
    max_attempts: int = Field(3, ge=1, le=20)
    poll_interval_s: float = Field(2.0, gt=0)
    work_dir: Path | None = Field(None, description="default: DATA_DIR/work")
    docker_url: str | None = Field(None, description="default: DOCKER_HOST or the local socket")


class IndexerSettings(_Section):
    pipeline: str = Field("daas_events", min_length=1, max_length=64)
    first_checkpoint: int | None = Field(
        None, ge=0, description="only for a pipeline with no watermark"
    )
    batch_checkpoints: int = Field(100, ge=1, le=10_000)
    max_ahead: int = Field(1000, ge=1, description="checkpoints fetched beyond the watermark")
    progress_interval_s: float = Field(10.0, gt=0)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = Field(None, description="how clients reach the API (registry host)")
    cors_origins: list[str] = Field(default_factory=list)
    sse_ping_s: float = Field(15.0, gt=0)
    sse_send_timeout_s: float = Field(30.0, gt=0)
    sse_client_buffer: int = Field(1000, ge=10)
    index_wait_s: float = Field(
        5.0, ge=0, le=60, description="how long an executed request waits for the indexer's row"
    )
    web_dir: Path | None = Field(
        None, description="the built dashboard (web/dist) served at /; default: the repository's"
    )

    _url = field_validator("public_url")(_check_url)


# The TOML file of the `load_settings` call in progress; a ContextVar, not a global, so concurrent loads
# (tests) never see each other's file.
_toml_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("daas_toml", default=None)


class Settings(BaseSettings):
    """Every setting of every DaaS process. Build with `load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    network: Network = Network.LOCALNET
    data_dir: Path = Field(Path("~/.local/share/daas"), description="database, keys, work files")
    database_url: str | None = Field(None, description="default: SQLite file DATA_DIR/daas.db")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    chain: ChainSettings = Field(default_factory=ChainSettings)
    walrus: WalrusSettings = Field(default_factory=WalrusSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    indexer: IndexerSettings = Field(default_factory=IndexerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _toml_file.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme
        if scheme not in ("sqlite", "postgresql", "postgresql+psycopg", "postgres"):
            raise ValueError(
                f"unsupported scheme {scheme!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
            )
        return value

    @model_validator(mode="after")
    def _network_needs(self) -> Settings:
        if self.network is Network.MAINNET and self.keys.sui_private_key is not None:
            # Not an error, but a plain-text key in the environment of a mainnet service deserves a
            # keystore; we refuse rather than warn because warnings scroll away.
            raise ValueError(
                "keys.sui_private_key is refused on mainnet: use keys.sui_keystore instead"
            )
        return self

    # --- derived values ---------------------------------------------------------------------------------

    @property
    def preset(self) -> NetworkPreset:
        return PRESETS[self.network]

    @property
    def grpc_url(self) -> str:
        return self.chain.grpc_url or self.preset.grpc_url

    @property
    def archive_grpc_url(self) -> str | None:
        return self.chain.archive_grpc_url or self.preset.archive_grpc_url

    @property
    def expected_chain_id(self) -> str | None:
        return self.chain.chain_id or self.preset.chain_id

    @property
    def walrus_publisher_url(self) -> str | None:
        return self.walrus.publisher_url or self.preset.walrus_publisher_url

    @property
    def walrus_aggregator_url(self) -> str:
        return self.walrus.aggregator_url or self.preset.walrus_aggregator_url

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'daas.db'}"

    @property
    def enclave_key_file(self) -> Path:
        return (self.keys.enclave_key_file or self.data_dir / "enclave.key").expanduser()

    @property
    def work_dir(self) -> Path:
        return (self.runner.work_dir or self.data_dir / "work").expanduser()

    @property
    def registry_host(self) -> str:
        """`host:port` under which `docker pull` and Kubernetes reach the API's `/v2` registry."""
        if self.api.public_url:
            return urlsplit(self.api.public_url).netloc
        return f"{self.api.host}:{self.api.port}"

    def explorer_object_url(self, object_id: str) -> str:
        return self.preset.explorer_object_url.format(id=object_id, rpc=self._rpc_param)

    def explorer_tx_url(self, digest: str) -> str:
        return self.preset.explorer_tx_url.format(digest=digest, rpc=self._rpc_param)

    @property
    def _rpc_param(self) -> str:
        # Custom-network explorers take the node's URL as a query parameter (localnet stacks move ports).
        return quote(self.grpc_url, safe="")

    def redacted(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets masked, derived endpoints included."""
        data = self.model_dump(mode="json")
        data["database_url"] = redact_url(self.effective_database_url)
        data["effective"] = {
            "grpc_url": self.grpc_url,
            "archive_grpc_url": self.archive_grpc_url,
            "expected_chain_id": self.expected_chain_id,
            "walrus_publisher_url": self.walrus_publisher_url,
            "walrus_aggregator_url": self.walrus_aggregator_url,
            "enclave_key_file": str(self.enclave_key_file),
            "work_dir": str(self.work_dir),
        }
        return data


def redact_url(url: str) -> str:
    """Hide the password of a URL (`postgresql://user:secret@host/db` → `user:***@host`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _setting_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _describe(exc: ValidationError) -> tuple[str, str]:
    lines = []
    first = ""
    for error in exc.errors():
        name = _setting_name(error["loc"])
        first = first or name
        env = ENV_PREFIX + "__".join(str(p) for p in error["loc"]).upper()
        if error["type"] == "extra_forbidden":
            lines.append(f"  {name}: unknown setting")
        else:
            lines.append(f"  {name} (env {env}): {error['msg']}")
    return first, "invalid settings:\n" + "\n".join(lines)


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings of this process. Raises `ConfigError` naming every invalid setting."""
    path = config_file or os.environ.get(ENV_PREFIX + "CONFIG_FILE") or None
    toml_path = Path(path).expanduser() if path else None
    if toml_path is not None and not toml_path.is_file():
        raise ConfigError(f"config file {toml_path} does not exist", setting="config_file")
    token = _toml_file.set(toml_path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        setting, message = _describe(exc)
        raise ConfigError(message, setting=setting) from exc
    except ValueError as exc:  # malformed TOML surfaces as a ValueError subclass
        raise ConfigError(f"config file {toml_path}: {exc}", setting="config_file") from exc
    finally:
        _toml_file.reset(token)
