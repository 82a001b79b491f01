"""`LocalKeyAttestor` (0600 key file, created when missing, never shown) and the registration of its key as a
debug enclave on the Sui stand-in, recorded and found again."""

from __future__ import annotations

import logging
import os
import pickle
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from daas.attestation.attestor import LocalKeyAttestor, sign_result, verify_result
from daas.attestation.registration import (
    EnclaveRecord,
    ensure_debug_enclave,
    record_path_for,
    resolve_enclave,
)
from daas.chain.codecs import BuildFailedPayload, BuildSucceededPayload, signing_message
from daas.chain.transactions import TransactionSubmitter
from daas.errors import ConfigError, KeyError_
from emulator.sui.testing import DevChain, dev_chain

REQUEST = "0x" + "ab" * 32
SUCCESS = BuildSucceededPayload(REQUEST, bytes(32), bytes(range(32)), "index", bytes(32), "log")
FAILURE = BuildFailedPayload(REQUEST, bytes(32), 110, bytes(32), "")


def test_key_file_is_created_0600_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "enclave.key"
    first = LocalKeyAttestor.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert LocalKeyAttestor.load_or_create(path).public_key == first.public_key
    assert first.debug and len(first.public_key) == 32
    assert [p.name for p in path.parent.iterdir()] == ["enclave.key"]  # no temporary file left


def test_racing_creators_end_up_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "enclave.key"
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        keys.append(LocalKeyAttestor.load_or_create(path).public_key)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "enclave.key"
    LocalKeyAttestor.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(KeyError_, match="chmod 600"):
        LocalKeyAttestor.load_or_create(path)


def test_other_keys_and_garbage_are_refused_without_quoting_them(tmp_path: Path) -> None:
    path = tmp_path / "enclave.key"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, pem)
    os.close(fd)
    with pytest.raises(KeyError_, match="not Ed25519"):
        LocalKeyAttestor.load_or_create(path)
    path.write_bytes(b"secret garbage")
    with pytest.raises(KeyError_) as caught:
        LocalKeyAttestor.load_or_create(path)
    assert "secret" not in str(caught.value)


def test_the_key_never_shows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "enclave.key"
    attestor = LocalKeyAttestor.load_or_create(path)
    secret = path.read_text()
    body = "".join(secret.splitlines()[1:-1])
    logging.getLogger("test").warning("attestor %s / %r", attestor, attestor)
    for shown in (repr(attestor), str(attestor), caplog.text):
        assert body not in shown and "PRIVATE" not in shown
    assert attestor.public_key.hex() in repr(attestor)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(attestor)


@pytest.mark.parametrize("payload", [SUCCESS, FAILURE])
def test_signatures_are_what_the_chain_verifies(
    payload: BuildSucceededPayload | BuildFailedPayload,
) -> None:
    attestor = LocalKeyAttestor.generate()
    signature = sign_result(attestor, payload, 1_767_000_000_000)
    assert len(signature) == 64
    assert signature == attestor.sign(signing_message(payload, 1_767_000_000_000))
    assert verify_result(attestor.public_key, payload, 1_767_000_000_000, signature)
    assert not verify_result(attestor.public_key, payload, 1_767_000_000_001, signature)
    assert not verify_result(bytes(32), payload, 1_767_000_000_000, signature)


# --- registration on the stand-in ---------------------------------------------------------------------------


async def _ensure(
    chain: DevChain, admin: TransactionSubmitter, attestor: LocalKeyAttestor, record: Path
) -> EnclaveRecord:
    return await ensure_debug_enclave(
        chain.client,
        admin,
        chain.package,
        admin_cap_id=chain.standin.admin_cap_id,
        attestor=attestor,
        chain_id=chain.standin.chain_id,
        record_path=record,
    )


@pytest.mark.anyio
async def test_debug_enclave_registered_once_recorded_and_resolved(tmp_path: Path) -> None:
    key_file = tmp_path / "enclave.key"
    attestor = LocalKeyAttestor.load_or_create(key_file)
    record_path = record_path_for(key_file)
    async with dev_chain(users=1, checkpoint_interval_s=None) as chain:
        args = {"chain_id": chain.standin.chain_id, "record_path": record_path}
        cap = chain.standin.admin_cap_id
        admin = chain.submitter(chain.admin)  # one submitter: it tracks the admin's gas coin
        with pytest.raises(ConfigError, match="no enclave is recorded"):
            await resolve_enclave(chain.client, chain.package, attestor, **args)
        with pytest.raises(ConfigError, match="does not allow debug enclaves"):
            await _ensure(chain, admin, attestor, record_path)

        await admin.submit(chain.package.set_allow_debug(cap, True))
        record = await _ensure(chain, admin, attestor, record_path)
        assert record.debug and record.public_key == attestor.public_key.hex()
        assert "PRIVATE" not in record_path.read_text()
        assert (
            await _ensure(chain, admin, attestor, record_path)
        ) == record  # no second registration
        assert (
            await resolve_enclave(chain.client, chain.package, attestor, **args)
            == record.enclave_id
        )

        # Another key is not this record's; a registry that stops allowing debug enclaves refuses it.
        with pytest.raises(ConfigError, match="no enclave is recorded"):
            await resolve_enclave(chain.client, chain.package, LocalKeyAttestor.generate(), **args)
        await admin.submit(chain.package.set_allow_debug(cap, False))
        with pytest.raises(ConfigError, match="no longer allows debug enclaves"):
            await resolve_enclave(chain.client, chain.package, attestor, **args)

        # New PCRs make every enclave stale: ensure registers the key again.
        await admin.submit(chain.package.set_allow_debug(cap, True))
        await admin.submit(chain.package.update_pcrs(cap, b"\x01" * 48, b"\x02" * 48, b"\x03" * 48))
        with pytest.raises(ConfigError, match="stale"):
            await resolve_enclave(chain.client, chain.package, attestor, **args)
        again = await _ensure(chain, admin, attestor, record_path)
        assert again.enclave_id != record.enclave_id
        assert (
            await resolve_enclave(chain.client, chain.package, attestor, **args) == again.enclave_id
        )
