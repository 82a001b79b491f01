"""Sui keys: keystore and suiprivkey loading, 0600 files, Sui-exact signatures, no key material anywhere."""

from __future__ import annotations

import base64
import copy
import json
import logging
import pickle
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import SecretStr
from pysui.sui.sui_crypto import keypair_from_keystring

from daas.chain.hashing import signing_digest
from daas.chain.keys import SuiSigner, load_signer, write_keystore
from daas.config import KeySettings
from daas.errors import KeyError_

SEED = bytes(range(32))
# Sui's documented vector (sui-types `test_sui_address_from_ed25519`-style): an all-zero seed.
ZERO_SEED_ADDRESS = "0x7a1378aafadef8ce743b72e8b248295c8f61c102c94040161146ea4d51a182b6"


def _pysui(seed: bytes):  # type: ignore[no-untyped-def]
    return keypair_from_keystring(base64.b64encode(b"\x00" + seed).decode())


def test_address_matches_pysui() -> None:
    signer = SuiSigner.from_seed(SEED)
    kp = _pysui(SEED)
    assert kp.public_key.key_bytes == signer.public_key
    assert SuiSigner.from_seed(bytes(32)).address == ZERO_SEED_ADDRESS


def test_signature_equals_pysui_new_sign_secure() -> None:
    signer = SuiSigner.from_seed(SEED)
    kp = _pysui(SEED)
    for tx_bytes in (b"", b"\x00" * 10, bytes(range(256)) * 3):
        ours = signer.sign_transaction(tx_bytes)
        assert ours == kp.new_sign_secure(base64.b64encode(tx_bytes).decode())
        raw = base64.b64decode(ours)
        assert len(raw) == 97 and raw[0] == 0 and raw[65:] == signer.public_key
        Ed25519PublicKey.from_public_bytes(raw[65:]).verify(raw[1:65], signing_digest(tx_bytes))


def test_bech32_round_trip_with_pysui() -> None:
    signer = SuiSigner.from_seed(SEED)
    text = signer.to_bech32()
    assert text.startswith("suiprivkey1") and text == _pysui(SEED).to_bech32()
    assert SuiSigner.from_bech32(text).address == signer.address
    assert SuiSigner.from_bech32(text.upper()).address == signer.address


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t[:-1] + ("q" if t[-1] != "q" else "p"), "checksum"),
        (lambda t: "bc1" + t[len("suiprivkey1") :], "checksum"),
        (lambda t: t.replace("1", "!", 1), "Bech32"),
        (lambda t: t[:12] + t[12].upper() + t[13:], "case"),
    ],
)
def test_bad_bech32_is_refused_without_echoing_it(mangle, message) -> None:  # type: ignore[no-untyped-def]
    text = mangle(SuiSigner.from_seed(SEED).to_bech32())
    with pytest.raises(KeyError_, match=message) as info:
        SuiSigner.from_bech32(text, where="keys.sui_private_key")
    assert text not in str(info.value)
    error = info.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def _write(path: Path, entries: list[str], mode: int = 0o600) -> Path:
    path.write_text(json.dumps(entries))
    path.chmod(mode)
    return path


def test_keystore_first_or_by_address(tmp_path: Path) -> None:
    a, b = SuiSigner.from_seed(SEED), SuiSigner.from_seed(bytes(32))
    secp = base64.b64encode(b"\x01" + bytes(32)).decode()  # a secp256k1 entry we must skip
    path = _write(tmp_path / "sui.keystore", [a.keystore_entry(), secp, b.keystore_entry()])
    assert SuiSigner.from_keystore(path).address == a.address
    assert SuiSigner.from_keystore(path, address=b.address).address == b.address
    assert SuiSigner.from_keystore(path, address=b.address.upper().replace("0X", "0x")).address
    with pytest.raises(KeyError_, match="no Ed25519 key for address"):
        SuiSigner.from_keystore(path, address="0x1234")


def test_keystore_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyError_, match="does not exist"):
        SuiSigner.from_keystore(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_text("{nope")
    bad.chmod(0o600)
    with pytest.raises(KeyError_, match="not JSON"):
        SuiSigner.from_keystore(bad)
    with pytest.raises(KeyError_, match="holds no keys"):
        SuiSigner.from_keystore(_write(tmp_path / "empty", []))
    with pytest.raises(KeyError_, match="only Ed25519"):
        SuiSigner.from_keystore(
            _write(tmp_path / "secp", [base64.b64encode(b"\x01" + bytes(32)).decode()])
        )
    with pytest.raises(KeyError_, match="33 bytes"):
        SuiSigner.from_keystore(_write(tmp_path / "short", [base64.b64encode(b"\0").decode()]))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "sui.keystore", [SuiSigner.from_seed(SEED).keystore_entry()], mode)
    with pytest.raises(KeyError_, match=r"chmod 600") as info:
        SuiSigner.from_keystore(path)
    assert f"{mode:04o}" in str(info.value)


def test_written_keystore_is_0600_and_loads(tmp_path: Path) -> None:
    signer = SuiSigner.from_seed(SEED)
    path = tmp_path / "nested" / "admin.keystore"
    write_keystore(path, [signer])
    assert path.stat().st_mode & 0o777 == 0o600
    assert SuiSigner.from_keystore(path).address == signer.address
    write_keystore(path, [SuiSigner.from_seed(bytes(32)), signer])  # atomic replace keeps 0600
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["admin.keystore"]


def test_load_signer_from_settings(tmp_path: Path) -> None:
    signer = SuiSigner.from_seed(SEED)
    keys = KeySettings(sui_private_key=SecretStr(signer.to_bech32()))
    assert load_signer(keys).address == signer.address
    path = tmp_path / "ks"
    write_keystore(path, [SuiSigner.from_seed(bytes(32)), signer])
    keys = KeySettings(sui_keystore=path, sui_address=signer.address)
    assert load_signer(keys).address == signer.address
    mismatch = KeySettings(sui_private_key=SecretStr(signer.to_bech32()), sui_address="0x1")
    with pytest.raises(KeyError_, match="belongs to"):
        load_signer(mismatch)


def test_no_key_material_in_repr_str_logs_or_pickles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    signer = SuiSigner.from_seed(SEED)
    secrets = [
        signer.to_bech32(),
        signer.keystore_entry(),
        SEED.hex(),
        base64.b64encode(SEED).decode(),
    ]
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("signer %s %r", signer, signer)
    text = f"{signer} {signer!r} {[signer]} {vars(type(signer))}" + caplog.text
    assert signer.address in text
    for secret in secrets:
        assert secret not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)
    assert not hasattr(signer, "__dict__")  # nothing but the slots: key object, address, public key
