"""`DockerBuildExecutor`: the `BuildExecutor` over the Docker Engine API (docker SDK, classic builder).

The SDK is blocking, so every call runs in a worker thread; a build's progress stream is read in one thread and
handed to the event loop line by line (bounded buffer), where `on_log_line` is awaited in order. This module is
the Docker boundary: `docker.errors.*`, `requests` and `urllib3` exceptions are mapped to `BuildError`s here and
never leave it.

How each rule is enforced (all verified against dockerd 20.10 in `tests/build/`):

- **No network for RUN steps**: `network_mode="none"`; only a loopback interface exists in a step.
- **Memory**: `memory` = `memswap` = the limit (no swap). A step that exceeds it is killed by the kernel's OOM
  killer; the builder then only reports exit code 137, so the engine's `oom` event for the step's container is
  what tells an out-of-memory kill from a plain SIGKILL.
- **CPU**: a CFS quota (`cpuquota`/`cpuperiod`). The classic builder applies both to every step container, but
  the SDK's `container_limits` cannot carry them, so they ride on the per-build client's session parameters
  (`requests.Session.params` are merged into the `/build` query).
- **Wall-clock timeout**: the build's HTTP connection is shut down. dockerd cancels a classic build whose client
  went away: it kills and removes the running step container. Any build container still there after a grace
  period is force-removed.
- **No privileges**: no `extra_hosts`, `isolation`, `squash`, labels or proxy build args (`use_config_proxy`
  off); `/dev/shm` is bounded; `pull=False`; intermediate containers removed even on failure (`forcerm`).

Classic-builder step containers carry no labels, and the log that names them is partly written by the build
itself (a step can print " ---> Running in <someone else's id>"). So ownership of a leftover container is proven
by the engine, not the log: each build gets a `/dev/shm` size that is unique to it (the configured bound minus a
random number of pages), which every one of its step containers carries in `HostConfig.ShmSize`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio
import anyio.abc
import docker
import docker.constants
import docker.errors
import docker.utils
import requests
import urllib3.exceptions
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from daas.build.platforms import check_platform, normalize_platform
from daas.build.ports import BuildExecutor, BuildLimits, BuiltImage, LogSink, LogStream
from daas.build.stream import BuildStreamParser
from daas.config import MIB, Settings
from daas.errors import BuildError, BuildFailureCode, InfrastructureFault, RequesterFault

__all__ = ["DockerBuildExecutor"]

_log = logging.getLogger(__name__)

# Enough for /version on any engine the SDK supports; the real client uses the engine's own version.
_PROBE_API_VERSION = "1.24"
_CPU_PERIOD_US = 100_000
_SAVE_CHUNK = 1 * MIB
_PAGE = 4096
# Lines handed from the reading thread to the event loop; a slow `on_log_line` holds the thread back.
_LOG_BUFFER = 256
# How long dockerd gets to remove the step container of a cancelled build before we remove it.
_CANCEL_GRACE_S = 5.0
_CLEANUP_DEADLINE_S = 20.0
_OOM_EXIT_CODE = 137

_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)

Lines = list[tuple[LogStream, str]]


def _unavailable(action: str, exc: object) -> InfrastructureFault:
    return InfrastructureFault(BuildFailureCode.DOCKER_UNAVAILABLE, f"{action}: {exc}")


@contextlib.contextmanager
def _engine_errors(action: str) -> Iterator[None]:
    """Map any SDK or transport failure to DOCKER_UNAVAILABLE (callers handle the API errors they expect)."""
    try:
        yield
    except BuildError:
        raise
    except _TRANSPORT_ERRORS as exc:
        raise _unavailable(action, exc) from exc


def _probe_unix_socket(base_url: str, action: str) -> None:
    """Fail fast on a unix socket nobody listens on, before the SDK opens (and leaks) its own socket."""
    if base_url and not base_url.startswith(("unix://", "http+unix://")):
        return
    path = base_url.split("://", 1)[1] if base_url else "/var/run/docker.sock"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(10)
            probe.connect(path)
    except OSError as exc:
        raise _unavailable(action, f"{path}: {exc.strerror or exc}") from exc


def _shutdown(response: requests.Response) -> None:
    """Cut a streaming response's connection; a thread blocked reading it wakes up at once."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _StreamingCall:
    """A dedicated API client for one long streaming call, whose connection another thread can cut."""

    def __init__(self, client: docker.APIClient) -> None:
        self.client = client
        self._responses: list[requests.Response] = []
        self._lock = threading.Lock()
        self.aborted = False
        client.hooks["response"].append(self._on_response)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._responses.append(response)
            if self.aborted:
                _shutdown(response)

    def abort(self) -> None:
        """Cut the connection (thread-safe, idempotent); also stops a request that is yet to be answered."""
        with self._lock:
            self.aborted = True
            for response in self._responses:
                _shutdown(response)

    def close(self) -> None:
        with self._lock:
            responses, self._responses = self._responses, []
        for response in responses:
            with contextlib.suppress(*_TRANSPORT_ERRORS):
                response.close()
        with contextlib.suppress(*_TRANSPORT_ERRORS):
            self.client.close()


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks; transport failures become DOCKER_UNAVAILABLE."""

    def __init__(self, chunks: Iterator[bytes], action: str) -> None:
        self._chunks = chunks
        self._action = action
        # The current chunk as a view, so that taking part of it copies only that part.
        self._buffer = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        view = memoryview(target).cast("B")
        while not self._buffer and not self._done:
            with _engine_errors(self._action):
                try:
                    self._buffer = memoryview(next(self._chunks))
                except StopIteration:
                    self._done = True
        size = min(len(view), len(self._buffer))
        view[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class _BuildRun:
    """The state of one build, shared by the reading thread and the event loop."""

    def __init__(self, call: _StreamingCall, shm_bytes: int, started: float) -> None:
        self.call = call
        self.shm_bytes = shm_bytes
        self.started = started
        self.parser = BuildStreamParser()
        self.api_error: docker.errors.APIError | None = None
        self.transport_error: BaseException | None = None
        self.completed = False
        self.lines = 0


class DockerBuildExecutor:
    """Builds with the local (or `docker_url`) engine's classic builder. Use as `async with` or `aclose()`.

    `docker_url` is a Docker host URL (`unix:///var/run/docker.sock`, `tcp://host:2376`); None means the
    `DOCKER_HOST` environment (with its TLS settings) or the local socket. Nothing connects before the first use.
    """

    def __init__(
        self,
        docker_url: str | None = None,
        *,
        api_timeout_s: int = 120,
        tag_prefix: str = "daas-build",
    ) -> None:
        self._client_kwargs: dict[str, Any] = (
            dict(docker.utils.kwargs_from_env()) if docker_url is None else {"base_url": docker_url}
        )
        self._api_timeout_s = api_timeout_s
        self._tag_prefix = tag_prefix
        self._api: docker.APIClient | None = None
        self._api_version: str | None = None
        self._native_platform: str | None = None
        self._connect_lock = anyio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> DockerBuildExecutor:
        return cls(settings.runner.docker_url)

    async def __aenter__(self) -> DockerBuildExecutor:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            await anyio.to_thread.run_sync(api.close)

    # --- connection -----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Reach the engine once: learn its API version and platform. Raises DOCKER_UNAVAILABLE."""
        async with self._connect_lock:
            if self._api is None:
                await anyio.to_thread.run_sync(self._connect)

    def _connect(self) -> None:
        action = "cannot reach the Docker engine"
        _probe_unix_socket(str(self._client_kwargs.get("base_url") or ""), action)
        # A fixed version skips the SDK's own probe, which leaks its socket when the engine is down.
        with _engine_errors(action):
            probe = docker.APIClient(
                version=_PROBE_API_VERSION, timeout=self._api_timeout_s, **self._client_kwargs
            )
        try:
            with _engine_errors(action):
                info = probe.version(api_version=False)
        finally:
            probe.close()
        server_version = str(info.get("ApiVersion", _PROBE_API_VERSION))
        ours = docker.constants.DEFAULT_DOCKER_API_VERSION
        self._api_version = (
            server_version if docker.utils.version_lt(server_version, ours) else ours
        )
        self._native_platform = normalize_platform(f"{info.get('Os')}/{info.get('Arch')}")
        with _engine_errors(action):
            self._api = self._new_client(self._api_timeout_s)

    def _new_client(self, timeout_s: float) -> docker.APIClient:
        return docker.APIClient(
            version=self._api_version, timeout=int(timeout_s), **self._client_kwargs
        )

    @property
    def native_platform(self) -> str:
        if self._native_platform is None:
            raise RuntimeError("not connected: call connect() first")
        return self._native_platform

    def _client(self) -> docker.APIClient:
        if self._api is None:
            raise RuntimeError("not connected: call connect() first")
        return self._api

    # --- build ----------------------------------------------------------------------------------------------

    async def build(
        self,
        context_dir: Path,
        *,
        dockerfile: str,
        platform: str,
        build_args: Mapping[str, str],
        target: str | None,
        limits: BuildLimits,
        on_log_line: LogSink,
    ) -> BuiltImage:
        context = await anyio.Path(context_dir).resolve()
        if not await context.is_dir():
            raise ValueError(f"the build context {context_dir} is not a directory")
        await self.connect()
        platform = check_platform(platform, self.native_platform)
        tag = f"{self._tag_prefix}-{uuid.uuid4().hex}:latest"
        # The per-build /dev/shm size that proves a container is ours (see the module docstring).
        pages = limits.shm_bytes // _PAGE
        shm_bytes = max(1, pages - 1 - secrets.randbelow(max(1, pages // 4))) * _PAGE
        call = _StreamingCall(self._new_client(limits.timeout_s + self._api_timeout_s))
        call.client.params = {
            "cpuperiod": str(_CPU_PERIOD_US),
            "cpuquota": str(max(1000, round(limits.cpus * _CPU_PERIOD_US))),
        }
        run = _BuildRun(call, shm_bytes, time.time())
        kwargs: dict[str, Any] = {
            "path": str(context),
            "dockerfile": dockerfile,
            "tag": tag,
            "buildargs": dict(build_args) or None,
            "target": target or None,
            "network_mode": "none",
            "pull": False,
            "rm": True,
            "forcerm": True,
            "nocache": limits.nocache,
            "container_limits": {
                "memory": limits.memory_bytes,
                "memswap": limits.memory_bytes,
            },
            "shmsize": shm_bytes,
            "platform": platform,
            "use_config_proxy": False,
            "decode": True,
        }
        send, receive = anyio.create_memory_object_stream[Lines](_LOG_BUFFER)
        finished = False
        try:
            with anyio.move_on_after(limits.timeout_s) as deadline:
                try:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._pump, run, kwargs, send)
                        await self._deliver(run, receive, on_log_line)
                except BaseExceptionGroup as group:
                    # Only `on_log_line` can fail here (the thread keeps its errors): raise its own error.
                    raise _single(group) from None
            if deadline.cancelled_caught:
                message = f"the build exceeded its time limit of {limits.timeout_s:g} s"
                await self._system_line(run, on_log_line, message)
                raise RequesterFault(BuildFailureCode.BUILD_TIMEOUT, message)
            built = await self._outcome(run, tag, platform, limits, on_log_line)
            finished = True
            return built
        finally:
            if not finished:
                with anyio.CancelScope(shield=True):
                    await self._clean_up(run)
                    await self._remove_tag(tag)

    async def _pump(
        self, run: _BuildRun, kwargs: dict[str, Any], send: MemoryObjectSendStream[Lines]
    ) -> None:
        def emit(lines: Lines) -> None:
            anyio.from_thread.run(send.send, lines)

        with send:
            await anyio.to_thread.run_sync(self._read_build, run, kwargs, emit)

    def _read_build(
        self, run: _BuildRun, kwargs: dict[str, Any], emit: Callable[[Lines], None]
    ) -> None:
        """In a worker thread: send the context, read the progress stream to its end (or the abort)."""
        try:
            if run.call.aborted:
                return
            for message in run.call.client.build(**kwargs):
                if isinstance(message, Mapping) and (lines := run.parser.feed(message)):
                    emit(lines)
                if run.call.aborted:
                    return
            if lines := run.parser.finish():
                emit(lines)
            run.completed = True
        except docker.errors.APIError as exc:
            run.api_error = exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the event loop stopped listening: it aborted the build
        except _TRANSPORT_ERRORS as exc:
            if not run.call.aborted:
                run.transport_error = exc
        except Exception as exc:  # an SDK bug must still end the build as a typed failure
            run.transport_error = exc
        finally:
            run.call.close()

    async def _deliver(
        self, run: _BuildRun, receive: MemoryObjectReceiveStream[Lines], on_log_line: LogSink
    ) -> None:
        try:
            with receive:
                async for lines in receive:
                    for stream, text in lines:
                        run.lines += 1
                        await on_log_line(stream, text)
        finally:
            # Normal end: the stream is over and this is a no-op. Timeout, cancellation or a failing callback:
            # cutting the connection is what makes dockerd stop the build (and unblocks the reading thread).
            run.call.abort()

    async def _system_line(self, run: _BuildRun, on_log_line: LogSink, text: str) -> None:
        run.lines += 1
        await on_log_line("system", text)

    async def _outcome(
        self,
        run: _BuildRun,
        tag: str,
        platform: str,
        limits: BuildLimits,
        on_log_line: LogSink,
    ) -> BuiltImage:
        if run.api_error is not None:
            raise _api_error_fault(run.api_error)
        if run.transport_error is not None or not run.completed:
            cause = run.transport_error or "the progress stream ended early"
            raise _unavailable("the build's connection to the engine failed", cause)
        parser = run.parser
        if parser.error is not None:
            fault = await self._step_fault(run, limits)
            await self._system_line(run, on_log_line, f"build failed: {fault}")
            raise fault
        image = await self._inspect_image(tag)
        image_id = str(image["Id"])
        if parser.image_id is not None and parser.image_id != image_id:
            raise InfrastructureFault(
                BuildFailureCode.INTERNAL,
                f"the engine reported image {parser.image_id} but {tag} is {image_id}",
            )
        return BuiltImage(
            image_id=image_id,
            tag=tag,
            platform=platform,
            size=int(image.get("Size") or 0),
            diff_ids=tuple(str(d) for d in (image.get("RootFS") or {}).get("Layers") or ()),
            duration_s=time.time() - run.started,
            log_lines=run.lines,
        )

    async def _step_fault(self, run: _BuildRun, limits: BuildLimits) -> BuildError:
        parser = run.parser
        step = parser.step or "the build"
        error = parser.error or ""
        if parser.exit_code is None:
            if "no space left on device" in error:
                return InfrastructureFault(BuildFailureCode.INTERNAL, f"{step}: {error}")
            return RequesterFault(BuildFailureCode.BUILD_STEP_FAILED, f"{step} failed: {error}")
        oom = await self._oom_killed(run)
        if oom is None:  # the engine's event log was not readable: fall back on the exit status
            oom = parser.exit_code == _OOM_EXIT_CODE
        if oom:
            return RequesterFault(
                BuildFailureCode.BUILD_OUT_OF_MEMORY,
                f"{step} ran out of memory (limit {limits.memory_bytes // MIB} MiB) and was killed "
                f"(exit code {parser.exit_code})",
            )
        return RequesterFault(
            BuildFailureCode.BUILD_STEP_FAILED,
            f"{step} failed with exit code {parser.exit_code}: {error}",
        )

    async def _oom_killed(self, run: _BuildRun) -> bool | None:
        """Whether the engine logged an OOM kill in the failed step's container; None if unknown."""
        if not run.parser.containers:
            return False
        container = run.parser.containers[-1]
        api = self._client()

        def query() -> bool:
            # `until` in the past (to the nanosecond, as dockerd parses it) makes the answer immediate.
            until: Any = f"{time.time():.9f}"
            events = api.events(
                since=int(run.started) - 1,
                until=until,
                filters={"type": "container", "event": "oom"},
                decode=True,
            )
            try:
                return any(
                    str(event.get("id") or event.get("Actor", {}).get("ID", "")).startswith(
                        container
                    )
                    for event in events
                )
            finally:
                events.close()

        try:
            return await anyio.to_thread.run_sync(query)
        except _TRANSPORT_ERRORS as exc:
            _log.warning("cannot read the engine's events to check for an OOM kill: %s", exc)
            return None

    async def _inspect_image(self, ref: str) -> dict[str, Any]:
        api = self._client()
        with _engine_errors(f"inspecting the built image {ref}"):
            result: dict[str, Any] = await anyio.to_thread.run_sync(api.inspect_image, ref)
        return result

    # --- clean-up -------------------------------------------------------------------------------------------

    async def _clean_up(self, run: _BuildRun) -> None:
        """After an aborted build: wait for dockerd to remove its step container, then remove what is left."""
        run.call.abort()
        api = self._client()
        give_up = time.monotonic() + _CLEANUP_DEADLINE_S
        grace_until = time.monotonic() + _CANCEL_GRACE_S
        try:
            while time.monotonic() < give_up:
                owned = await anyio.to_thread.run_sync(self._owned_containers, api, run)
                if not owned:
                    return
                if time.monotonic() >= grace_until:
                    for container in owned:
                        _log.warning("removing leftover build container %s", container[:12])
                        await anyio.to_thread.run_sync(self._force_remove, api, container)
                await anyio.sleep(0.2)
            _log.error("build containers of an aborted build are still there after clean-up")
        except _TRANSPORT_ERRORS as exc:
            _log.warning("cannot check for leftover build containers: %s", exc)

    @staticmethod
    def _owned_containers(api: docker.APIClient, run: _BuildRun) -> list[str]:
        owned = []
        for summary in api.containers(all=True):
            if int(summary.get("Created", 0)) < int(run.started) - 2:
                continue
            try:
                details = api.inspect_container(summary["Id"])
            except docker.errors.NotFound:
                continue
            host = details.get("HostConfig") or {}
            if host.get("ShmSize") == run.shm_bytes and host.get("NetworkMode") == "none":
                owned.append(str(details["Id"]))
        return owned

    @staticmethod
    def _force_remove(api: docker.APIClient, container: str) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            api.remove_container(container, force=True)

    async def _remove_tag(self, tag: str) -> None:
        api = self._client()

        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_image(tag)

        try:
            await anyio.to_thread.run_sync(remove)
        except _TRANSPORT_ERRORS as exc:
            _log.warning("cannot remove %s after a failed build: %s", tag, exc)

    async def remove(self, image: BuiltImage) -> None:
        """Untag the build's image: the engine deletes it and its untagged parents unless another tag holds it."""
        await self.connect()
        api = self._client()

        def remove() -> None:
            try:
                api.remove_image(image.tag)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
                # In use by a container someone ran from it: leave it to the periodic clean-up.
                _log.warning("image %s is in use and was not removed: %s", image.tag, exc)

        with _engine_errors(f"removing {image.tag}"):
            await anyio.to_thread.run_sync(remove)

    async def prune_leftovers(self, older_than_s: float) -> int:
        """Delete what builds left behind, older than `older_than_s`; returns how many images went.

        Two kinds: our tagged images (`<tag_prefix>-<uuid>:latest`) whose runner died between the build and
        removing the image, and untagged images (intermediate steps of failed builds). Pass at least the
        build timeout: anything younger may belong to a running build. Only our own tags are removed, so an
        image that also carries another tag stays.
        """
        await self.connect()
        api: Any = self._client()  # the stubs leave images/prune_images untyped
        prefix = f"{self._tag_prefix}-"
        cutoff = time.time() - older_than_s

        def prune() -> int:
            removed = 0
            for image in api.images(filters={"reference": f"{prefix}*"}):
                if int(image.get("Created") or 0) >= cutoff:
                    continue
                for tag in image.get("RepoTags") or ():
                    if tag.startswith(prefix):
                        with contextlib.suppress(docker.errors.NotFound):  # removed meanwhile
                            api.remove_image(tag)
                removed += 1
            dangling = {"dangling": True, "until": f"{int(older_than_s)}s"}
            result = api.prune_images(filters=dangling) or {}
            return removed + sum(
                1 for item in result.get("ImagesDeleted") or () if "Deleted" in item
            )

        with _engine_errors("pruning images left by builds"):
            return await anyio.to_thread.run_sync(prune)

    # --- export ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def open_image_tar(self, image: BuiltImage) -> Iterator[BinaryIO]:
        """The image as `docker save` writes it, streamed (blocking: use from a worker thread)."""
        if self._api is None:
            self._connect()
        action = f"saving {image.tag}"
        with _engine_errors(action):
            call = _StreamingCall(self._new_client(self._api_timeout_s))

        def chunks() -> Iterator[bytes]:
            try:
                yield from call.client.get_image(image.image_id, chunk_size=_SAVE_CHUNK)
            except docker.errors.NotFound as exc:
                raise InfrastructureFault(
                    BuildFailureCode.INTERNAL, f"{action}: the image is gone: {exc}"
                ) from exc

        try:
            reader = io.BufferedReader(_ChunkReader(chunks(), action), buffer_size=_SAVE_CHUNK)
            with reader:
                yield reader
        finally:
            call.close()


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside (nested) single-member groups, or the group itself."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _api_error_fault(exc: docker.errors.APIError) -> BuildError:
    """An error answer to the build request itself (before any step ran)."""
    explanation = str(exc.explanation or exc)
    if "Cannot locate specified Dockerfile" in explanation:
        return RequesterFault(BuildFailureCode.DOCKERFILE_NOT_FOUND, explanation)
    if exc.is_client_error() or "Dockerfile" in explanation or "dockerfile" in explanation:
        return RequesterFault(BuildFailureCode.BUILD_STEP_FAILED, explanation)
    return _unavailable("the engine refused the build", exc)


if TYPE_CHECKING:

    def _implements_build_executor(executor: DockerBuildExecutor) -> BuildExecutor:
        return executor  # mypy proves the class satisfies the Protocol
