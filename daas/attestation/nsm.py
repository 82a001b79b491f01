"""The Nitro Secure Module (`/dev/nsm`): asking it for an attestation document, inside an AWS Nitro enclave.

The NSM driver (Linux `drivers/misc/nsm.c`) serves one ioctl, `NSM_IOCTL_REQUEST = _IOWR(0x0A, 0, struct
nsm_message)`, which is `0xC0200A00` on 64-bit Linux. The argument is two iovecs::

    struct iovec { void *iov_base; size_t iov_len; };
    struct nsm_message { struct iovec request; struct iovec response; };

`request` points at the request's CBOR (at most 4 KiB); `response` at a buffer of 12 KiB (0x3000, the most the
NSM answers), whose `iov_len` the driver sets to the length written. The CBOR is what Rust's
`aws-nitro-enclaves-nsm-api` produces with serde for its `Request` / `Response` enums: a struct variant is a
one-key map from the variant name to a map of its fields, `Option::None` is `null`, bytes are CBOR byte strings::

    request   {"Attestation": {"user_data": null, "nonce": null, "public_key": h'<32-byte Ed25519 key>'}}
    response  {"Attestation": {"document": h'<COSE_Sign1 attestation document>'}}
    error     {"Error": "InvalidArgument"}          (the `ErrorCode` variant's name)

This is the framing of AWS's own `nsm-lib` and of the PyPI `aws-nsm-interface` package (whose ioctl number we
checked against the kernel header); see research note `nautilus.md` §3. It is written with `ctypes` and
`fcntl.ioctl` rather than that package, which is unmaintained since 2020.

**It cannot run on our machines**: there is no `/dev/nsm` outside an enclave. The tests exercise the request
encoding, the `nsm_message` layout and the response parsing through a fake ioctl on an ordinary file
(`NsmDevice(path, ioctl=fake)`), never the real driver.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from daas.attestation import _cbor
from daas.errors import AttestationError, AttestationMalformed

__all__ = [
    "NSM_DEVICE",
    "NSM_IOCTL_REQUEST",
    "NSM_REQUEST_MAX_BYTES",
    "NSM_RESPONSE_MAX_BYTES",
    "IoVec",
    "IoctlFunction",
    "NsmDevice",
    "NsmMessage",
    "attestation_request",
    "parse_attestation_response",
]

NSM_DEVICE = Path("/dev/nsm")
NSM_REQUEST_MAX_BYTES = 0x1000
NSM_RESPONSE_MAX_BYTES = 0x3000
_NSM_IOCTL_MAGIC = 0x0A


class IoVec(ctypes.Structure):
    """`struct iovec`."""

    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class NsmMessage(ctypes.Structure):
    """`struct nsm_message`: the request and the response buffer."""

    _fields_ = (("request", IoVec), ("response", IoVec))


def _iowr(kind: int, number: int, size: int) -> int:
    """Linux `_IOWR(type, nr, size)`: direction read|write (3) in the top two bits, then size, type, nr."""
    return (3 << 30) | (size << 16) | (kind << 8) | number


NSM_IOCTL_REQUEST = _iowr(_NSM_IOCTL_MAGIC, 0, ctypes.sizeof(NsmMessage))

IoctlFunction = Callable[[int, int, Any], Any]
"""`ioctl(fd, request, arg)` with `arg` a mutable buffer written back in place (`fcntl.ioctl`'s contract)."""


def attestation_request(
    public_key: bytes | None, *, user_data: bytes | None = None, nonce: bytes | None = None
) -> bytes:
    """The CBOR of `Request::Attestation { user_data, nonce, public_key }` (field order as the Rust struct)."""
    for name, value in (("public_key", public_key), ("user_data", user_data), ("nonce", nonce)):
        if value is not None and len(value) > 1024:
            raise ValueError(f"{name} is longer than the NSM accepts (1024 bytes)")
    fields = {"user_data": user_data, "nonce": nonce, "public_key": public_key}
    return _cbor.encode({"Attestation": fields})


def parse_attestation_response(data: bytes) -> bytes:
    """The attestation document in an NSM answer; `AttestationError` for an error answer or anything else."""
    _tagged, value = _cbor.decode(data, field="nsm_response")
    if not isinstance(value, dict) or len(value) != 1:
        raise AttestationMalformed("nsm_response: not a one-variant map", field="nsm_response")
    ((variant, body),) = value.items()
    if variant == "Error":
        raise AttestationError(f"the NSM refused the attestation request: {body}")
    if variant != "Attestation" or not isinstance(body, dict):
        raise AttestationMalformed(
            f"nsm_response: expected an Attestation answer, got {variant!r}", field="nsm_response"
        )
    document = body.get("document")
    if not isinstance(document, bytes) or not document:
        raise AttestationMalformed("nsm_response: no attestation document", field="nsm_response")
    return document


class NsmDevice:
    """An open NSM device. `with NsmDevice() as nsm: doc = nsm.attestation(public_key=pk)`.

    `ioctl` replaces `fcntl.ioctl` (tests); `path` the device (`/dev/nsm`).
    """

    def __init__(self, path: Path = NSM_DEVICE, *, ioctl: IoctlFunction | None = None) -> None:
        self.path = path
        self._ioctl: IoctlFunction = ioctl or fcntl.ioctl
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise AttestationError(
                f"cannot open the Nitro Secure Module at {path}: {exc.strerror or exc} "
                "(NitroAttestor only works inside an AWS Nitro enclave)"
            ) from exc

    def __enter__(self) -> NsmDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def call(self, request: bytes) -> bytes:
        """Send one request's CBOR, return the response's CBOR."""
        if self._fd is None:
            raise AttestationError("the NSM device is closed")
        if not request or len(request) > NSM_REQUEST_MAX_BYTES:
            raise ValueError(f"an NSM request is 1..{NSM_REQUEST_MAX_BYTES} bytes")
        request_buffer = ctypes.create_string_buffer(request, len(request))
        response_buffer = ctypes.create_string_buffer(NSM_RESPONSE_MAX_BYTES)
        message = NsmMessage(
            IoVec(ctypes.addressof(request_buffer), len(request)),
            IoVec(ctypes.addressof(response_buffer), NSM_RESPONSE_MAX_BYTES),
        )
        try:
            self._ioctl(self._fd, NSM_IOCTL_REQUEST, message)
        except OSError as exc:
            raise AttestationError(f"the NSM ioctl failed: {exc.strerror or exc}") from exc
        length = int(message.response.iov_len)
        if not 0 < length <= NSM_RESPONSE_MAX_BYTES:
            raise AttestationError(f"the NSM answered {length} bytes")
        return response_buffer.raw[:length]

    def attestation(
        self,
        *,
        public_key: bytes | None,
        user_data: bytes | None = None,
        nonce: bytes | None = None,
    ) -> bytes:
        """An attestation document (COSE_Sign1 bytes) binding `public_key`."""
        request = attestation_request(public_key, user_data=user_data, nonce=nonce)
        return parse_attestation_response(self.call(request))
