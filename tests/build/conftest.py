"""Fixtures for the build tests: a connected `DockerBuildExecutor` and a log recorder cleaned up after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import docker
import pytest

from daas.build import DockerBuildExecutor
from tests.build.support import LogRecorder, remove_untagged


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def executor(
    docker_client: docker.DockerClient, base_image: str
) -> AsyncIterator[DockerBuildExecutor]:
    async with DockerBuildExecutor() as running:
        yield running


@pytest.fixture
def log(docker_client: docker.DockerClient) -> Iterator[LogRecorder]:
    recorder = LogRecorder()
    yield recorder
    remove_untagged(docker_client, recorder.images)
