"""`daas attestation verify FILE`: synthetic documents against their own root and against the pinned AWS root."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from daas.attestation.testing import default_pcrs, make_document
from tests.cli.support import run_cli

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def document() -> tuple[bytes, bytes]:
    made = make_document()
    return made.raw, made.root_der


def _files(tmp_path: Path, document: tuple[bytes, bytes]) -> tuple[Path, Path, Path]:
    raw, root_der = document
    binary = tmp_path / "doc.cbor"
    binary.write_bytes(raw)
    hex_file = tmp_path / "doc.hex"
    hex_file.write_text("0x" + raw.hex() + "\n")
    pem = tmp_path / "root.pem"
    pem.write_bytes(x509.load_der_x509_certificate(root_der).public_bytes(Encoding.PEM))
    return binary, hex_file, pem


async def test_a_document_verifies_against_its_own_root(
    tmp_path: Path, document: tuple[bytes, bytes]
) -> None:
    binary, hex_file, pem = _files(tmp_path, document)
    pcrs = default_pcrs()
    done = await run_cli(
        "attestation", "verify", str(binary), "--root", str(pem),
        "--pcr0", pcrs[0].hex(), "--pcr1", pcrs[1].hex(), "--pcr2", pcrs[2].hex(),
        "--public-key", bytes(range(32)).hex(), json=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = done.json()
    assert report["ok"] is True
    names = [check["name"] for check in report["checks"]]
    assert names[:3] == ["document", "signature", "root"]
    assert names[-2:] == ["expected_pcrs", "expected_public_key"]

    human = await run_cli("attestation", "verify", str(hex_file), "--root", str(pem))
    assert human.returncode == 0, human.stderr
    assert "✓ signature" in human.stderr and "verified:" in human.stderr


async def test_the_pinned_aws_root_refuses_a_synthetic_chain(
    tmp_path: Path, document: tuple[bytes, bytes]
) -> None:
    binary, _, _ = _files(tmp_path, document)
    done = await run_cli("attestation", "verify", str(binary), json=True)
    assert done.returncode == 1
    failed = {check["name"] for check in done.json()["checks"] if not check["ok"]}
    assert {"root", "chain"} <= failed and "signature" not in failed


async def test_expected_values_that_differ(tmp_path: Path, document: tuple[bytes, bytes]) -> None:
    binary, _, pem = _files(tmp_path, document)
    done = await run_cli(
        "attestation", "verify", str(binary), "--root", str(pem), "--pcr1", "00" * 48,
        "--public-key", "11" * 32, json=True,
    )  # fmt: skip
    assert done.returncode == 1
    failed = [check["name"] for check in done.json()["checks"] if not check["ok"]]
    assert failed == ["expected_pcrs", "expected_public_key"]


async def test_bad_inputs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not cbor")
    done = await run_cli("attestation", "verify", str(junk), json=True)
    assert done.returncode == 1
    assert [check["name"] for check in done.json()["checks"]] == ["document"]

    missing = await run_cli("attestation", "verify", str(tmp_path / "absent.cbor"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr

    short_pcr = await run_cli("attestation", "verify", str(junk), "--pcr0", "abcd")
    assert short_pcr.returncode == 2 and "a PCR is 48 bytes" in short_pcr.stderr
