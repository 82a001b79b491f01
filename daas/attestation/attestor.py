"""Attestors: the enclave keys that sign build results, behind one `Attestor` Protocol.

An attestor holds an Ed25519 key and signs result payloads exactly as `complete`/`fail` verify them on chain:
plain Ed25519 over `bcs(IntentMessage { intent, timestamp_ms, payload })` (`daas.chain.codecs.signing_message`).
Its public key is what an `Enclave` object on chain holds; how it got there differs:

- `LocalKeyAttestor` (development, `daas dev`, tests): a key in a 0600 PEM file, created on first use. It proves
  nothing about the code that runs, so it is registered as a *debug* enclave by the admin, which the registry
  allows only with `allow_debug` (see `daas.attestation.registration.ensure_debug_enclave`).
- `NitroAttestor` (production, inside an AWS Nitro enclave): a key generated in memory at start and never
  written anywhere; the Nitro Secure Module issues an attestation document that binds it to the enclave's PCRs
  (`daas.attestation.nsm`), and `register_enclave` checks that document on chain.

Keys never reach logs, reprs, pickles or the database: only public keys leave an attestor.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from daas.attestation.nsm import NSM_DEVICE, IoctlFunction, NsmDevice
from daas.chain.codecs import BuildFailedPayload, BuildSucceededPayload, signing_message
from daas.chain.keys import read_private_file
from daas.errors import KeyError_

__all__ = [
    "Attestor",
    "LocalKeyAttestor",
    "NitroAttestor",
    "public_key_bytes",
    "sign_result",
    "verify_result",
]

ResultPayload = BuildSucceededPayload | BuildFailedPayload


class Attestor(Protocol):
    """Signs build results with a key registered on chain as an enclave."""

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key (what the on-chain `Enclave` holds)."""
        ...

    @property
    def debug(self) -> bool:
        """True when nothing attests the key: it can only be registered as a debug enclave."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of `message` (no prehash, no intent prefix)."""
        ...


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign_result(attestor: Attestor, payload: ResultPayload, timestamp_ms: int) -> bytes:
    """The signature `complete` (success payload) or `fail` (failure payload) verifies on chain."""
    return attestor.sign(signing_message(payload, timestamp_ms))


def verify_result(
    public_key: bytes, payload: ResultPayload, timestamp_ms: int, signature: bytes
) -> bool:
    """Whether `signature` is the enclave `public_key`'s signature of this result (as the chain checks it)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, signing_message(payload, timestamp_ms)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


class _KeyHolder:
    """Shared behaviour: hold a private key, show only the public one, refuse to be copied."""

    __slots__ = ("_key", "_public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._public_key = public_key_bytes(key)

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} holds a private key and cannot be pickled or copied"
        )


class LocalKeyAttestor(_KeyHolder):
    """An Ed25519 key in a PEM (PKCS#8) file with mode 0600; a debug enclave on chain.

    `load_or_create(path)` creates the file when it is missing (atomically, 0600 from the first byte: two
    runners starting together end up with the same key) and refuses a file that group or others can access.
    """

    __slots__ = ("path",)

    def __init__(self, key: Ed25519PrivateKey, *, path: Path | None = None) -> None:
        super().__init__(key)
        self.path = path

    @property
    def debug(self) -> bool:
        return True

    @classmethod
    def generate(cls) -> LocalKeyAttestor:
        """A key in memory only (tests)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path | str) -> LocalKeyAttestor:
        path = Path(path).expanduser()
        if not path.exists():
            _create_key_file(path)
        text = read_private_file(path)
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            # Never quote the file: it holds a private key.
            raise KeyError_(
                f"enclave key file {path} is not an unencrypted PEM private key"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyError_(f"enclave key file {path} holds a {type(key).__name__}, not Ed25519")
        return cls(key, path=path)

    def __repr__(self) -> str:
        return f"LocalKeyAttestor(public_key={self.public_key.hex()}, path={self.path})"

    __str__ = __repr__


def _create_key_file(path: Path) -> None:
    """Write a new key to `path` unless a file appears there first (then that one is used)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600 from creation
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if the name exists: the file appears complete or not at all, and never replaces
        # a key another process created meanwhile.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class NitroAttestor(_KeyHolder):
    """An in-memory Ed25519 key whose public key the Nitro Secure Module attests.

    The key is generated when the attestor is made and dies with the process, as in Nautilus: every start is
    a new enclave on chain (`register_enclave` with `attestation_document()`). `device` and `ioctl` are for
    tests; inside an enclave the defaults (`/dev/nsm`, `fcntl.ioctl`) apply.
    """

    __slots__ = ("_device", "_ioctl")

    def __init__(
        self,
        *,
        key: Ed25519PrivateKey | None = None,
        device: Path = NSM_DEVICE,
        ioctl: IoctlFunction | None = None,
    ) -> None:
        super().__init__(key or Ed25519PrivateKey.generate())
        self._device = device
        self._ioctl = ioctl

    @property
    def debug(self) -> bool:
        return False

    def attestation_document(self) -> bytes:
        """A fresh attestation document from the NSM holding this attestor's public key (blocking)."""
        with NsmDevice(self._device, ioctl=self._ioctl) as nsm:
            return nsm.attestation(public_key=self.public_key)

    def __repr__(self) -> str:
        return f"NitroAttestor(public_key={self.public_key.hex()}, device={self._device})"

    __str__ = __repr__


if TYPE_CHECKING:

    def _implements_attestor(a: LocalKeyAttestor, b: NitroAttestor) -> tuple[Attestor, Attestor]:
        return a, b  # mypy proves both classes satisfy the Protocol
