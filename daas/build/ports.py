"""The build seam: what the runner needs from a container builder, as a Protocol, and the values crossing it.

The runner depends on `BuildExecutor`; `daas.build.docker.DockerBuildExecutor` is its one real implementation.
Every failure leaves `build` as a `daas.errors.BuildError`: a `RequesterFault` when the bundle is at fault
(a failing step, a timeout, memory exhausted, an unsupported platform) or an `InfrastructureFault` when we are
(the engine cannot be reached). Nothing else escapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from daas.config import MIB, RunnerSettings

LogStream = Literal["stdout", "stderr", "system"]
"""`stdout`/`stderr`: output of a build step; `system`: the builder's own lines and ours (steps, outcome)."""

LogSink = Callable[[LogStream, str], Awaitable[None]]
"""`await on_log_line(stream, text)`, once per line as it is produced, in order; `text` has no newline."""


@dataclasses.dataclass(frozen=True)
class BuildLimits:
    """Resource limits of one build, applied to every step's container."""

    memory_bytes: int
    cpus: float
    timeout_s: float
    # Steps never read from the network; `nocache` only trades speed for a fresh run of every step.
    nocache: bool = False
    shm_bytes: int = 64 * MIB

    def __post_init__(self) -> None:
        if self.memory_bytes < 6 * MIB:  # dockerd's own floor for a container
            raise ValueError(f"memory_bytes must be at least 6 MiB, not {self.memory_bytes}")
        if not 0 < self.cpus <= 1024:
            raise ValueError(f"cpus must be in (0, 1024], not {self.cpus}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {self.timeout_s}")
        if not 0 < self.shm_bytes <= self.memory_bytes:
            raise ValueError("shm_bytes must be positive and at most memory_bytes")

    @classmethod
    def from_settings(cls, runner: RunnerSettings, *, nocache: bool = False) -> BuildLimits:
        memory = runner.memory_mb * MIB
        return cls(
            memory_bytes=memory,
            cpus=runner.cpus,
            timeout_s=float(runner.build_timeout_s),
            nocache=nocache,
            shm_bytes=min(64 * MIB, memory // 2),
        )


@dataclasses.dataclass(frozen=True)
class BuiltImage:
    """An image that exists in the local engine until `BuildExecutor.remove` is called."""

    # `sha256:<hex>`: the digest of the image config, which the export keeps byte for byte.
    image_id: str
    # The unique `repository:tag` of this build; removing it removes the image (unless shared).
    tag: str
    platform: str
    # Uncompressed size of all layers, as the engine reports it.
    size: int
    # `sha256:<hex>` of each uncompressed layer tar, base first (the config's `rootfs.diff_ids`).
    diff_ids: tuple[str, ...]
    duration_s: float
    log_lines: int


class ImageTarSource(Protocol):
    """Where an exporter reads a built image from, as a `docker save` tar."""

    def open_image_tar(self, image: BuiltImage) -> AbstractContextManager[BinaryIO]:
        """A file object streaming the image as a `docker save` tar (legacy or OCI layout).

        Blocking: call it from a worker thread. Closing the context releases the connection.
        """
        ...


class BuildExecutor(ImageTarSource, Protocol):
    """Builds a context directory into a local image, streaming its log."""

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
        """Build `context_dir` with `dockerfile` (a path inside it). Raises `BuildError` only."""
        ...

    async def remove(self, image: BuiltImage) -> None:
        """Remove the image (and its intermediate parents) from the engine; a missing image is fine."""
        ...
