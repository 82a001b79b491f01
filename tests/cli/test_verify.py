"""`daas verify` on real builds: a completed one (real image, Docker), an attested enclave's failed one, tampering."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from api.app import create_app
from api.deps import HealthPolicy
from daas.attestation.testing import default_pcrs, make_chain, make_document
from daas.chain.codecs import BuildFailedPayload
from daas.chain.keys import SuiSigner
from daas.config import load_settings
from daas.db.engine import create_engine_for
from daas.image import store_build_log
from emulator.sui.testing import sign_result
from tests.api.support import serve
from tests.cli.support import (
    CAP,
    CLOSED_URL,
    CliStack,
    LogLine,
    cli_stack,
    complete_build,
    register_debug_enclave,
    run_cli,
    submit_hello,
)

pytestmark = pytest.mark.anyio

SUCCESS_CHECKS = [
    "request",
    "request.spec_digest",
    "request.status",
    "source",
    "registry",
    "enclave",
    "enclave.config",
    "enclave.config_version",
    "enclave.debug",
    "enclave.pcrs",
    "result.signature",
    "result.timestamp",
    "image.index",
    "image.manifest",
    "image.config",
    "image.platform",
]


def _failed(report: dict[str, object]) -> list[str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return [check["name"] for check in checks if not check["ok"]]


async def _api_verification(stack: CliStack, request_id: str) -> dict[str, Any]:
    """`GET /v1/builds/{id}/verification` of an API on the same chain and Walrus."""
    settings = load_settings(None, **stack.settings())
    engine = create_engine_for(f"sqlite:///{stack.tmp / 'api.db'}")
    try:
        app = create_app(
            settings, engine=engine, blob_store=stack.store, chain=stack.chain.client,
            health=HealthPolicy(None, None),
        )  # fmt: skip
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
            response = await http.get(f"/v1/builds/{request_id}/verification")
    finally:
        engine.dispose()
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_verify_a_completed_build_then_tamper_with_walrus_and_chain(
    stack: CliStack, docker_client: docker.DockerClient, base_image: str
) -> None:
    request_id = await submit_hello(stack)
    enclave_id = await register_debug_enclave(stack)
    build = await complete_build(stack, request_id, enclave_id)

    done = await run_cli("verify", request_id, config=stack.user_config, json=True)
    assert done.returncode == 0, done.stdout + done.stderr
    report = done.json()
    assert report["ok"] is True and report["status"] == "succeeded" and _failed(report) == []
    names = [check["name"] for check in report["checks"]]
    layers = [f"image.layer.{i}" for i in range(len(build.layer_chunks))]
    assert names == [*SUCCESS_CHECKS, *layers, "log"]
    assert len(layers) == 4  # the base, COPY hello.sh, COPY www/, RUN
    assert report["result_tx_digest"]
    assert any("debug enclave" in warning for warning in report["warnings"])

    # The API runs the same checklist for the dashboard, and gets the same answer.
    served = await _api_verification(stack, request_id)
    assert served["ok"] is True and [c["name"] for c in served["checks"]] == names
    assert [c["name"] for c in served["checks"] if c["warning"]] == ["enclave.debug"]
    assert served["result_tx_digest"] == report["result_tx_digest"]

    human = await run_cli("verify", request_id, config=stack.user_config)
    assert human.returncode == 0 and human.stdout == ""
    assert "verified: every claim of build" in human.stderr
    assert "! enclave.debug" in human.stderr and "✓ result.signature" in human.stderr

    # On a production network a debug enclave proves nothing: that one check fails.
    testnet = stack.config("testnet", network="testnet")
    strict = await run_cli("verify", request_id, config=testnet, json=True)
    assert strict.returncode == 1 and _failed(strict.json()) == ["enclave.debug"]

    # Walrus: one chunk of the last layer holds other bytes (same length).
    ledger = stack.walrus.standin.ledger
    chunk = build.layer_chunks[-1][0]
    original = ledger.read_content(chunk)
    ledger.write_content(chunk, bytes([original[0] ^ 0xFF]) + original[1:])
    try:
        tampered = await run_cli("verify", request_id, config=stack.user_config, json=True)
        served = await _api_verification(stack, request_id)
    finally:
        ledger.write_content(chunk, original)
    assert tampered.returncode == 1
    assert _failed(tampered.json()) == [layers[-1]] == _failed(served)
    human = await run_cli("verify", request_id, config=stack.user_config)
    assert human.returncode == 0  # restored

    # Chain: one byte of the stored result's image digest differs (the node's objects, as a test hook).
    node = stack.chain.standin.node
    stored = node.objects[request_id]
    digest = bytes.fromhex(build.manifest_digest.removeprefix("sha256:"))
    at = stored.contents.index(digest)
    changed = bytearray(stored.contents)
    changed[at] ^= 0x01
    node.objects[request_id] = dataclasses.replace(stored, contents=bytes(changed))
    try:
        forged = await run_cli("verify", request_id, config=stack.user_config)
    finally:
        node.objects[request_id] = stored
    assert forged.returncode == 1
    assert "✗ result.signature" in forged.stderr and "does not verify" in forged.stderr
    assert "✗ image.index" in forged.stderr and "✗ image.manifest" in forged.stderr
    assert (
        "3 of" in forged.stderr
        and "checks failed: result.signature, image.index, image.manifest" in forged.stderr
    )


async def test_verify_a_failed_build_of_an_attested_enclave(tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    synthetic = make_chain(valid_at=dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC))
    async with cli_stack(tmp_path, nitro_root_der=synthetic.root_der) as stack:
        chain = stack.chain
        pcrs = default_pcrs()
        admin = chain.submitter(chain.admin)
        await admin.submit(
            chain.package.update_pcrs(chain.standin.admin_cap_id, pcrs[0], pcrs[1], pcrs[2])
        )
        enclave_key = SuiSigner.generate()
        document = make_document(
            chain=synthetic, timestamp_ms=now_ms, pcrs=pcrs, public_key=enclave_key.public_key
        )
        relayer = chain.submitter(chain.users[1])
        registered = await relayer.submit(chain.package.register_enclave(document.raw))
        (enclave_id,) = [
            c.object_id for c in registered.created if (c.object_type or "").endswith("::Enclave")
        ]
        request_id = await submit_hello(stack)
        request = await stack.request(request_id)
        log = await store_build_log(
            stack.store, [LogLine(1, "stderr", "step 2/3 failed")], max_bytes=CAP
        )
        timestamp_ms = int(time.time() * 1000)
        payload = BuildFailedPayload(request_id, request.spec_digest, 110, log.sha256, log.blob_id)
        await relayer.submit(
            chain.package.fail(
                request_id,
                enclave_id,
                error_code=110,
                log_digest=log.sha256,
                log_blob_id=log.blob_id,
                timestamp_ms=timestamp_ms,
                signature=sign_result(enclave_key, payload, timestamp_ms),
            )
        )
        root = tmp_path / "synthetic-root.der"
        root.write_bytes(synthetic.root_der)

        done = await run_cli(
            "verify", request_id, "--nitro-root", str(root), config=stack.user_config, json=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = done.json()
        assert report["ok"] and report["status"] == "failed" and report["warnings"] == []
        names = [check["name"] for check in report["checks"]]
        assert "image.index" not in names and names[-1] == "log"
        for name in ("attestation.signature", "attestation.root", "attestation.chain",
                     "attestation.expected_pcrs", "attestation.expected_public_key",
                     "attestation.timestamp", "enclave.pcrs"):  # fmt: skip
            assert name in names, name
        checks = {check["name"]: check for check in report["checks"]}
        assert "error code 110" in checks["request.status"]["detail"]
        assert "failure payload" in checks["result.signature"]["detail"]

        # Against the pinned AWS root, the synthetic chain is not trusted.
        pinned = await run_cli("verify", request_id, config=stack.user_config, json=True)
        assert pinned.returncode == 1
        assert {"attestation.root", "attestation.chain"} <= set(_failed(pinned.json()))

        # PCRs published for another release: the config's PCR0 is not them.
        wrong = "ab" * 48
        other = await run_cli(
            "verify", request_id, "--nitro-root", str(root), "--pcr0", wrong,
            config=stack.user_config, json=True,
        )  # fmt: skip
        assert other.returncode == 1 and _failed(other.json()) == ["enclave.pcrs"]


# --- error paths ---------------------------------------------------------------------------------------


async def test_verify_error_paths(stack: CliStack, tmp_path: Path) -> None:
    unknown = await run_cli("verify", "0x" + "42" * 32, config=stack.user_config)
    assert unknown.returncode == 4 and "no object" in unknown.stderr

    bad_id = await run_cli("verify", "12345", config=stack.user_config)
    assert bad_id.returncode == 2 and "is not a request id" in bad_id.stderr

    # Not a build request at all: the registry's id.
    registry = stack.chain.standin.registry_id
    other = await run_cli("verify", registry, config=stack.user_config, json=True)
    assert other.returncode == 1 and _failed(other.json()) == ["request"]

    no_package = stack.settings()
    no_package["chain"] = {"grpc_url": stack.chain.standin.url}
    from tests.cli.support import write_config

    config = write_config(tmp_path / "nopackage.toml", no_package)
    missing = await run_cli("verify", registry, config=config)
    assert missing.returncode == 2 and "chain.package_id" in missing.stderr

    node = await run_cli(
        "verify", registry, config=stack.config("badnode", chain={"grpc_url": CLOSED_URL})
    )
    assert node.returncode == 3 and CLOSED_URL in node.stderr

    request_id = await submit_hello(stack)  # pending: only its source is on Walrus
    walrus = await run_cli(
        "verify",
        request_id,
        config=stack.config("badwalrus", walrus={"aggregator_url": CLOSED_URL}),
    )
    assert walrus.returncode == 3 and f"aggregator {CLOSED_URL}" in walrus.stderr
    pending = await run_cli("verify", request_id, config=stack.user_config, json=True)
    assert pending.returncode == 1 and _failed(pending.json()) == ["request.status"]
