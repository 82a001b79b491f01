"""Shared plumbing of the user commands (`submit`, `watch`, `verify`, `pull`, `keys`, `enclave`).

Exit codes, the same for every one of them:

| code | meaning |
|---|---|
| 0 | success (for `watch` and `submit`: the build SUCCEEDED; for `verify`: every check passed) |
| 1 | the build FAILED or was CANCELLED, a verification check failed, or another error |
| 2 | usage or configuration: a bad argument, a missing or invalid setting, no usable key |
| 3 | unreachable: the Sui node, Walrus, the API or the Docker engine did not answer |
| 4 | not found: no such build request |

Errors are one line on stderr. `main()` turns `DaasError`s raised here into exit code 1 (2 for `ConfigError`);
the classes mapped by `exit_on_errors` get the codes above. A code leaves through `SystemExit`, because
`main()` runs the app with `standalone_mode=False`, where click would swallow a `typer.Exit` code.
"""

from __future__ import annotations

import contextlib
import enum
import re
import sys
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console
from rich.markup import escape

from daas.config import Settings
from daas.errors import (
    BlobStoreUnavailable,
    ChainUnavailable,
    ConfigError,
    DaasError,
    KeyError_,
    NotFound,
    ObjectNotFound,
    OutcomeUnknown,
)

if TYPE_CHECKING:
    from daas.chain.client import SuiClient
    from daas.walrus import WalrusClient

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "DockerUnavailable",
    "ExitCode",
    "api_base_url",
    "connect_chain",
    "exit_on_errors",
    "exit_with",
    "human_console",
    "human_size",
    "normalize_request_id",
    "open_walrus",
]


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    NOT_FOUND = 4


class ApiUnavailable(DaasError):
    """The DaaS API (SSE, REST) did not answer."""


class ApiError(DaasError):
    """The DaaS API answered with an unexpected status."""


class DockerUnavailable(DaasError):
    """The local Docker engine cannot be reached."""


_KEY_HINT = (
    "set keys.sui_private_key (environment DAAS_KEYS__SUI_PRIVATE_KEY, a suiprivkey1... string) or "
    "keys.sui_keystore (DAAS_KEYS__SUI_KEYSTORE, a Sui CLI keystore), optionally keys.sui_address; "
    "`daas keys new` makes a key"
)


def human_console() -> Console:
    """Human output: stderr, lines never cut by rich (a terminal wraps them itself, a log keeps them whole)."""
    return Console(stderr=True, soft_wrap=True)


def exit_with(console: Console, message: str, code: ExitCode) -> NoReturn:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.stdout.flush()
    raise SystemExit(int(code))


@contextlib.contextmanager
def exit_on_errors(console: Console) -> Iterator[None]:
    """Map the errors a user command expects to its exit codes (others go on to `main()`)."""
    try:
        yield
    except (ChainUnavailable, BlobStoreUnavailable, ApiUnavailable, DockerUnavailable) as exc:
        exit_with(console, str(exc), ExitCode.UNREACHABLE)
    except (NotFound, ObjectNotFound) as exc:
        exit_with(console, str(exc), ExitCode.NOT_FOUND)
    except KeyError_ as exc:
        # The hint is about the user's Sui key; the runner's enclave key file has its own setting.
        hint = "" if "enclave key" in str(exc) else f". {_KEY_HINT}"
        exit_with(console, f"no usable key: {exc}{hint}", ExitCode.USAGE)
    except ConfigError as exc:
        exit_with(console, str(exc), ExitCode.USAGE)
    except DaasError as exc:
        exit_with(console, str(exc), ExitCode.FAILED)


_OBJECT_ID = re.compile(r"^0x[0-9a-fA-F]{1,64}$")


def normalize_request_id(value: str) -> str:
    """`0x` + 64 lower-case hex digits; `ConfigError` (exit 2) for anything else."""
    if not _OBJECT_ID.match(value):
        raise ConfigError(
            f"{value!r} is not a request id (a Sui object id: 0x followed by up to 64 hex digits)"
        )
    return "0x" + value[2:].lower().rjust(64, "0")


def api_base_url(settings: Settings, override: str | None) -> str:
    """Where the DaaS API is: `--api`, else `api.public_url`, else `api.host:api.port` on loopback."""
    if override:
        url = override
    elif settings.api.public_url:
        url = settings.api.public_url
    else:
        host = settings.api.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # a wildcard listen address is reached through loopback
        if ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{settings.api.port}"
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"the API URL {url!r} is not an http:// or https:// URL", setting="api")
    return url.rstrip("/")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def connect_chain(settings: Settings) -> AsyncIterator[SuiClient]:
    """A connected `SuiClient`; transient failures name the node's URL (and the setting for it)."""
    from daas.chain.client import SuiClient

    client = SuiClient.from_settings(settings)
    where = f"the Sui node at {client.url} (chain.grpc_url)"
    try:
        try:
            await client.connect()
        except ChainUnavailable as exc:
            raise ChainUnavailable(f"cannot reach {where}: {exc}") from exc
        try:
            yield client
        except OutcomeUnknown:
            raise
        except ChainUnavailable as exc:
            raise ChainUnavailable(f"{where}: {exc}") from exc
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def open_walrus(settings: Settings) -> AsyncIterator[WalrusClient]:
    """A `WalrusClient` for the settings; outages name the publisher and aggregator URLs."""
    from daas.walrus import WalrusClient

    client = WalrusClient.from_settings(settings)
    try:
        yield client
    except BlobStoreUnavailable as exc:
        urls = f"aggregator {client.aggregator_url}"
        if client.publisher_url:
            urls = f"publisher {client.publisher_url}, {urls}"
        raise BlobStoreUnavailable(f"cannot reach Walrus ({urls}): {exc}") from exc
    finally:
        await client.aclose()
