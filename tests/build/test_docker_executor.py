"""`DockerBuildExecutor` against the real engine: live logs, arguments, and each limit as a typed failure.

Every test builds `FROM daas-base:latest` (busybox, imported locally: no registry). Network probes only ever
target a listener of ours on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path

import anyio
import docker
import docker.errors
import pytest

from daas.build import BuildLimits, DockerBuildExecutor
from daas.config import MIB
from daas.errors import BuildFailureCode, InfrastructureFault, RequesterFault
from tests.build.support import Listener, LogRecorder, container_exists, write_context

pytestmark = pytest.mark.anyio

LIMITS = BuildLimits(memory_bytes=256 * MIB, cpus=1.0, timeout_s=60)


async def build(
    executor: DockerBuildExecutor,
    context: Path,
    log: LogRecorder,
    *,
    limits: BuildLimits = LIMITS,
    build_args: dict[str, str] | None = None,
    target: str | None = None,
    platform: str = "linux/amd64",
    dockerfile: str = "Dockerfile",
) -> object:
    return await executor.build(
        context,
        dockerfile=dockerfile,
        platform=platform,
        build_args=build_args or {},
        target=target,
        limits=limits,
        on_log_line=log,
    )


async def test_build_streams_log_lines_while_running(
    executor: DockerBuildExecutor,
    docker_client: docker.DockerClient,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    dockerfile = (
        f"FROM {base_image}\n"
        "RUN echo first | tee /first && sleep 1 && echo second >&2 && sleep 1 && printf 'third'\n"
        'CMD ["cat", "/etc/group"]\n'
    )
    context = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    image = await executor.build(
        context,
        dockerfile="Dockerfile",
        platform="linux/amd64",
        build_args={},
        target=None,
        limits=LIMITS,
        on_log_line=log,
    )
    done = time.monotonic()
    try:
        # Step output in order, each stream labelled; a last line without newline still arrives.
        output = [(s, t) for _, s, t in log.lines if s != "system"]
        assert output == [("stdout", "first"), ("stderr", "second"), ("stdout", "third")]
        # Delivered as produced: "first" came about two seconds before the build was over.
        assert done - log.arrival("first") > 1.5
        assert log.arrival("second") - log.arrival("first") > 0.8
        assert any(t.startswith("Step 2/3 : RUN echo first") for t in log.texts("system"))
        assert image.log_lines == len(log.lines)
        assert image.platform == "linux/amd64"
        assert image.image_id.startswith("sha256:") and len(image.diff_ids) == 2
        assert image.tag.startswith("daas-build-")
        assert docker_client.containers.run(image.tag, remove=True, network_mode="none") == (
            b"root:x:0:\nnogroup:x:65534:\n"
        )
    finally:
        await executor.remove(image)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image.tag)
    await executor.remove(image)  # removing twice is fine


async def test_build_args_and_target(
    executor: DockerBuildExecutor,
    docker_client: docker.DockerClient,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    dockerfile = (
        f"FROM {base_image} AS first\n"
        "ARG GREETING=unset\n"
        'RUN echo "$GREETING from first" > /out\n'
        'CMD ["cat", "/out"]\n'
        f"FROM {base_image} AS second\n"
        "RUN echo second > /out\n"
    )
    context = write_context(tmp_path / "ctx", {"build/Dockerfile.app": dockerfile})
    image = await executor.build(
        context,
        dockerfile="build/Dockerfile.app",
        platform="linux/x86_64",  # the kernel's spelling of amd64
        build_args={"GREETING": "hello"},
        target="first",
        limits=LIMITS,
        on_log_line=log,
    )
    try:
        assert image.platform == "linux/amd64"
        assert not any("second" in t for t in log.texts())
        assert docker_client.containers.run(image.tag, remove=True, network_mode="none") == (
            b"hello from first\n"
        )
    finally:
        await executor.remove(image)


async def test_failing_step_names_step_and_exit_code(
    executor: DockerBuildExecutor, base_image: str, tmp_path: Path, log: LogRecorder
) -> None:
    dockerfile = f"FROM {base_image}\nRUN echo before && exit 7\n"
    context = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    with pytest.raises(RequesterFault) as caught:
        await build(executor, context, log)
    assert caught.value.code is BuildFailureCode.BUILD_STEP_FAILED
    assert "exit code 7" in str(caught.value)
    assert "Step 2/2 : RUN echo before && exit 7" in str(caught.value)
    assert "before" in log.texts("stdout")
    assert log.texts()[-1].startswith("build failed: Step 2/2")


async def test_limits_reach_the_step_container(
    executor: DockerBuildExecutor, base_image: str, tmp_path: Path, log: LogRecorder
) -> None:
    # cgroup v1 (our hosts) or v2: print memory limit, CPU quota and period, and the network interfaces.
    probe = (
        "if [ -f /sys/fs/cgroup/cpu.max ]; then "
        "cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/cpu.max; else "
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
        "echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); fi; "
        "ls /sys/class/net"
    )
    context = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {base_image}\nRUN {probe}\n"})
    limits = BuildLimits(memory_bytes=96 * MIB, cpus=0.5, timeout_s=60, nocache=True)
    image = await build(executor, context, log, limits=limits)
    try:
        assert log.texts("stdout") == [str(96 * MIB), "50000 100000", "lo"]
    finally:
        await executor.remove(image)  # type: ignore[arg-type]


async def test_memory_hog_is_killed(
    executor: DockerBuildExecutor, base_image: str, tmp_path: Path, log: LogRecorder
) -> None:
    # The shell holds 100 MB of 'a's in a variable: resident memory, well above the 64 MiB limit.
    hog = "x=$(head -c 100000000 /dev/zero | tr '\\0' a) && echo survived"
    context = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {base_image}\nRUN {hog}\n"})
    limits = BuildLimits(memory_bytes=64 * MIB, cpus=1.0, timeout_s=60)
    with pytest.raises(RequesterFault) as caught:
        await build(executor, context, log, limits=limits)
    assert caught.value.code is BuildFailureCode.BUILD_OUT_OF_MEMORY
    assert "64 MiB" in str(caught.value)
    assert "survived" not in log.texts()


async def test_sigkill_without_oom_is_a_step_failure(
    executor: DockerBuildExecutor, base_image: str, tmp_path: Path, log: LogRecorder
) -> None:
    # Exit code 137 alone is not an OOM kill: the engine's event log decides.
    context = write_context(
        # The step's shell is PID 1 of its container, immune to its own SIGKILL: kill a child shell
        # (and keep the parent from exec'ing it, which would make the child PID 1 again).
        tmp_path / "ctx",
        {"Dockerfile": f"FROM {base_image}\nRUN sh -c 'kill -9 $$'; exit $?\n"},
    )
    with pytest.raises(RequesterFault) as caught:
        await build(executor, context, log)
    assert caught.value.code is BuildFailureCode.BUILD_STEP_FAILED
    assert "exit code 137" in str(caught.value)


async def test_endless_step_times_out_and_leaves_nothing(
    executor: DockerBuildExecutor,
    docker_client: docker.DockerClient,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": f"FROM {base_image}\nRUN echo started && sleep 1000\n"}
    )
    limits = BuildLimits(memory_bytes=64 * MIB, cpus=1.0, timeout_s=3)
    started = time.monotonic()
    with pytest.raises(RequesterFault) as caught:
        await build(executor, context, log, limits=limits)
    elapsed = time.monotonic() - started
    assert caught.value.code is BuildFailureCode.BUILD_TIMEOUT
    assert 3 <= elapsed < 10
    assert "started" in log.texts("stdout")
    assert log.texts()[-1] == "the build exceeded its time limit of 3 s"
    [container] = log.containers
    assert not container_exists(docker_client, container)


async def test_cancellation_stops_the_build(
    executor: DockerBuildExecutor,
    docker_client: docker.DockerClient,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    # What the runner does when it sees BuildCancelled on chain: cancel the task.
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": f"FROM {base_image}\nRUN echo started && sleep 1000\n"}
    )
    with anyio.move_on_after(2) as scope:
        await build(executor, context, log)
    assert scope.cancelled_caught
    [container] = log.containers
    assert not container_exists(docker_client, container)


async def test_run_step_has_no_network(
    executor: DockerBuildExecutor, base_image: str, tmp_path: Path, log: LogRecorder
) -> None:
    with Listener() as listener:
        # `timeout` bounds the probe (busybox wget segfaults with -T).
        probe = f"timeout 5 wget -q -O /reached http://127.0.0.1:{listener.port}/probe"
        context = write_context(
            tmp_path / "ctx", {"Dockerfile": f"FROM {base_image}\nRUN {probe}\n"}
        )
        with pytest.raises(RequesterFault) as caught:
            await build(executor, context, log)
    assert caught.value.code is BuildFailureCode.BUILD_STEP_FAILED
    assert listener.hits == []


@pytest.mark.parametrize("platform", ["linux/arm64", "windows/amd64", "linux/amd64/v9x", "amd64"])
async def test_unsupported_platform(
    executor: DockerBuildExecutor, base_image: str, tmp_path: Path, platform: str
) -> None:
    context = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {base_image}\n"})
    log = LogRecorder()
    with pytest.raises(RequesterFault) as caught:
        await build(executor, context, log, platform=platform)
    assert caught.value.code is BuildFailureCode.UNSUPPORTED_PLATFORM
    assert log.lines == []  # refused before the engine saw anything


@pytest.mark.parametrize(
    ("files", "dockerfile", "code"),
    [
        ({"other": "x"}, "Dockerfile", BuildFailureCode.DOCKERFILE_NOT_FOUND),
        (
            {"Dockerfile": "FROM scratch\nBOGUS x\n"},
            "Dockerfile",
            BuildFailureCode.BUILD_STEP_FAILED,
        ),
        (
            {"Dockerfile": "FROM daas-base:latest\nCOPY missing /\n"},
            "Dockerfile",
            BuildFailureCode.BUILD_STEP_FAILED,
        ),
    ],
    ids=["no-dockerfile", "parse-error", "copy-missing"],
)
async def test_bad_dockerfiles_are_requester_faults(
    executor: DockerBuildExecutor,
    tmp_path: Path,
    log: LogRecorder,
    files: dict[str, str],
    dockerfile: str,
    code: BuildFailureCode,
) -> None:
    context = write_context(tmp_path / "ctx", files)
    with pytest.raises(RequesterFault) as caught:
        await build(executor, context, log, dockerfile=dockerfile)
    assert caught.value.code is code


async def test_failing_log_sink_stops_the_build(
    executor: DockerBuildExecutor,
    docker_client: docker.DockerClient,
    base_image: str,
    tmp_path: Path,
) -> None:
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": f"FROM {base_image}\nRUN echo started && sleep 1000\n"}
    )
    seen = LogRecorder()

    async def sink(stream: str, text: str) -> None:
        await seen(stream, text)  # type: ignore[arg-type]
        if text == "started":
            raise RuntimeError("database is gone")

    with pytest.raises(RuntimeError, match="database is gone"):
        await executor.build(
            context,
            dockerfile="Dockerfile",
            platform="linux/amd64",
            build_args={},
            target=None,
            limits=LIMITS,
            on_log_line=sink,
        )
    [container] = seen.containers
    assert not container_exists(docker_client, container)


async def test_unreachable_engine_is_an_infrastructure_fault(tmp_path: Path) -> None:
    context = write_context(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n"})
    executor = DockerBuildExecutor(f"unix://{tmp_path / 'no-docker.sock'}")
    try:
        with pytest.raises(InfrastructureFault) as caught:
            await build(executor, context, LogRecorder())
        assert caught.value.code is BuildFailureCode.DOCKER_UNAVAILABLE
    finally:
        await executor.aclose()


async def test_prune_leftovers_removes_our_old_tags_only(
    docker_client: docker.DockerClient, base_image: str
) -> None:
    """A runner killed between its build and the image's removal leaves a tagged image: the clean-up job
    removes it once it is older than the cut-off, and leaves every other tag alone."""
    prefix = f"daas-test-prune-{uuid.uuid4().hex[:8]}"
    ours = f"{prefix}-{uuid.uuid4().hex}"
    other = f"daas-test-keep-{uuid.uuid4().hex[:8]}"
    image = docker_client.images.get(base_image)
    assert image.tag(ours, "latest") and image.tag(other, "latest")
    try:
        async with DockerBuildExecutor(tag_prefix=prefix) as executor:
            # The image's creation time decides (the base image is minutes old): a ten-year cut-off keeps it.
            assert await executor.prune_leftovers(older_than_s=10 * 365 * 86400) == 0
            assert f"{ours}:latest" in docker_client.images.get(image.id).tags

            assert await executor.prune_leftovers(older_than_s=0) >= 1
        tags = docker_client.images.get(image.id).tags
        assert f"{ours}:latest" not in tags
        assert f"{other}:latest" in tags and base_image in tags
    finally:
        for tag in (f"{ours}:latest", f"{other}:latest"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(tag)
