"""Builds that cannot succeed reach the chain as `fail` with their code, signed, the log on Walrus.

Hostile bundles (a representative set, end to end; every case is unit-tested in `tests/bundle`), a bundle that
is not the one the spec names, and the three resource limits of a build: a memory hog, an endless step, a
RUN step that reaches for the network.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import docker
import pytest
import sqlalchemy as sa

from daas.db.models import BuildStep
from daas.errors import BuildFailureCode as Code
from tests.build.support import Listener
from tests.bundle._archives import Entry, bundle, file, symlink
from tests.runner.harness import check_failed, dockerfile, running_stack

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MISSING_BLOB = "A" * 42 + "E"  # well-formed, never stored


HOSTILE: dict[str, tuple[bytes, str, Code]] = {
    "dot-dot path": (bundle([file("../escape")]), "Dockerfile", Code.BUNDLE_UNSAFE_PATH),
    "absolute path": (bundle([file("/etc/cron.d/x")]), "Dockerfile", Code.BUNDLE_UNSAFE_PATH),
    "link leaving": (bundle([symlink("l", "../../etc")]), "Dockerfile", Code.BUNDLE_UNSAFE_PATH),
    "hard link": (
        bundle([Entry("hard", kind=tarfile.LNKTYPE, linkname="Dockerfile")]),
        "Dockerfile",
        Code.BUNDLE_UNSAFE_ENTRY,
    ),
    "device": (
        bundle([Entry("dev", kind=tarfile.CHRTYPE)]),
        "Dockerfile",
        Code.BUNDLE_UNSAFE_ENTRY,
    ),
    "fifo": (
        bundle([Entry("fifo", kind=tarfile.FIFOTYPE)]),
        "Dockerfile",
        Code.BUNDLE_UNSAFE_ENTRY,
    ),
    "bomb": (bundle([file("zeros", bytes(8 * 1024 * 1024))]), "Dockerfile", Code.BUNDLE_TOO_LARGE),
    "too many files": (
        bundle([file(f"f{i}") for i in range(40)]),
        "Dockerfile",
        Code.BUNDLE_TOO_MANY_FILES,
    ),
    "dockerfile outside": (bundle([]), "../Dockerfile", Code.BUNDLE_UNSAFE_PATH),
    "dockerfile missing": (
        bundle([file("x")], dockerfile=False),
        "Dockerfile",
        Code.DOCKERFILE_NOT_FOUND,
    ),
    "invalid daas.toml": (
        bundle([file("daas.toml", b"[image]\nport = '8080'\n")]),
        "Dockerfile",
        Code.INVALID_BUILD_CONFIG,
    ),
    "not a bundle": (b"just some bytes", "Dockerfile", Code.BUNDLE_MALFORMED),
}


async def test_hostile_bundles_fail_on_chain_with_their_codes(
    sqlite_engine: sa.Engine, tmp_path: Path
) -> None:
    limits = {"max_files": 20, "max_unpacked_bytes": 1024 * 1024, "max_bundle_bytes": 1024 * 1024}
    async with running_stack(sqlite_engine, tmp_path, **limits) as stack, stack.runner():
        expected: dict[str, Code] = {}
        for data, path, code in HOSTILE.values():
            expected[await stack.request(bundle=data, dockerfile=path)] = code
        good = stack.pack({"Dockerfile": dockerfile()})
        expected[await stack.request(bundle=good, sha256=bytes(32))] = Code.BUNDLE_DIGEST_MISMATCH
        expected[await stack.request(blob_id=MISSING_BLOB, sha256=bytes(32))] = (
            Code.BUNDLE_NOT_FOUND
        )
        for request_id, code in expected.items():
            await check_failed(stack, request_id, code)
            # Refused while fetching: no build step ever started.
            assert stack.steps(request_id) == [
                "fetching",
                "exporting",
                "attesting",
                "submitting",
                "done",
            ]


async def test_resource_limits_fail_on_chain_with_their_codes(
    sqlite_engine: sa.Engine, tmp_path: Path, docker_client: docker.DockerClient, base_image: str
) -> None:
    hog = "x=$(head -c 100000000 /dev/zero | tr '\\0' a) && echo survived"
    async with running_stack(sqlite_engine, tmp_path, memory_mb=64, build_timeout_s=10) as stack:
        with Listener() as listener:
            probe = f"timeout 5 wget -q -O /reached http://127.0.0.1:{listener.port}/probe"
            cases = {
                "memory": ({"Dockerfile": dockerfile(f"RUN {hog}")}, Code.BUILD_OUT_OF_MEMORY),
                "endless": (
                    {"Dockerfile": dockerfile("RUN echo started && sleep 1000")},
                    Code.BUILD_TIMEOUT,
                ),
                "network": ({"Dockerfile": dockerfile(f"RUN {probe}")}, Code.BUILD_STEP_FAILED),
            }
            async with stack.runner():
                expected = {await stack.request(files): code for files, code in cases.values()}
                for request_id, code in expected.items():
                    await check_failed(stack, request_id, code)
                    assert stack.steps(request_id)[:2] == ["fetching", "building"]
                    assert not stack.step_payload(request_id, BuildStep.BUILDING)["ok"]
            assert listener.hits == []
