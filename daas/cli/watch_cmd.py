"""`daas watch ID`: follow a build live through the API's Server-Sent Events until it is settled on chain.

The stream is `GET /v1/builds/{id}/events`: `id:` is the global event id, `event:` the kind (`status`, `step`,
`log`, `result`), `data:` one JSON object (`id`, `build_id`, `kind`, `created_at_ms`, `final`, `payload`). An
event counts only once its blank line arrived (as EventSource does), and only then does the cursor move. When
the connection drops, or the server ends the stream before the build's final event, `follow` reconnects with
`Last-Event-ID: <cursor>`: the API replays exactly what came after it, so no event (and no log line) is lost or
shown twice; log lines are also de-duplicated by their line number. A 204 answer means the build is settled
and nothing was missed; the final status is then read from `GET /v1/builds/{id}`. After the final event the
stream goes on with the runner's closing lines until the server ends it; `follow` returns then.

A 404 right after `daas submit` usually means the indexer has not seen the request yet: `follow` asks the chain
whether the request exists (no: exit 4 at once) and otherwise waits for the API to learn about it.

Output: a step display, the log as it comes, and a summary on stderr; with `--json`, each event's `data` object
as one line on stdout. Exit code 0 only when the build SUCCEEDED; 1 when it FAILED or was CANCELLED; 2 for usage,
3 when the API stays unreachable, 4 for an unknown request (`daas.cli.common`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

import anyio
import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from daas.cli.app import app
from daas.cli.common import (
    ApiError,
    ApiUnavailable,
    ExitCode,
    api_base_url,
    exit_on_errors,
    human_console,
    normalize_request_id,
)
from daas.cli.output import state
from daas.config import Settings
from daas.errors import NotFound

__all__ = ["EventSink", "HumanDisplay", "JsonLines", "SseEvent", "SseParser", "follow"]

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
STEPS = ("fetching", "building", "exporting", "attesting", "submitting")
_MAX_BACKOFF_S = 5.0

ApiOption = Annotated[
    str | None,
    typer.Option(
        "--api", help="the DaaS API's base URL (default: api.public_url, else api.host:api.port)"
    ),
]
ReconnectOption = Annotated[
    float,
    typer.Option(
        "--reconnect-timeout",
        min=0,
        help="seconds to keep trying while the API cannot be reached (then exit 3)",
    ),
]


# --- SSE -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SseEvent:
    id: int | None
    kind: str
    data: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        payload = self.data.get("payload")
        return payload if isinstance(payload, dict) else {}


class SseParser:
    """The event stream format of the HTML standard, line by line; `feed` returns each completed event."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._data: list[str] = []
        self.retry_ms: int | None = None

    def feed(self, line: str) -> SseEvent | None:
        line = line.rstrip("\r")
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: the server's keep-alive ping
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        elif name in ("id", "event"):
            self._fields[name] = value
        return None

    def _dispatch(self) -> SseEvent | None:
        fields, data = self._fields, self._data
        self._fields, self._data = {}, []
        if not data:
            return None
        try:
            decoded = json.loads("\n".join(data))
        except ValueError as exc:
            raise ApiError(f"the API sent an event whose data is not JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise ApiError("the API sent an event whose data is not a JSON object")
        raw_id = fields.get("id", "")
        event_id = int(raw_id) if raw_id.isdigit() else None
        return SseEvent(event_id, fields.get("event", "message"), decoded)


def final_status(event: SseEvent) -> str | None:
    """The build's final on-chain status if this is its last event, else None."""
    payload = event.payload
    status = payload.get("status")
    if event.data.get("final") is True or payload.get("final") is True:
        return str(status) if status else "unknown"
    if event.kind in ("status", "result") and status in FINAL_STATUSES:
        return str(status)
    return None


# --- output ----------------------------------------------------------------------------------------------


class EventSink(Protocol):
    def event(self, event: SseEvent) -> None: ...

    def note(self, text: str) -> None: ...


class JsonLines:
    """`--json`: each event's data as one line on stdout, flushed at once."""

    def event(self, event: SseEvent) -> None:
        sys.stdout.write(json.dumps(event.data, separators=(",", ":"), sort_keys=True) + "\n")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        human_console().print(text, highlight=False)


class HumanDisplay:
    """Steps as a progress bar, log lines above it, step outcomes and the result as lines (stderr)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.completed}/{task.total} steps"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("waiting for a runner", total=len(STEPS))
        self.last_line = 0

    def __enter__(self) -> HumanDisplay:
        if self.console.is_terminal:  # a live display only where one can be redrawn
            self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def print(self, text: str | Text) -> None:
        self.progress.console.print(text, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.print(Text(text, style="yellow"))

    def event(self, event: SseEvent) -> None:
        payload = event.payload
        if event.kind == "log":
            self._log(payload)
        elif event.kind == "step":
            self._step(payload)
        elif event.kind in ("status", "result"):
            self._status(event.kind, payload)

    def _log(self, payload: dict[str, Any]) -> None:
        lines = payload.get("lines")
        for line in lines if isinstance(lines, list) else []:
            if not isinstance(line, dict):
                continue
            number = line.get("line")
            if isinstance(number, int):
                if number <= self.last_line:
                    continue  # already shown (a replay after a reconnect)
                self.last_line = number
            style = "dim" if line.get("stream") == "system" else ""
            self.print(Text("  │ " + str(line.get("text", "")), style=style))

    def _step(self, payload: dict[str, Any]) -> None:
        step = str(payload.get("step", "?"))
        phase = payload.get("phase")
        if step in STEPS:
            if phase == "started":
                attempt = payload.get("attempt")
                suffix = f" (attempt {attempt})" if isinstance(attempt, int) and attempt > 1 else ""
                self.progress.update(
                    self.task, description=f"{step}{suffix}", completed=STEPS.index(step)
                )
            elif phase == "finished":
                seconds = (payload.get("duration_ms") or 0) / 1000
                if payload.get("ok", True):
                    self.print(Text.assemble(("✓ ", "green"), f"{step} ({seconds:.1f} s)"))
                else:
                    error = payload.get("error") or "failed"
                    self.print(Text.assemble(("✗ ", "red"), f"{step} ({seconds:.1f} s): {error}"))
        elif step == "done":
            self.progress.update(self.task, description="settling on chain", completed=len(STEPS))
        elif step == "queued" and payload.get("outcome"):
            self.note(f"the runner gave the build back ({payload['outcome']}): it will be retried")

    def _status(self, kind: str, payload: dict[str, Any]) -> None:
        status = str(payload.get("status", "?"))
        if status == "pending":
            where = payload.get("checkpoint")
            self.print(
                Text.assemble(("● ", "cyan"), f"requested on chain (checkpoint {where})")
                if where is not None
                else Text.assemble(("● ", "cyan"), "requested on chain")
            )
            return
        style = "bold green" if status == "succeeded" else "bold red"
        parts: list[str] = []
        for key in ("image_digest", "error_code", "error_message", "tx_digest"):
            value = payload.get(key)
            if value not in (None, ""):
                parts.append(f"{key.replace('_', ' ')} {value}")
        details = (": " + ", ".join(parts)) if parts else ""
        self.print(Text.assemble(("● ", style), (status, style), f" on chain{details}"))


# --- following -------------------------------------------------------------------------------------------


ChainLookup = Callable[[], Awaitable[bool | None]]
"""Whether the request exists on chain: True, False, or None when that cannot be told now."""


async def follow(
    api_url: str,
    request_id: str,
    sink: EventSink,
    *,
    chain_lookup: ChainLookup | None = None,
    reconnect_timeout_s: float = 60.0,
    unknown_timeout_s: float = 120.0,
    read_timeout_s: float = 60.0,
    http: httpx.AsyncClient | None = None,
) -> str:
    """Follow the build's events into `sink` until its final status, which is returned."""
    client = http or httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, read=read_timeout_s),
        headers={"User-Agent": "daas-cli"},
    )
    try:
        return await _Follower(
            client, api_url, request_id, sink, chain_lookup, reconnect_timeout_s, unknown_timeout_s
        ).run()
    finally:
        if http is None:
            await client.aclose()


class _Follower:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        request_id: str,
        sink: EventSink,
        chain_lookup: ChainLookup | None,
        reconnect_timeout_s: float,
        unknown_timeout_s: float,
    ) -> None:
        self.http = http
        self.api_url = api_url
        self.request_id = request_id
        self.url = f"{api_url}/v1/builds/{request_id}/events"
        self.sink = sink
        self.chain_lookup = chain_lookup
        self.reconnect_timeout_s = reconnect_timeout_s
        self.unknown_timeout_s = unknown_timeout_s
        self.cursor: int | None = None
        self.backoff_s = 0.2
        self.failing_since: float | None = None
        self.unknown_since: float | None = None
        # Seen the final event; the runner's last lines may still follow until the server ends the stream.
        self.final: str | None = None

    async def run(self) -> str:
        while True:
            try:
                status = await self._connect_once()
            except httpx.TransportError as exc:
                await self._failed(f"{type(exc).__name__}: {exc}".rstrip(": "))
                continue
            if status == "204":
                return await self._status_from_api()
            if status is not None:
                return status
            await anyio.sleep(self.backoff_s)  # the server ended the stream early: come back
            self.backoff_s = min(self.backoff_s * 2, _MAX_BACKOFF_S)

    async def _connect_once(self) -> str | None:
        """The final status once the server ends the stream after it, "204" when the server says there is
        nothing more, or None to reconnect."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.cursor is not None:
            headers["Last-Event-ID"] = str(self.cursor)
        async with self.http.stream("GET", self.url, headers=headers) as response:
            if response.status_code == 204:
                return "204"
            if response.status_code == 404:
                await response.aread()
                await self._unknown()
                return None
            if response.status_code >= 500:
                await response.aread()
                await self._failed(f"HTTP {response.status_code}")
                return None
            if response.status_code != 200:
                body = (await response.aread())[:300].decode("utf-8", "replace")
                raise ApiError(
                    f"the API at {self.api_url} answered {response.status_code} for the events of "
                    f"{self.request_id}: {body}"
                )
            self.failing_since = None
            self.unknown_since = None
            parser = SseParser()
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is None:
                    continue
                if event.id is not None:
                    self.cursor = event.id
                self.backoff_s = 0.2
                self.sink.event(event)
                status = final_status(event)
                if status is not None:
                    self.final = status
        return self.final

    async def _failed(self, reason: str) -> None:
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
            self.sink.note(f"lost the API at {self.api_url} ({reason}); reconnecting")
        elif now - self.failing_since > self.reconnect_timeout_s:
            raise ApiUnavailable(
                f"cannot reach the DaaS API at {self.api_url} for {self.reconnect_timeout_s:.0f} s "
                f"({reason}); follow the build later with `daas watch {self.request_id}`"
            )
        await anyio.sleep(self.backoff_s)
        self.backoff_s = min(self.backoff_s * 2, _MAX_BACKOFF_S)

    async def _unknown(self) -> None:
        now = time.monotonic()
        if self.unknown_since is None:
            self.unknown_since = now
            exists = await self.chain_lookup() if self.chain_lookup is not None else None
            if exists is False:
                raise NotFound(f"no build request {self.request_id} exists on chain")
            self.sink.note("waiting for the API to see the request (the indexer follows the chain)")
        elif now - self.unknown_since > self.unknown_timeout_s:
            raise ApiUnavailable(
                f"the API at {self.api_url} has not seen build {self.request_id} after "
                f"{self.unknown_timeout_s:.0f} s: is its indexer running and on the same chain?"
            )
        await anyio.sleep(min(self.backoff_s, 1.0))
        self.backoff_s = min(self.backoff_s * 2, _MAX_BACKOFF_S)

    async def _status_from_api(self) -> str:
        url = f"{self.api_url}/v1/builds/{self.request_id}"
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise ApiUnavailable(f"cannot reach the DaaS API at {self.api_url}: {exc}") from exc
        if response.status_code != 200:
            raise ApiError(f"GET {url} answered {response.status_code}")
        status = response.json().get("status")
        return str(status) if status else "unknown"


def exit_code_for(status: str) -> ExitCode:
    return ExitCode.OK if status == "succeeded" else ExitCode.FAILED


async def chain_has_request(settings: Settings, request_id: str) -> bool | None:
    """Whether the node knows the object `request_id`; None when the node cannot tell us now."""
    from daas.chain.client import RetryPolicy, SuiClient
    from daas.errors import ChainError, ObjectNotFound

    client = SuiClient.from_settings(settings)
    client.retry = RetryPolicy(attempts=1)
    try:
        async with client:
            await client.get_object(request_id)
    except ObjectNotFound:
        return False
    except ChainError:
        return None
    return True


async def watch_build(
    settings: Settings,
    api_url: str,
    request_id: str,
    *,
    json_output: bool,
    console: Console,
    reconnect_timeout_s: float = 60.0,
) -> str:
    """Follow with the display `--json` asks for and print the final line; the final status."""

    async def lookup() -> bool | None:
        return await chain_has_request(settings, request_id)

    if json_output:
        return await follow(
            api_url,
            request_id,
            JsonLines(),
            chain_lookup=lookup,
            reconnect_timeout_s=reconnect_timeout_s,
        )
    with HumanDisplay(console) as display:
        status = await follow(
            api_url,
            request_id,
            display,
            chain_lookup=lookup,
            reconnect_timeout_s=reconnect_timeout_s,
        )
    style = "bold green" if status == "succeeded" else "bold red"
    console.print(f"build {request_id}: [{style}]{status}[/]", highlight=False)
    if status == "succeeded":
        console.print(f"  check it: daas verify {request_id}", highlight=False)
    return status


@app.command("watch")
def watch(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="the build request id (0x...)")],
    api: ApiOption = None,
    reconnect_timeout: ReconnectOption = 60.0,
) -> None:
    """Follow a build live: steps, log lines, result; exit 0 only if it SUCCEEDED.

    Exit codes: 1 failed or cancelled, 2 usage or settings, 3 API unreachable, 4 unknown request. A dropped
    connection is resumed with Last-Event-ID: no log line is lost or repeated.
    """
    st = state(ctx)
    console = human_console()
    with exit_on_errors(console):
        request = normalize_request_id(request_id)
        settings = st.settings
        url = api_base_url(settings, api)
        status = anyio.run(
            lambda: watch_build(
                settings,
                url,
                request,
                json_output=st.json,
                console=console,
                reconnect_timeout_s=reconnect_timeout,
            )
        )
    raise SystemExit(int(exit_code_for(status)))
