"""scripts/test's Docker start-up logic, driven with stand-in `dockerd` and `docker` programs.

The real daemon cannot be made to fail on demand, so these tests put fakes first on PATH and a
private state dir in DAAS_TEST_STATE_DIR, then run scripts/test with no checks selected: what is
exercised is exactly the shell code that CI runs on a fresh machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.environment import require

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "test"

# Modes: "ok"; "overlay-broken" fails at start like dockerd when overlay2 cannot work, unless asked
# for vfs; "mount-broken" starts, but containers fail to run unless on vfs; "never-ready" never
# answers. Up, it writes its arguments to a marker file the fake client reads, then idles.
FAKE_DOCKERD = """\
#!/usr/bin/env bash
echo "fake dockerd $*"
if [[ "$FAKE_MODE" == overlay-broken && " $* " != *" --storage-driver=vfs "* ]]; then
    echo 'failed to start daemon: error initializing graphdriver: driver not supported' >&2
    exit 1
fi
if [[ "$FAKE_MODE" != never-ready ]]; then
    echo "$*" >"$FAKE_STATE/up"
fi
exec sleep 120
"""

FAKE_DOCKER = """\
#!/usr/bin/env bash
[[ -f "$FAKE_STATE/up" ]] || { echo 'Cannot connect to the Docker daemon' >&2; exit 1; }
if [[ "$1" == run && "$FAKE_MODE" == mount-broken ]] && ! grep -q vfs "$FAKE_STATE/up"; then
    echo 'error creating overlay mount to /var/lib/docker/overlay2/x/merged: invalid argument' >&2
    exit 1
fi
echo 20.10.24
"""


@pytest.fixture
def fake_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """PATH with the fakes first, a private state dir, and PostgreSQL set up out of the way."""
    require(os.geteuid() == 0, "scripts/test starts daemons only as root")
    # Otherwise scripts/test would install them with apt first; scripts/test has done it already.
    require(shutil.which("npm") is not None, "npm missing")
    require(Path("/bin/busybox").is_file(), "busybox-static missing")
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in [("dockerd", FAKE_DOCKERD), ("docker", FAKE_DOCKER)]:
        (bin_dir / name).write_text(textwrap.dedent(body))
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env |= {
        "PATH": f"{bin_dir}:{env['PATH']}",
        "FAKE_STATE": str(state),
        "DAAS_TEST_STATE_DIR": str(state),
        "DAAS_TEST_CHECKS": "none",
        # Present, so scripts/test neither installs nor starts PostgreSQL here.
        "DAAS_TEST_POSTGRES_URL": "postgresql+psycopg://unused@127.0.0.1:1/unused",
    }
    yield env
    # The fake daemon idles in its own session; end it by the pid scripts/test recorded.
    pid_file = state / "dockerd.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_starts_dockerd_with_the_required_flags(fake_env: dict[str, str]) -> None:
    fake_env["FAKE_MODE"] = "ok"
    result = _run(fake_env)
    assert result.returncode == 0, result.stderr
    log = (Path(fake_env["DAAS_TEST_STATE_DIR"]) / "dockerd.log").read_text()
    assert "fake dockerd --iptables=false --bridge=none --host=unix:///var/run/docker.sock" in log
    assert "engine ready" in result.stderr


def test_falls_back_to_vfs_when_overlay_fails(fake_env: dict[str, str]) -> None:
    fake_env["FAKE_MODE"] = "overlay-broken"
    result = _run(fake_env)
    assert result.returncode == 0, result.stderr
    assert "restarting with --storage-driver=vfs" in result.stderr
    state = Path(fake_env["DAAS_TEST_STATE_DIR"])
    # Remembered, so the next start goes straight to vfs.
    assert (state / "storage-driver").read_text().strip() == "vfs"


def test_falls_back_to_vfs_when_containers_cannot_mount(fake_env: dict[str, str]) -> None:
    fake_env["FAKE_MODE"] = "mount-broken"
    result = _run(fake_env)
    assert result.returncode == 0, result.stderr
    assert "restarting with --storage-driver=vfs" in result.stderr
    state = Path(fake_env["DAAS_TEST_STATE_DIR"])
    assert (state / "storage-driver").read_text().strip() == "vfs"
    assert "--storage-driver=vfs" in (state / "up").read_text()


def test_times_out_with_a_clear_error(fake_env: dict[str, str]) -> None:
    fake_env |= {"FAKE_MODE": "never-ready", "DAAS_TEST_DOCKER_TIMEOUT": "2"}
    result = _run(fake_env)
    assert result.returncode != 0
    assert "dockerd did not answer on /var/run/docker.sock within 2 s" in result.stderr


def test_reuses_a_running_engine(fake_env: dict[str, str]) -> None:
    (Path(fake_env["FAKE_STATE"]) / "up").touch()
    result = _run(fake_env)
    assert result.returncode == 0, result.stderr
    assert "engine already running" in result.stderr
    assert not (Path(fake_env["DAAS_TEST_STATE_DIR"]) / "dockerd.pid").exists()
