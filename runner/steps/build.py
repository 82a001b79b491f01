"""Building: the unpacked context into a local image, through the `BuildExecutor` seam.

The executor enforces the limits (no network for RUN steps, memory, CPU, wall-clock time, no privileged
options, the spec's platform) and streams every output line to the build's log as it is produced; its
failures arrive as `RequesterFault` (step failed, out of memory, timeout, platform) or `InfrastructureFault`
(engine unreachable). `daas.toml` supplies build arguments and the target stage.
"""

from __future__ import annotations

from daas.build import BuildExecutor, BuildLimits, BuiltImage, LogSink
from daas.bundle import UnpackedBundle
from daas.db.models import Build

__all__ = ["build_image"]


async def build_image(
    executor: BuildExecutor,
    build: Build,
    unpacked: UnpackedBundle,
    *,
    limits: BuildLimits,
    on_log_line: LogSink,
) -> BuiltImage:
    """Build `unpacked` for `build.platform`; the caller removes the image (`executor.remove`)."""
    config = unpacked.config.build
    return await executor.build(
        unpacked.context_dir,
        dockerfile=unpacked.dockerfile,
        platform=build.platform,
        build_args=config.args,
        target=config.target,
        limits=limits,
        on_log_line=on_log_line,
    )
