"""`daas keys new` and `daas keys show`: Sui keystore files (0600), addresses, never the secret by default."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from daas.chain.keys import SuiSigner
from tests.cli.support import CLOSED_URL, CliStack, run_cli, write_config

pytestmark = pytest.mark.anyio


async def test_keys_new_writes_a_private_keystore(tmp_path: Path) -> None:
    keystore = tmp_path / "keys" / "sui.keystore"
    done = await run_cli("keys", "new", "--output", str(keystore), json=True)
    assert done.returncode == 0, done.stderr
    data = done.json()
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    signer = SuiSigner.from_keystore(keystore)
    assert data == {"address": signer.address, "keystore": str(keystore)}
    assert "suiprivkey" not in done.stdout + done.stderr
    assert signer.keystore_entry() not in done.stdout + done.stderr

    # An existing keystore is never overwritten; --append adds to it.
    again = await run_cli("keys", "new", "--output", str(keystore))
    assert again.returncode == 2 and "--append" in again.stderr
    added = await run_cli(
        "keys", "new", "--output", str(keystore), "--append", "--show-secret", json=True
    )
    assert added.returncode == 0, added.stderr
    second = added.json()
    assert len(json.loads(keystore.read_text())) == 2
    assert SuiSigner.from_keystore(keystore, address=second["address"]).address == second["address"]
    assert SuiSigner.from_bech32(second["private_key"]).address == second["address"]


async def test_keys_new_defaults_to_the_configured_keystore(tmp_path: Path) -> None:
    keystore = tmp_path / "default.keystore"
    config = write_config(tmp_path / "c.toml", {"keys": {"sui_keystore": str(keystore)}})
    done = await run_cli("keys", "new", config=config)
    assert done.returncode == 0, done.stderr
    address = SuiSigner.from_keystore(keystore).address
    assert address in done.stderr
    shown = await run_cli("keys", "show", config=config, json=True)
    assert shown.returncode == 0 and shown.json() == {"address": address, "source": str(keystore)}


async def test_keys_show_with_balance(stack: CliStack) -> None:
    done = await run_cli("keys", "show", "--balance", config=stack.user_config, json=True)
    assert done.returncode == 0, done.stderr
    assert done.json() == {
        "address": stack.user.address,
        "source": "keys.sui_private_key",
        "balance_mist": 100 * 10**9,
    }


async def test_keys_show_error_paths(stack: CliStack, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", {"keys": {"sui_keystore": str(tmp_path / "none")}})
    missing = await run_cli("keys", "show", config=config)
    assert missing.returncode == 2
    assert "keys.sui_private_key" in missing.stderr and "does not exist" in missing.stderr

    unsafe = tmp_path / "open.keystore"
    unsafe.write_text(json.dumps([SuiSigner.generate().keystore_entry()]))
    unsafe.chmod(0o644)
    config = write_config(tmp_path / "u.toml", {"keys": {"sui_keystore": str(unsafe)}})
    refused = await run_cli("keys", "show", config=config)
    assert refused.returncode == 2 and "chmod 600" in refused.stderr

    node = await run_cli(
        "keys", "show", "--balance", config=stack.config("bad", chain={"grpc_url": CLOSED_URL})
    )
    assert node.returncode == 3 and CLOSED_URL in node.stderr
