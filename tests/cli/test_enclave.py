"""`daas enclave register-debug`: the local attestor key on chain as a debug enclave, by the admin only."""

from __future__ import annotations

import pytest

from daas.attestation.attestor import LocalKeyAttestor
from daas.chain.codecs import EnclaveObject, RegistryObject
from tests.cli.support import CLOSED_URL, CliStack, run_cli

pytestmark = pytest.mark.anyio


async def test_register_debug_enclave(stack: CliStack) -> None:
    cap = stack.chain.standin.admin_cap_id
    refused = await run_cli(
        "enclave", "register-debug", "--admin-cap", cap, config=stack.admin_config
    )
    assert refused.returncode == 2 and "does not allow debug enclaves" in refused.stderr
    assert "--allow-debug" in refused.stderr

    done = await run_cli(
        "enclave", "register-debug", "--admin-cap", cap, "--allow-debug",
        config=stack.admin_config, json=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = done.json()
    assert result["allow_debug_switched_on"] is True and result["newly_registered"] is True
    key = LocalKeyAttestor.load_or_create(stack.enclave_key_file)
    info = await stack.chain.client.get_object(result["enclave_id"])
    assert info.contents is not None
    enclave = EnclaveObject.from_bcs(info.contents)
    assert enclave.debug and enclave.pk == key.public_key
    assert enclave.pk.hex() == result["public_key"]
    registry = await stack.chain.client.get_object(stack.chain.standin.registry_id)
    assert registry.contents is not None and RegistryObject.from_bcs(registry.contents).allow_debug

    # Run again: the recorded enclave is still usable, so nothing new is registered.
    again = await run_cli(
        "enclave", "register-debug", "--admin-cap", cap, config=stack.admin_config
    )
    assert again.returncode == 0, again.stderr
    assert f"debug enclave {result['enclave_id']} already registered" in again.stderr


async def test_register_debug_error_paths(stack: CliStack) -> None:
    cap = stack.chain.standin.admin_cap_id
    not_admin = await run_cli(
        "enclave", "register-debug", "--admin-cap", cap, "--allow-debug", config=stack.user_config
    )
    assert not_admin.returncode == 2 and "register with the admin's key" in not_admin.stderr

    not_cap = await run_cli(
        "enclave", "register-debug", "--admin-cap", stack.chain.standin.registry_id,
        config=stack.admin_config,
    )  # fmt: skip
    assert not_cap.returncode == 2 and "is not the AdminCap" in not_cap.stderr

    testnet = stack.config("testnet", stack.chain.admin, network="testnet")
    production = await run_cli(
        "enclave", "register-debug", "--admin-cap", cap, "--allow-debug", config=testnet
    )
    assert production.returncode == 2 and "refused on testnet" in production.stderr

    node = await run_cli(
        "enclave", "register-debug", "--admin-cap", cap,
        config=stack.config("bad", stack.chain.admin, chain={"grpc_url": CLOSED_URL}),
    )  # fmt: skip
    assert node.returncode == 3 and CLOSED_URL in node.stderr


async def test_a_missing_option_is_a_usage_error() -> None:
    usage = await run_cli("enclave", "register-debug")
    assert usage.returncode == 2 and "--admin-cap" in usage.stderr
    assert "Traceback" not in usage.stderr
