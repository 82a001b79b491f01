"""`daas submit` as a user runs it: a subprocess with a config pointing at the stand-ins."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from daas.bundle import pack_directory
from daas.chain.codecs import RequestStatus
from tests.cli.support import CLOSED_URL, HELLO, CliStack, run_cli

pytestmark = pytest.mark.anyio


async def test_submit_detach_puts_the_packed_spec_on_chain(stack: CliStack) -> None:
    done = await run_cli("submit", str(HELLO), "--detach", config=stack.user_config, json=True)
    assert done.returncode == 0, done.stderr
    (line,) = done.json_lines()
    with pack_directory(HELLO) as packed:
        expected = packed.read_bytes()
        sha256 = packed.sha256
    assert line["kind"] == "submitted" and line["sha256"] == sha256.hex()
    assert line["size"] == len(expected) and line["files"] == 5

    request = await stack.request(line["request_id"])
    assert request.status == RequestStatus.PENDING
    assert request.requester == stack.user.address == line["requester"]
    assert request.spec.source_blob_id == line["blob_id"]
    assert request.spec.source_sha256 == sha256
    assert request.spec.dockerfile_path == "Dockerfile"
    assert request.spec.platform == "linux/amd64"
    assert request.spec_digest.hex() == line["spec_digest"] == request.spec.digest().hex()
    assert request.fee_amount == line["fee"] == 10_000_000  # the registry's minimum by default
    # The bytes on Walrus are the canonical bundle of the directory.
    assert await stack.store.read(line["blob_id"]) == expected
    assert line["request_id"] in line["explorer_request_url"]
    assert line["tx_digest"] in line["explorer_tx_url"]


async def test_submit_human_output_and_options(stack: CliStack, tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    (context / "docker").mkdir(parents=True)
    (context / "docker" / "Build.dockerfile").write_text("FROM daas-base:latest\n")
    done = await run_cli(
        "submit",
        str(context),
        "--dockerfile",
        "docker/Build.dockerfile",
        "--platform",
        "linux/arm64",
        "--fee",
        "12345678",
        "--detach",
        config=stack.user_config,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # humans read stderr; stdout is for --json
    text = done.stderr
    assert "bundle" in text and "sha256" in text and "stored on Walrus as" in text
    request_id = text.split("requested build ")[1].split()[0]
    assert "custom.suiscan.xyz/custom/object/" + request_id in text
    assert "custom.suiscan.xyz/custom/tx/" in text
    assert f"daas watch {request_id}" in text
    request = await stack.request(request_id)
    assert request.spec.dockerfile_path == "docker/Build.dockerfile"
    assert request.spec.platform == "linux/arm64"
    assert request.fee_amount == 12_345_678


async def test_submit_bundle_file_as_it_is(stack: CliStack, tmp_path: Path) -> None:
    # An ordinary `tar czf`-style archive (not canonical): submitted byte for byte.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in {
            "./Dockerfile": b"FROM daas-base:latest\n",
            "./a.txt": b"a\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    bundle = tmp_path / "ci-bundle.tar.gz"
    bundle.write_bytes(buffer.getvalue())
    done = await run_cli(
        "submit", "--bundle", str(bundle), "--detach", config=stack.user_config, json=True
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.json_lines()
    digest = hashlib.sha256(bundle.read_bytes()).digest()
    assert line["sha256"] == digest.hex() and line["files"] == 2
    request = await stack.request(line["request_id"])
    assert request.spec.source_sha256 == digest
    assert await stack.store.read(request.spec.source_blob_id) == bundle.read_bytes()


# --- error paths ---------------------------------------------------------------------------------------


async def test_missing_key_says_which_settings_to_set(stack: CliStack, tmp_path: Path) -> None:
    settings = stack.settings()
    settings["keys"] = {"sui_keystore": str(tmp_path / "absent.keystore")}
    config = tmp_path / "nokey.toml"
    from tests.cli.support import write_config

    write_config(config, settings)
    done = await run_cli("submit", str(HELLO), "--detach", config=config)
    assert done.returncode == 2
    assert "keys.sui_private_key" in done.stderr and "keys.sui_keystore" in done.stderr
    assert "daas keys new" in done.stderr and "Traceback" not in done.stderr


async def test_unreachable_node_names_the_url(stack: CliStack) -> None:
    config = stack.config("badnode", chain={"grpc_url": CLOSED_URL})
    done = await run_cli("submit", str(HELLO), "--detach", config=config)
    assert done.returncode == 3, done.stderr
    assert CLOSED_URL in done.stderr and "chain.grpc_url" in done.stderr


async def test_unreachable_walrus_names_the_url(stack: CliStack) -> None:
    config = stack.config(
        "badwalrus", walrus={"publisher_url": CLOSED_URL, "aggregator_url": CLOSED_URL}
    )
    done = await run_cli("submit", str(HELLO), "--detach", config=config)
    assert done.returncode == 3, done.stderr
    assert f"publisher {CLOSED_URL}" in done.stderr


async def test_bad_directories(stack: CliStack, tmp_path: Path) -> None:
    not_dir = tmp_path / "file.txt"
    not_dir.write_text("x")
    done = await run_cli("submit", str(not_dir), "--detach", config=stack.user_config)
    assert done.returncode == 2 and "is not a directory" in done.stderr
    done = await run_cli("submit", str(tmp_path / "absent"), "--detach", config=stack.user_config)
    assert done.returncode == 2 and "does not exist" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = await run_cli("submit", str(empty), "--detach", config=stack.user_config)
    assert done.returncode == 1 and "no Dockerfile at 'Dockerfile'" in done.stderr
    done = await run_cli("submit", "--detach", config=stack.user_config)
    assert done.returncode == 2 and "either a context directory" in done.stderr


async def test_bad_bundle_files(stack: CliStack, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a gzip stream at all")
    done = await run_cli("submit", "--bundle", str(junk), "--detach", config=stack.user_config)
    assert done.returncode == 1 and "bad bundle file" in done.stderr and "gzip" in done.stderr
    done = await run_cli(
        "submit", "--bundle", str(tmp_path / "absent.tgz"), "--detach", config=stack.user_config
    )
    assert done.returncode == 2 and "is not a file" in done.stderr


async def test_bundle_over_the_publisher_cap(stack: CliStack, tmp_path: Path) -> None:
    context = tmp_path / "big"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM daas-base:latest\nCOPY blob /blob\n")
    (context / "blob").write_bytes(bytes(range(256)) * 1200)  # ~300 KiB, over the 256 KiB cap
    done = await run_cli("submit", str(context), "--detach", config=stack.user_config)
    assert done.returncode == 1
    assert (
        "request cap of 262144 bytes" in done.stderr and "walrus.max_request_bytes" in done.stderr
    )


async def test_insufficient_balance(stack: CliStack) -> None:
    from daas.chain.keys import SuiSigner

    poor = SuiSigner.generate()
    stack.chain.standin.fund(poor.address, 50_000_000)
    await stack.chain.standin.cut_checkpoint()
    done = await run_cli("submit", str(HELLO), "--detach", config=stack.config("poor", poor))
    assert done.returncode == 1, done.stderr
    assert "insufficient balance" in done.stderr and poor.address in done.stderr
    # Nothing was stored or requested: the check comes before Walrus.
    assert stack.walrus.standin.ledger.blob_count() == 0


async def test_fee_below_the_minimum(stack: CliStack) -> None:
    done = await run_cli("submit", str(HELLO), "--fee", "5", "--detach", config=stack.user_config)
    assert done.returncode == 2 and "minimum fee of 10000000" in done.stderr


async def test_submit_follows_the_build_until_it_succeeds(stack: CliStack, tmp_path: Path) -> None:
    import asyncio
    import json
    import subprocess

    import anyio

    from daas.db.models import BuildStatus
    from tests.cli.support import (
        cli_command,
        cli_env,
        log_event,
        pending_event,
        running_api,
        step_event,
    )

    async with running_api(tmp_path) as api:
        proc = await asyncio.create_subprocess_exec(
            *cli_command(
                "submit", str(HELLO), "--api", api.url, config=stack.user_config, json_output=True
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(),
        )
        try:
            assert proc.stdout is not None
            with anyio.fail_after(30):
                first = json.loads(await proc.stdout.readline())
            request_id = first["request_id"]
            await anyio.sleep(0.5)  # the API does not know the build yet: the CLI waits for it
            api.insert(request_id)
            api.add(
                request_id,
                [pending_event(), step_event("building", "started"), log_event(1, 2)],
            )
            api.settle(request_id, BuildStatus.SUCCEEDED)
            with anyio.fail_after(30):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
    assert proc.returncode == 0, err.decode()
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["kind"] for e in events[:3]] == ["status", "step", "log"]
    assert events[-1]["final"] is True and events[-1]["build_id"] == request_id
    assert "waiting for the API to see the request" in err.decode()
