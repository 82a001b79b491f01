"""The NSM client: request encoding, the `nsm_message` layout and ioctl number, response parsing.

There is no `/dev/nsm` outside a Nitro enclave, so these tests open an ordinary file as the "device" and pass a
fake ioctl that plays the driver: it reads the request through the iovec's pointer and writes an answer into
the response buffer, setting its length, as `drivers/misc/nsm.c` does. The real driver is never exercised here.
"""

from __future__ import annotations

import ctypes
import errno
from pathlib import Path
from typing import Any

import cbor2
import pytest

from daas.attestation.attestor import NitroAttestor
from daas.attestation.nitro import verify_document
from daas.attestation.nsm import (
    NSM_IOCTL_REQUEST,
    NSM_RESPONSE_MAX_BYTES,
    NsmDevice,
    NsmMessage,
    attestation_request,
    parse_attestation_response,
)
from daas.attestation.testing import make_document
from daas.errors import AttestationError, AttestationMalformed


class FakeDriver:
    """Answers NSM requests like the driver: one CBOR request in, one CBOR response out."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[Any] = []
        self.calls: list[tuple[int, int]] = []

    def __call__(self, fd: int, request: int, arg: Any) -> int:
        self.calls.append((fd, request))
        message = NsmMessage.from_buffer(arg)
        raw = ctypes.string_at(message.request.iov_base, message.request.iov_len)
        self.requests.append(cbor2.loads(raw))
        answer = self.answer(self.requests[-1]) if callable(self.answer) else self.answer
        assert len(answer) <= message.response.iov_len
        ctypes.memmove(message.response.iov_base, answer, len(answer))
        message.response.iov_len = len(answer)
        return 0


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "nsm"
    path.write_bytes(b"")
    return path


def test_ioctl_number_and_message_layout() -> None:
    # _IOWR(0x0A, 0, struct nsm_message) on 64-bit Linux, as in the kernel's uapi/linux/nsm.h.
    assert ctypes.sizeof(NsmMessage) == 32
    assert NSM_IOCTL_REQUEST == 0xC0200A00
    assert NSM_RESPONSE_MAX_BYTES == 0x3000


def test_attestation_request_is_the_rust_enum_as_serde_cbor_writes_it() -> None:
    encoded = attestation_request(bytes(range(32)))
    assert cbor2.loads(encoded) == {
        "Attestation": {"user_data": None, "nonce": None, "public_key": bytes(range(32))}
    }
    # Definite lengths, text keys, field order as in the Rust struct.
    assert encoded.startswith(
        bytes([0xA1, 0x6B]) + b"Attestation" + bytes([0xA3, 0x69]) + b"user_data"
    )
    with pytest.raises(ValueError, match="1024"):
        attestation_request(bytes(1025))


def test_device_round_trip_through_the_iovecs(device: Path) -> None:
    document = make_document(public_key=bytes(range(32))).raw
    driver = FakeDriver(cbor2.dumps({"Attestation": {"document": document}}))
    with NsmDevice(device, ioctl=driver) as nsm:
        assert nsm.attestation(public_key=bytes(range(32))) == document
    assert driver.calls[0][1] == NSM_IOCTL_REQUEST
    assert driver.requests == [
        {"Attestation": {"user_data": None, "nonce": None, "public_key": bytes(range(32))}}
    ]


def test_nitro_attestor_binds_its_own_key(device: Path) -> None:
    def answer(request: Any) -> bytes:
        # The driver side: an attestation document holding the key that was asked for.
        key = request["Attestation"]["public_key"]
        doc = make_document(public_key=key)
        answer.root = doc.root_der  # type: ignore[attr-defined]
        return cbor2.dumps({"Attestation": {"document": doc.raw}})

    attestor = NitroAttestor(device=device, ioctl=FakeDriver(answer))
    document = attestor.attestation_document()
    verified = verify_document(
        document,
        root_der=answer.root,
        expected_public_key=attestor.public_key,  # type: ignore[attr-defined]
    )
    assert verified.document.public_key == attestor.public_key
    assert not attestor.debug
    assert "PRIVATE" not in repr(attestor) and attestor.public_key.hex() in repr(attestor)


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (cbor2.dumps({"Error": "InvalidArgument"}), AttestationError, "refused.*InvalidArgument"),
        (cbor2.dumps({"DescribeNSM": {}}), AttestationMalformed, "expected an Attestation"),
        (cbor2.dumps({"Attestation": {}}), AttestationMalformed, "no attestation document"),
        (cbor2.dumps({"Attestation": {"document": b""}}), AttestationMalformed, "no attestation"),
        (b"\xff", AttestationMalformed, "nsm_response"),
        (cbor2.dumps("LockPCR"), AttestationMalformed, "one-variant map"),
    ],
)
def test_bad_answers(answer: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        parse_attestation_response(answer)


def test_driver_failures_are_attestation_errors(device: Path, tmp_path: Path) -> None:
    def failing(fd: int, request: int, arg: Any) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")

    with NsmDevice(device, ioctl=failing) as nsm, pytest.raises(AttestationError, match="ioctl"):
        nsm.attestation(public_key=bytes(32))

    def silent(fd: int, request: int, arg: Any) -> int:
        NsmMessage.from_buffer(arg).response.iov_len = 0
        return 0

    with NsmDevice(device, ioctl=silent) as nsm, pytest.raises(AttestationError, match="0 bytes"):
        nsm.attestation(public_key=bytes(32))
    with pytest.raises(AttestationError, match="only works inside an AWS Nitro enclave"):
        NsmDevice(tmp_path / "no-such-device")
    closed = NsmDevice(device)
    closed.close()
    with pytest.raises(AttestationError, match="closed"):
        closed.call(b"\xa0")
