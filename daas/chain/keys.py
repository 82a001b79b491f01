"""Ed25519 signing keys for Sui: loaded from a Sui CLI keystore or a `suiprivkey1…` string, never logged.

A key lives only inside a `SuiSigner` (a `cryptography` private key object): its repr shows the address, it
refuses to be pickled, and no error message quotes key text. Signing follows Sui exactly: the user signature
is `0x00 ‖ ed25519(blake2b256([0,0,0] ‖ tx_bytes)) ‖ public_key`, base64. pysui's signer is not used, so the
key never enters pysui's on-disk configuration.

Key files we write are mode 0600; a key file readable or writable by group or others is refused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from daas.chain.hashing import ED25519_FLAG, ed25519_address, signing_digest
from daas.config import KeySettings
from daas.errors import KeyError_

SUI_BECH32_HRP = "suiprivkey"
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_UNSAFE_MODE_BITS = stat.S_IRWXG | stat.S_IRWXO


class SuiSigner:
    """One Ed25519 key and its Sui address. Construct with the `from_*` class methods."""

    __slots__ = ("_key", "address", "public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key: bytes = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.address: str = ed25519_address(self.public_key)

    # --- construction ------------------------------------------------------------------------------------

    @classmethod
    def from_seed(cls, seed: bytes) -> SuiSigner:
        """From the 32-byte Ed25519 secret (what Sui keystores and `suiprivkey` strings hold)."""
        if len(seed) != 32:
            raise KeyError_(f"an Ed25519 secret key is 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls) -> SuiSigner:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_keystore_entry(cls, entry: str, *, where: str = "keystore entry") -> SuiSigner:
        """From one Sui keystore entry: base64 of `flag ‖ secret32`."""
        try:
            raw = base64.b64decode(entry, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise KeyError_(f"{where} is not valid base64") from None
        return cls._from_flagged(raw, where)

    @classmethod
    def from_bech32(cls, text: str, *, where: str = "private key") -> SuiSigner:
        """From a `suiprivkey1…` string (Bech32 of `flag ‖ secret32`)."""
        hrp, data = _bech32_decode(text, where)
        if hrp != SUI_BECH32_HRP:
            raise KeyError_(f"{where} is not a {SUI_BECH32_HRP}1… string")
        return cls._from_flagged(data, where)

    @classmethod
    def from_keystore(cls, path: Path | str, *, address: str | None = None) -> SuiSigner:
        """The key for `address` in a Sui CLI keystore (a JSON list of entries), or its first key."""
        path = Path(path).expanduser()
        text = read_private_file(path)
        try:
            entries = json.loads(text)
        except ValueError:
            raise KeyError_(
                f"keystore {path} is not JSON (expected a list of base64 keys)"
            ) from None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise KeyError_(f"keystore {path} is not a JSON list of base64 strings")
        if not entries:
            raise KeyError_(f"keystore {path} holds no keys")
        wanted = _normalize(address) if address else None
        for index, entry in enumerate(entries):
            try:
                signer = cls.from_keystore_entry(entry, where=f"keystore {path} entry {index}")
            except KeyError_:
                if wanted is None:
                    raise
                continue  # another scheme (secp256k1...) or a damaged entry we were not asked for
            if wanted is None or signer.address == wanted:
                return signer
        raise KeyError_(f"keystore {path} holds no Ed25519 key for address {wanted}")

    @classmethod
    def _from_flagged(cls, raw: bytes, where: str) -> SuiSigner:
        if len(raw) != 33:
            raise KeyError_(f"{where}: expected 33 bytes (flag and 32-byte secret), got {len(raw)}")
        if raw[0] != ED25519_FLAG:
            raise KeyError_(f"{where}: only Ed25519 keys (flag 0) are supported, got flag {raw[0]}")
        return cls.from_seed(raw[1:])

    # --- use ---------------------------------------------------------------------------------------------

    def sign_transaction(self, tx_bytes: bytes) -> str:
        """The base64 user signature for `bcs(TransactionData)`, as `ExecuteTransaction` takes it."""
        signature = self._key.sign(signing_digest(tx_bytes))
        return base64.b64encode(bytes([ED25519_FLAG]) + signature + self.public_key).decode()

    def sign_message(self, message: bytes) -> bytes:
        """A plain Ed25519 signature (no intent), e.g. an enclave's result signature."""
        return self._key.sign(message)

    # --- export (secret: callers write these to 0600 files only) -----------------------------------------

    def keystore_entry(self) -> str:
        return base64.b64encode(bytes([ED25519_FLAG]) + self._seed()).decode()

    def to_bech32(self) -> str:
        return _bech32_encode(SUI_BECH32_HRP, bytes([ED25519_FLAG]) + self._seed())

    def _seed(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"SuiSigner(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("SuiSigner holds a private key and cannot be pickled or copied")


def load_signer(keys: KeySettings) -> SuiSigner:
    """The signer the settings name: `keys.sui_private_key` if set, else the keystore (by address)."""
    if keys.sui_private_key is not None:
        signer = SuiSigner.from_bech32(
            keys.sui_private_key.get_secret_value(), where="keys.sui_private_key"
        )
        if keys.sui_address and signer.address != _normalize(keys.sui_address):
            raise KeyError_(
                f"keys.sui_private_key belongs to {signer.address}, "
                f"but keys.sui_address is {keys.sui_address}"
            )
        return signer
    return SuiSigner.from_keystore(keys.sui_keystore, address=keys.sui_address)


def read_private_file(path: Path) -> str:
    """Read a key file, refusing one that group or others may read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyError_(f"key file {path} does not exist") from None
    except OSError as exc:
        raise KeyError_(f"key file {path} cannot be read: {exc.strerror}") from None
    if mode & _UNSAFE_MODE_BITS:
        raise KeyError_(
            f"key file {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}`"
        )
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyError_(f"key file {path} cannot be read: {type(exc).__name__}") from None


def write_private_file(path: Path, text: str) -> None:
    """Write atomically with mode 0600 from the first byte (never briefly world-readable)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp creates 0600
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o600)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_keystore(path: Path | str, signers: Sequence[SuiSigner]) -> None:
    """Write a Sui CLI keystore (JSON list of base64 entries), mode 0600."""
    write_private_file(Path(path), json.dumps([s.keystore_entry() for s in signers], indent=2))


def _normalize(address: str) -> str:
    digits = address.lower().removeprefix("0x")
    return "0x" + digits.rjust(64, "0")


# --- Bech32 (BIP-173), as SIP-15 `suiprivkey` strings use ----------------------------------------------


def _polymod(values: Sequence[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Sequence[int], from_bits: int, to_bits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & max_value):
        return None
    return out


def _bech32_decode(text: str, where: str) -> tuple[str, bytes]:
    # Errors name the setting, never the text: it is a private key.
    if text.lower() != text and text.upper() != text:
        raise KeyError_(f"{where} mixes upper and lower case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise KeyError_(f"{where} is not a Bech32 string")
    hrp, rest = text[:pos], text[pos + 1 :]
    if any(c not in _BECH32_CHARSET for c in rest):
        raise KeyError_(f"{where} has characters outside the Bech32 alphabet")
    values = [_BECH32_CHARSET.index(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + values) != 1:
        raise KeyError_(f"{where} fails its Bech32 checksum (mistyped?)")
    data = _convert_bits(values[:-6], 5, 8, pad=False)
    if data is None:
        raise KeyError_(f"{where} has invalid Bech32 padding")
    return hrp, bytes(data)


def _bech32_encode(hrp: str, data: bytes) -> str:
    values = _convert_bits(data, 8, 5, pad=True)
    assert values is not None  # padding on: always converts
    polymod = _polymod([*_hrp_expand(hrp), *values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[v] for v in values + checksum)
