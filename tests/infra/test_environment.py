"""`require()` skips locally and fails under CI; the autouse fixture hides DAAS_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.environment import in_ci, require

REPO_ROOT = Path(__file__).resolve().parents[2]

# Run in a child pytest, exactly as a real test session would see it: one test whose requirement is
# missing, one whose requirement is met, and one that inspects the environment it was given.
_CHILD_TESTS = """
from __future__ import annotations

import os

from tests.fixtures.environment import require


def test_missing() -> None:
    require(False, "widget server not running")


def test_present() -> None:
    require(True, "never shown")


def test_environment_is_clean() -> None:
    assert "DAAS_DATABASE_URL" not in os.environ
    assert os.environ["DAAS_TEST_KEEP_ME"] == "kept"
    assert os.environ["OTHER_SETTING"] == "kept"
"""


def _run_child(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # own rootdir: not the repo's addopts
    (tmp_path / "test_child.py").write_text(_CHILD_TESTS)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {
        "PYTHONPATH": str(REPO_ROOT),
        "DAAS_DATABASE_URL": "sqlite:////should/not/leak.db",
        "DAAS_TEST_KEEP_ME": "kept",
        "OTHER_SETTING": "kept",
    }
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
         "tests.fixtures.environment", "-rsf", "test_child.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_require_skips_outside_ci(tmp_path: Path) -> None:
    result = _run_child(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 1 skipped" in result.stdout
    assert "widget server not running" in result.stdout


def test_require_fails_under_ci(tmp_path: Path) -> None:
    result = _run_child(tmp_path, ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 2 passed" in result.stdout
    assert "widget server not running (a skip is a failure under CI=true)" in result.stdout


def test_only_ci_true_counts_as_ci(tmp_path: Path) -> None:
    # CI=false (or 0) is a developer opting out, not a CI run.
    result = _run_child(tmp_path, ci="false")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 1 skipped" in result.stdout


@pytest.mark.parametrize(
    ("value", "expected"), [(None, False), ("true", True), ("TRUE", True), ("1", False)]
)
def test_in_ci(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_require_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    require(True, "not raised")
    with pytest.raises(pytest.skip.Exception, match="gadget"):
        require(False, "gadget")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match=r"gadget \(a skip is a failure under CI=true\)"
    ):
        require(False, "gadget")
