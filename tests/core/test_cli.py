"""The `daas` command line, run as a real subprocess the way users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "daas.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_config_show_json_redacts_secrets(tmp_path: Path) -> None:
    key = "suiprivkey1" + "z" * 59
    result = run_cli(
        "--json",
        "config",
        "show",
        env={
            "DAAS_DATA_DIR": str(tmp_path),
            "DAAS_KEYS__SUI_PRIVATE_KEY": key,
            "DAAS_DATABASE_URL": "postgresql://daas:pw123@127.0.0.1/daas",
        },
    )
    assert result.returncode == 0, result.stderr
    assert key not in result.stdout and "pw123" not in result.stdout
    data = json.loads(result.stdout)
    assert data["data_dir"] == str(tmp_path)
    assert data["keys"]["sui_private_key"] == "**********"
    assert data["database_url"] == "postgresql://daas:***@127.0.0.1/daas"


def test_config_file_flag(tmp_path: Path) -> None:
    config = tmp_path / "daas.toml"
    config.write_text('network = "testnet"\n[api]\nport = 9999\n')
    result = run_cli("--config", str(config), "--json", "config", "show")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["network"] == "testnet" and data["api"]["port"] == 9999


def test_invalid_setting_exits_2_and_names_it(tmp_path: Path) -> None:
    result = run_cli("config", "show", env={"DAAS_API__PORT": "70000"})
    assert result.returncode == 2
    assert "api.port" in result.stderr and "DAAS_API__PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_works_even_with_a_broken_config() -> None:
    result = run_cli("--help", env={"DAAS_API__PORT": "not-a-port"})
    assert result.returncode == 0
    assert "config" in result.stdout and "db" in result.stdout


def test_db_upgrade_then_current_on_sqlite(tmp_path: Path) -> None:
    env = {"DAAS_DATA_DIR": str(tmp_path)}
    up = run_cli("--json", "db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    revision = json.loads(up.stdout)["revision"]
    assert revision
    assert (tmp_path / "daas.db").exists()
    now = run_cli("--json", "db", "current", env=env)
    assert now.returncode == 0, now.stderr
    assert json.loads(now.stdout) == {
        "database_url": f"sqlite:///{tmp_path / 'daas.db'}",
        "revision": revision,
        "head": revision,
    }
    down = run_cli("--json", "db", "downgrade", "base", env=env)
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["revision"] is None


def test_db_upgrade_reports_an_unreachable_database() -> None:
    result = run_cli(
        "db",
        "upgrade",
        env={"DAAS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    assert result.returncode == 1
    assert "error:" in result.stderr and "Traceback" not in result.stderr
