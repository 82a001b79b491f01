"""scripts/check-move: Prettier with Mysten's Move plugin parses and format-checks Move sources.

The Move package cannot be compiled on our machines, so this check is CI's only syntax gate for
`move/`. These tests run it on samples of our own in a temp dir, away from `move/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.environment import require

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "check-move"

FORMATTED = """\
module daas::sample;

use std::string::String;

public struct Thing has key, store {
    id: UID,
    name: String,
    value: u64,
}

const EZeroValue: u64 = 1;

public fun new(name: String, value: u64, ctx: &mut TxContext): Thing {
    assert!(value > 0, EZeroValue);
    Thing { id: object::new(ctx), name, value }
}
"""

UNFORMATTED = FORMATTED.replace("    value: u64,\n}", "value:    u64 }")
BROKEN = "module daas::broken;\n\nfun f( {\n"


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    require(shutil.which("node") is not None, "node not found (scripts/test installs Node.js)")
    (tmp_path / "good.move").write_text(FORMATTED)
    (tmp_path / "bad.move").write_text(UNFORMATTED)
    (tmp_path / "broken.move").write_text(BROKEN)
    return tmp_path


def _check_move(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,  # the first call may run `npm ci`
        check=False,
    )


def test_formatted_file_passes(samples: Path) -> None:
    result = _check_move("good.move", cwd=samples)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All matched files use Prettier code style" in result.stdout


def test_unformatted_file_fails_and_write_fixes_it(samples: Path) -> None:
    result = _check_move("good.move", "bad.move", cwd=samples)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad.move" in result.stderr
    assert "good.move" not in result.stderr

    fixed = _check_move("--write", str(samples / "bad.move"), cwd=REPO_ROOT)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (samples / "bad.move").read_text() == FORMATTED


def test_syntax_error_fails(samples: Path) -> None:
    result = _check_move("broken.move", cwd=samples)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "broken.move" in result.stderr
