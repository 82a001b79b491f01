"""BCS codecs: pinned vectors shared with `move/tests/vectors_tests.move`, round trips, strict decoding."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from daas.chain import bcs
from daas.chain import codecs as c
from daas.errors import CodecError

# RFC 8032 test 1 key: the same key the Move tests register as a debug enclave.
RFC8032_PK = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")

REQUEST_ID = "0x" + "ab" * 32
SPEC = c.BuildSpec("blob-abc", bytes(range(32)), "Dockerfile", "linux/amd64")
IMAGE_DIGEST = hashlib.sha256(b"manifest").digest()
LOG_DIGEST = hashlib.sha256(b"log").digest()
TS = 1_767_000_000_000

# --- pinned vectors (the same hex is pinned in move/tests/vectors_tests.move) ----------------------------
SPEC_BCS = (
    "08626c6f622d61626320000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "0a446f636b657266696c650b6c696e75782f616d643634"
)
SPEC_DIGEST = "9b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e"
SUCCEEDED_MSG = (
    "01004668699b010000abababababababababababababababababababababababababababababababab"
    "209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e"
    "2005b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f0a696e6465782d626c6f62"
    "20836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62"
)
SUCCEEDED_SIG = (
    "023c82db5db2241c286fee85f357cbba740729c74650aba08bafdba0f52eafbf"
    "efc78bb726abed1154d441dc836857d065e44a35bc589e825dcd5eda6075a80e"
)
FAILED_MSG = (
    "02004668699b010000abababababababababababababababababababababababababababababababab"
    "209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e6e00"
    "20836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62"
)
FAILED_SIG = (
    "c50971323288376c3f4e1a46011b961b21995330a81f110195da6e2354c6b708"
    "d84afa4712a8f96da940f6dfb743e46a6648389bc47e7797ab1592a97d285f01"
)


@dataclasses.dataclass(frozen=True)
class Weather(bcs.Struct):
    location: str
    temperature: int
    __bcs__ = (("location", bcs.String), ("temperature", bcs.U64))


def test_nautilus_published_vector() -> None:
    message = c.IntentMessage(0, 1_744_038_900_000, Weather("San Francisco", 13))
    assert message.to_bcs().hex() == (
        "0020b1d110960100000d53616e204672616e636973636f0d00000000000000"
    )
    decoded = c.IntentMessage.from_bcs(message.to_bcs(), Weather)
    assert decoded == message


def test_build_spec_vector_and_digest() -> None:
    assert SPEC.to_bcs().hex() == SPEC_BCS
    assert SPEC.digest().hex() == SPEC_DIGEST
    assert c.spec_digest(SPEC) == hashlib.sha256(bytes.fromhex(SPEC_BCS)).digest()
    assert c.BuildSpec.from_bcs(bytes.fromhex(SPEC_BCS)) == SPEC


def test_succeeded_message_vector_and_signature() -> None:
    payload = c.BuildSucceededPayload(
        REQUEST_ID, SPEC.digest(), IMAGE_DIGEST, "index-blob", LOG_DIGEST, "log-blob"
    )
    message = c.signing_message(payload, TS)
    assert message.hex() == SUCCEEDED_MSG
    Ed25519PublicKey.from_public_bytes(RFC8032_PK).verify(bytes.fromhex(SUCCEEDED_SIG), message)


def test_failed_message_vector_and_signature() -> None:
    payload = c.BuildFailedPayload(REQUEST_ID, SPEC.digest(), 110, LOG_DIGEST, "log-blob")
    message = c.signing_message(payload, TS)
    assert message.hex() == FAILED_MSG
    Ed25519PublicKey.from_public_bytes(RFC8032_PK).verify(bytes.fromhex(FAILED_SIG), message)


def test_intents_keep_payload_types_apart() -> None:
    # The failed signature must not verify as a success message, even over the same fields.
    payload = c.BuildSucceededPayload(REQUEST_ID, SPEC.digest(), b"", "", LOG_DIGEST, "log-blob")
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(RFC8032_PK).verify(
            bytes.fromhex(FAILED_SIG), c.signing_message(payload, TS)
        )
    assert c.BuildSucceededPayload.INTENT != c.BuildFailedPayload.INTENT


# --- round trips ---------------------------------------------------------------------------------------------

ADDR_A = "0x" + "01" * 32
ADDR_B = "0x" + "fe" * 32
PCR = bytes(range(48))

SAMPLES: list[bcs.Struct] = [
    SPEC,
    c.BuildSpec("é" * 40, b"\x00" * 32, "a/b/Dockerfile.prod", "linux/arm64"),
    c.BuildSucceededPayload(ADDR_A, b"\x01" * 32, b"\x02" * 32, "idx", b"\x03" * 32, "log"),
    c.BuildFailedPayload(ADDR_A, b"\x01" * 32, 65535, b"\x03" * 32, ""),
    c.BuildRequested(
        ADDR_A,
        ADDR_B,
        "blob" * 40,
        b"\x09" * 32,
        "Dockerfile",
        "linux/amd64",
        b"\x07" * 32,
        2**64 - 1,
        1,
        2,
    ),
    c.BuildSucceeded(
        ADDR_A,
        ADDR_B,
        ADDR_A,
        RFC8032_PK,
        3,
        b"\x07" * 32,
        b"\x08" * 32,
        "index",
        b"\x09" * 32,
        "log",
        TS,
        b"\x05" * 64,
        10_000_000,
        ADDR_B,
    ),
    c.BuildFailed(
        ADDR_A,
        ADDR_B,
        ADDR_A,
        RFC8032_PK,
        0,
        b"\x07" * 32,
        201,
        b"\x09" * 32,
        "",
        TS,
        b"\x05" * 64,
        0,
        10_000_000,
    ),
    c.BuildCancelled(ADDR_A, ADDR_B, 5, 6),
    c.RegistryUpdated(ADDR_A, ADDR_B, 1, 3_600_000, True, ADDR_A, False),
    c.EnclaveRegistered(ADDR_A, ADDR_B, 1, RFC8032_PK, PCR, PCR, PCR, 0, ADDR_B, True),
    c.PcrsUpdated(ADDR_A, 2, PCR, PCR, b"\xff" * 48),
    c.EnclaveDestroyed(ADDR_A, ADDR_B),
    c.BuildRequestObject(
        ADDR_A,
        ADDR_B,
        SPEC,
        SPEC.digest(),
        0,
        10,
        1,
        1,
        2,
        c.BuildResult(ADDR_A, True, b"\x08" * 32, "i", b"\x09" * 32, "l", 0, TS, b"\x05" * 64),
    ),
    c.BuildRequestObject(ADDR_A, ADDR_B, SPEC, SPEC.digest(), 10, 10, 0, 1, 2, None),
    c.RegistryObject(ADDR_A, 1, ADDR_B, 10, 20, False, ADDR_A, True),
    c.EnclaveConfigObject(ADDR_A, "daas-runner", b"\x00" * 48, PCR, PCR, 0),
    c.EnclaveObject(ADDR_A, ADDR_B, 0, RFC8032_PK, ADDR_B, False, b"\x84" * 4500, TS),
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_round_trip(value: bcs.Struct) -> None:
    encoded = value.to_bcs()
    assert type(value).from_bcs(encoded) == value
    # Every proper prefix is rejected: nothing decodes from truncated bytes.
    for cut in {0, 1, len(encoded) // 2, len(encoded) - 1}:
        with pytest.raises(CodecError):
            type(value).from_bcs(encoded[:cut])
    with pytest.raises(CodecError, match="trailing"):
        type(value).from_bcs(encoded + b"\x00")


def test_every_event_type_is_registered_with_its_module() -> None:
    names = {(m, n) for m, n in c.EVENT_TYPES}
    assert names == {
        ("builds", "BuildRequested"),
        ("builds", "BuildSucceeded"),
        ("builds", "BuildFailed"),
        ("builds", "BuildCancelled"),
        ("builds", "RegistryUpdated"),
        ("enclave", "EnclaveRegistered"),
        ("enclave", "PcrsUpdated"),
        ("enclave", "EnclaveDestroyed"),
    }
    sample = c.BuildCancelled(ADDR_A, ADDR_B, 5, 6)
    assert c.decode_event("builds", "BuildCancelled", sample.to_bcs()) == sample
    with pytest.raises(CodecError, match="unknown event"):
        c.decode_event("builds", "BuildExploded", sample.to_bcs())
    assert c.event_class("enclave", "BuildCancelled") is None


# --- strict decoding -------------------------------------------------------------------------------------------


def test_uleb128_known_encodings() -> None:
    assert bcs.uleb128(0) == b"\x00"
    assert bcs.uleb128(127) == b"\x7f"
    assert bcs.uleb128(128) == b"\x80\x01"
    assert bcs.uleb128(200) == b"\xc8\x01"
    assert bcs.uleb128(2**32 - 1) == b"\xff\xff\xff\xff\x0f"
    with pytest.raises(CodecError):
        bcs.uleb128(2**32)
    for n in (0, 1, 127, 128, 16383, 16384, 2**21, 2**32 - 1):
        assert bcs.Reader(bcs.uleb128(n)).uleb128() == n


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x80\x00", "non-canonical"),
        (b"\x80\x80\x80\x80\x80\x01", "longer than 5 bytes"),
        (b"\xff\xff\xff\xff\x1f", "exceeds u32"),
    ],
)
def test_uleb128_rejects_bad_lengths(data: bytes, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        bcs.Reader(data).uleb128()


def test_bad_bool_option_and_utf8_are_rejected() -> None:
    good = c.RegistryUpdated(ADDR_A, ADDR_B, 1, 2, True, ADDR_A, False).to_bcs()
    paused_at = 32 + 32 + 8 + 8
    bad = good[:paused_at] + b"\x02" + good[paused_at + 1 :]
    with pytest.raises(CodecError, match=r"RegistryUpdated\.paused: invalid bool"):
        c.RegistryUpdated.from_bcs(bad)

    with pytest.raises(CodecError, match="invalid Option tag"):
        bcs.Option(bcs.U8).decode(bcs.Reader(b"\x02\x00"))

    with pytest.raises(CodecError, match="UTF-8"):
        c.BuildSpec.from_bcs(b"\x02\xff\xfe" + bytes([32]) + b"\x00" * 32 + b"\x01a\x01b")


def test_length_prefix_beyond_input_is_truncation_not_allocation() -> None:
    # A hostile 4 GiB length prefix must fail fast on the missing bytes.
    with pytest.raises(CodecError, match="truncated"):
        bcs.Bytes.decode(bcs.Reader(b"\xff\xff\xff\xff\x0f" + b"x"))


@pytest.mark.parametrize(
    ("codec", "value"),
    [
        (bcs.U8, 256),
        (bcs.U16, -1),
        (bcs.U64, 2**64),
        (bcs.U64, True),
        (bcs.Bool, 1),
        (bcs.Bytes, "text"),
        (bcs.String, b"bytes"),
        (bcs.Address, "0x" + "0" * 65),
        (bcs.Address, "abc"),
        (bcs.Address, "0xzz"),
    ],
)
def test_encoding_rejects_out_of_range_values(codec: bcs.Codec[object], value: object) -> None:
    with pytest.raises(CodecError):
        codec.encode(value, bytearray())


def test_encode_errors_name_the_field() -> None:
    with pytest.raises(CodecError, match=r"BuildCancelled\.refunded"):
        c.BuildCancelled(ADDR_A, ADDR_B, -5, 0).to_bcs()


def test_address_normalisation_and_event_type() -> None:
    assert bcs.normalize_address("0x6") == "0x" + "0" * 63 + "6"
    assert bcs.normalize_address("0xABC") == "0x" + "0" * 61 + "abc"
    parsed = c.EventType.parse("0x2a::builds::BuildRequested")
    assert parsed.package == "0x" + "0" * 62 + "2a"
    assert (parsed.module, parsed.name) == ("builds", "BuildRequested")
    assert str(parsed) == f"{parsed.package}::builds::BuildRequested"
    for bad in ("builds::BuildRequested", "0x2::a::B<u8>", "0x2::a", "nohex::a::B"):
        with pytest.raises(CodecError):
            c.EventType.parse(bad)


def test_layout_mismatch_is_caught_at_definition() -> None:
    @dataclasses.dataclass(frozen=True)
    class Broken(bcs.Struct):
        a: int
        b: int
        __bcs__ = (("b", bcs.U8), ("a", bcs.U8))

    with pytest.raises(TypeError, match="does not match"):
        bcs.check_layout(Broken)
