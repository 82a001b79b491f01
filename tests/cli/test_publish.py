"""`daas publish`: a fake `sui` prints what `sui client publish --json` prints; the ids land in TOML."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import Cli, cli_command, cli_env

PKG = "0x" + "ab" * 32
REGISTRY = "0x" + "11" * 32
ADMIN_CAP = "0x" + "22" * 32
ENCLAVE_CONFIG = "0x" + "33" * 32
UPGRADE_CAP = "0x" + "44" * 32
SENDER = "0x" + "5e" * 32
DIGEST = "7q1bHLUxJQmNhb8fFSHPTbXGvVnA4wQ1cB3QGbkSpw8K"


def _created(object_id: str, object_type: str, owner: Any) -> dict[str, Any]:
    return {
        "type": "created",
        "sender": SENDER,
        "owner": owner,
        "objectType": object_type,
        "objectId": object_id,
        "version": "17",
        "digest": "3kwGxhCbVEdMkJRmoTg9ZvTk6YhQWAiEzJMXYYvDmUcE",
    }


def publish_response(status: dict[str, str] | None = None) -> dict[str, Any]:
    """The shape of `sui client publish --json`: a SuiTransactionBlockResponse (JSON-RPC, camelCase)."""
    shared = {"Shared": {"initial_shared_version": 17}}
    return {
        "digest": DIGEST,
        "transaction": {
            "data": {
                "messageVersion": "v1",
                "transaction": {
                    "kind": "ProgrammableTransaction",
                    "inputs": [],
                    "transactions": [],
                },
                "sender": SENDER,
                "gasData": {"payment": [], "owner": SENDER, "price": "1000", "budget": "500000000"},
            },
            "txSignatures": ["AEx0…"],
        },
        "effects": {
            "messageVersion": "v1",
            "status": status or {"status": "success"},
            "executedEpoch": "3",
            "gasUsed": {
                "computationCost": "1000000",
                "storageCost": "98000000",
                "storageRebate": "978120",
                "nonRefundableStorageFee": "9880",
            },
            "transactionDigest": DIGEST,
        },
        "events": [],
        "objectChanges": [
            {
                "type": "mutated",
                "sender": SENDER,
                "owner": {"AddressOwner": SENDER},
                "objectType": "0x2::coin::Coin<0x2::sui::SUI>",
                "objectId": "0x" + "66" * 32,
                "version": "17",
                "previousVersion": "16",
                "digest": "9xQW…",
            },
            _created(REGISTRY, f"{PKG}::builds::Registry", shared),
            _created(UPGRADE_CAP, "0x2::package::UpgradeCap", {"AddressOwner": SENDER}),
            {
                "type": "published",
                "packageId": PKG,
                "version": "1",
                "digest": "Hn5bkxJ4…",
                "modules": ["builds", "enclave"],
            },
            _created(ADMIN_CAP, f"{PKG}::builds::AdminCap", {"AddressOwner": SENDER}),
            _created(ENCLAVE_CONFIG, f"{PKG}::enclave::EnclaveConfig", shared),
        ],
        "balanceChanges": [
            {"owner": {"AddressOwner": SENDER}, "coinType": "0x2::sui::SUI", "amount": "-98021880"}
        ],
        "confirmedLocalExecution": True,
    }


def fake_sui(tmp: Path, stdout: str, *, code: int = 0, stderr: str = "") -> Path:
    """An executable `sui` that insists on `client publish --json --gas-budget N DIR` and records argv."""
    (tmp / "sui.stdout").write_text(stdout)
    (tmp / "sui.stderr").write_text(stderr)
    script = tmp / "bin" / "sui"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        f"""#!{sys.executable}
import json, sys
from pathlib import Path
here = Path({str(tmp)!r})
args = sys.argv[1:]
(here / "sui.argv").write_text(json.dumps(args))
ok = (
    args[:3] == ["client", "publish", "--json"]
    and args[3] == "--gas-budget" and args[4].isdigit()
    and len(args) == 6 and (Path(args[5]) / "Move.toml").is_file()
)
if not ok:
    print("fake sui: unexpected arguments", args, file=sys.stderr)
    sys.exit(64)
sys.stderr.write((here / "sui.stderr").read_text())
sys.stdout.write((here / "sui.stdout").read_text())
sys.exit({code})
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def run(tmp: Path, *args: str, json_output: bool = False, config: Path | None = None) -> Cli:
    done = subprocess.run(
        cli_command("publish", *args, config=config, json_output=json_output),
        capture_output=True,
        text=True,
        env=cli_env({"PATH": str(tmp / "empty-path")}),
        cwd=tmp,
        timeout=60,
        check=False,
    )
    return Cli(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def move_dir(tmp_path: Path) -> Path:
    path = tmp_path / "move"
    path.mkdir()
    (path / "Move.toml").write_text('[package]\nname = "daas"\n')
    return path


def test_publish_records_the_ids_in_daas_toml(tmp_path: Path, move_dir: Path) -> None:
    sui = fake_sui(
        tmp_path,
        json.dumps(publish_response(), indent=2),
        stderr="INCLUDING DEPENDENCY Sui\nBUILDING daas\n",
    )
    done = run(tmp_path, "--sui", str(sui), "--gas-budget", "500000000")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "sui.argv").read_text()) == [
        "client",
        "publish",
        "--json",
        "--gas-budget",
        "500000000",
        "move",
    ]
    written = tomllib.loads((tmp_path / "daas.toml").read_text())
    assert written == {
        "chain": {
            "package_id": PKG,
            "registry_id": REGISTRY,
            "enclave_config_id": ENCLAVE_CONFIG,
        }
    }
    # The AdminCap is what `daas enclave register-debug --admin-cap` needs: printed with its use.
    assert f"AdminCap {ADMIN_CAP}" in done.stderr
    assert f"--admin-cap {ADMIN_CAP}" in done.stderr
    assert PKG in done.stderr and REGISTRY in done.stderr and DIGEST in done.stderr


def test_publish_merges_into_the_config_file_and_prints_json(
    tmp_path: Path, move_dir: Path
) -> None:
    sui = fake_sui(tmp_path, json.dumps(publish_response()))
    config = tmp_path / "conf" / "testnet.toml"
    config.parent.mkdir()
    original = (
        "# operator settings\n"
        'network = "testnet"\n'
        "\n"
        "[chain]  # our package\n"
        "gas_budget = 200000000\n"
        f'package_id = "0x{"99" * 32}"   # an earlier publish\n'
        'extra_package_ids = [\n  "0x1",\n]\n'
        "\n"
        "[keys]\n"
        'sui_keystore = "/etc/daas/sui.keystore"\n'
    )
    config.write_text(original)
    config.chmod(0o600)
    done = run(
        tmp_path, "--sui", str(sui), "--move-dir", str(move_dir), config=config, json_output=True
    )
    assert done.returncode == 0, done.stderr
    assert done.json() == {
        "package_id": PKG,
        "registry_id": REGISTRY,
        "admin_cap_id": ADMIN_CAP,
        "enclave_config_id": ENCLAVE_CONFIG,
        "upgrade_cap_id": UPGRADE_CAP,
        "tx_digest": DIGEST,
        "sender": SENDER,
        "settings_file": str(config),
        "replaced": {"package_id": "0x" + "99" * 32},
    }
    text = config.read_text()
    assert text.startswith("# operator settings\n")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert not (tmp_path / "daas.toml").exists()
    assert tomllib.loads(text) == {
        "network": "testnet",
        "chain": {
            "gas_budget": 200000000,
            "package_id": PKG,
            "registry_id": REGISTRY,
            "enclave_config_id": ENCLAVE_CONFIG,
            "extra_package_ids": ["0x1"],
        },
        "keys": {"sui_keystore": "/etc/daas/sui.keystore"},
    }
    # The settings load: the ids are valid settings.
    from daas.config import load_settings

    settings = load_settings(config)
    assert settings.chain.package_id == PKG and settings.chain.registry_id == REGISTRY

    # --output wins over --config, and a file without [chain] gets the table appended.
    other = tmp_path / "other.toml"
    other.write_text('network = "devnet"\n')
    again = run(tmp_path, "--sui", str(sui), "--output", str(other), config=config)
    assert again.returncode == 0, again.stderr
    assert tomllib.loads(other.read_text()) == {
        "network": "devnet",
        "chain": {"package_id": PKG, "registry_id": REGISTRY, "enclave_config_id": ENCLAVE_CONFIG},
    }


def test_publish_without_sui(tmp_path: Path, move_dir: Path) -> None:
    done = run(tmp_path)  # PATH has no sui
    assert done.returncode == 2
    assert "Sui CLI" in done.stderr and "install" in done.stderr
    for setting in ("chain.package_id", "chain.registry_id", "chain.enclave_config_id"):
        assert setting in done.stderr
    assert "DAAS_CHAIN__PACKAGE_ID" in done.stderr

    named = run(tmp_path, "--sui", str(tmp_path / "nowhere" / "sui"))
    assert named.returncode == 2 and "nowhere" in named.stderr
    assert not (tmp_path / "daas.toml").exists()


def test_publish_without_a_move_package(tmp_path: Path) -> None:
    sui = fake_sui(tmp_path, json.dumps(publish_response()))
    done = run(tmp_path, "--sui", str(sui), "--move-dir", str(tmp_path / "missing"))
    assert done.returncode == 2 and "Move.toml" in done.stderr
    assert not (tmp_path / "sui.argv").exists()


def test_publish_when_sui_fails(tmp_path: Path, move_dir: Path) -> None:
    noise = "".join(f"UPDATING GIT DEPENDENCY line {i}\n" for i in range(50))
    sui = fake_sui(
        tmp_path,
        "",
        code=1,
        stderr=noise + "Error executing transaction: Cannot find gas coin for signer address\n",
    )
    done = run(tmp_path, "--sui", str(sui))
    assert done.returncode == 1
    assert "exited with status 1" in done.stderr
    assert "Cannot find gas coin" in done.stderr
    assert "line 49" in done.stderr and "line 5\n" not in done.stderr  # only the tail
    assert not (tmp_path / "daas.toml").exists()


def test_publish_with_failed_effects(tmp_path: Path, move_dir: Path) -> None:
    failed = publish_response({"status": "failure", "error": "InsufficientGas"})
    sui = fake_sui(tmp_path, json.dumps(failed), stderr="warning from sui\n")
    done = run(tmp_path, "--sui", str(sui), json_output=True)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "failed on chain" in done.stderr and "InsufficientGas" in done.stderr
    assert DIGEST in done.stderr and "warning from sui" in done.stderr
    assert not (tmp_path / "daas.toml").exists()


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("Transaction Digest: 7q1b…\n╭────╮\n", "not a JSON object"),
        ('{"digest": "x", "effects": {', "not a JSON object"),
        (json.dumps({"digest": "x"}), "no effects.status"),
        (
            json.dumps(
                {**publish_response(), "objectChanges": publish_response()["objectChanges"][:3]}
            ),
            "found 0",
        ),
    ],
    ids=["table", "truncated", "no-effects", "not-daas"],
)
def test_publish_with_malformed_output(
    tmp_path: Path, move_dir: Path, stdout: str, message: str
) -> None:
    sui = fake_sui(tmp_path, stdout)
    done = run(tmp_path, "--sui", str(sui))
    assert done.returncode == 1, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "daas.toml").exists()


def test_publish_keeps_a_file_it_cannot_merge(tmp_path: Path, move_dir: Path) -> None:
    sui = fake_sui(tmp_path, json.dumps(publish_response()))
    target = tmp_path / "inline.toml"
    original = "chain = { gas_budget = 2000000 }\n"
    target.write_text(original)
    done = run(tmp_path, "--sui", str(sui), "--output", str(target))
    assert done.returncode == 2
    assert "not recorded" in done.stderr and "by hand" in done.stderr
    assert ADMIN_CAP in done.stderr  # the ids of a package already on chain are not lost
    assert target.read_text() == original
