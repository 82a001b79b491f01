"""Fixtures for the image tests: the Walrus stand-in on 127.0.0.1, a client for it, a Docker executor."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator

import docker
import pytest

from daas.build import DockerBuildExecutor
from daas.walrus import RetryPolicy, WalrusClient
from emulator.walrus import RunningWalrus, serve_walrus
from tests.build.support import LogRecorder, remove_untagged

# A small publisher cap, so that even the 2 MB test base layer is stored as many chunks.
CAP = 64 * 1024
FAST = RetryPolicy(retries=2, base_delay_s=0.001, max_delay_s=0.005)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def walrus() -> AsyncIterator[RunningWalrus]:
    async with serve_walrus(max_body_bytes=CAP, seed=5) as running:
        yield running


@pytest.fixture
async def store(walrus: RunningWalrus) -> AsyncIterator[WalrusClient]:
    async with WalrusClient(
        aggregator_url=walrus.url,
        publisher_url=walrus.url,
        max_request_bytes=CAP,
        retry=FAST,
        timeout_s=10.0,
        rng=random.Random(0),
    ) as client:
        yield client


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
