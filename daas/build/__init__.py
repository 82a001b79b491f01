"""Building bundles into images: the `BuildExecutor` seam and its Docker implementation.

async with DockerBuildExecutor.from_settings(settings) as executor:
    image = await executor.build(context_dir, dockerfile="Dockerfile", platform="linux/amd64",
                                 build_args={}, target=None, limits=BuildLimits.from_settings(settings.runner),
                                 on_log_line=write_line)
    ...
    await executor.remove(image)
"""

from __future__ import annotations

from daas.build.docker import DockerBuildExecutor
from daas.build.platforms import check_platform, normalize_platform
from daas.build.ports import (
    BuildExecutor,
    BuildLimits,
    BuiltImage,
    ImageTarSource,
    LogSink,
    LogStream,
)

__all__ = [
    "BuildExecutor",
    "BuildLimits",
    "BuiltImage",
    "DockerBuildExecutor",
    "ImageTarSource",
    "LogSink",
    "LogStream",
    "check_platform",
    "normalize_platform",
]
