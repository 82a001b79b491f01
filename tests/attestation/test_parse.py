"""Parsing hostile or malformed attestation documents: always a typed `AttestationMalformed` naming the field.

Nothing here may surface a cbor2 or cryptography exception, exhaust memory or recurse without bound.
"""

from __future__ import annotations

import random

import cbor2
import pytest

from daas.attestation import check_document, parse_document, parse_document_hex
from daas.attestation import testing as synth
from daas.attestation.nitro import MAX_DOCUMENT_BYTES, MAX_PAYLOAD_BYTES
from daas.errors import AttestationError, AttestationMalformed


@pytest.fixture(scope="module")
def doc() -> synth.SyntheticDocument:
    return synth.make_document()


def malformed(raw: bytes) -> str:
    """Parse ``raw``, expecting `AttestationMalformed`; return the field it names."""
    with pytest.raises(AttestationMalformed) as err:
        parse_document(raw)
    assert str(err.value).startswith(err.value.field)
    return err.value.field


def signed(doc: synth.SyntheticDocument, **updates: object) -> bytes:
    fields = synth.document_fields(doc.chain, timestamp_ms=doc.timestamp_ms)
    for name, value in updates.items():
        if value is _DELETE:
            del fields[name]
        else:
            fields[name] = value
    return synth.sign_document(fields, doc.chain.leaf_key)


def cose(doc: synth.SyntheticDocument, **parts: object) -> bytes:
    """The document's COSE array with some of its four parts replaced (by name), re-encoded untagged."""
    parsed = parse_document(doc.raw)
    items: dict[str, object] = {
        "protected": parsed.protected,
        "unprotected": {},
        "payload": parsed.payload,
        "signature": parsed.signature,
    }
    items.update(parts)
    return cbor2.dumps(list(items.values()))


_DELETE = object()


# --- envelope -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff",
        b"\x00",
        b"\x83\x01\x02\x03",  # 3-array
        b"\xa0",  # a map
        b"\x85\x40\xa0\x40\x40\x40",  # 5-array
        b"\xd1\x84\x40\xa0\x40\x40",  # tag 17
        b"\xd2\xd2\x84\x40\xa0\x40\x40",  # tag 18 twice
        b"\x9f\x40\xa0\x40\x40\xff",  # indefinite-length array
        b"\x81" * 200 + b"\x00",  # deep nesting
        b"\x9b" + b"\xff" * 8,  # array claiming 2^64-1 items
        b"\x5b" + b"\xff" * 8,  # byte string claiming 2^64-1 bytes
        b"\xbb\x00\x00\x00\x10\x00\x00\x00\x00",  # map claiming 2^36 pairs
        b"\x84\x40\xa0\x40\xf9\x3c\x00",  # a float
        b"\x84\x40\xa0\x40\xf7",  # undefined
        b"\x84\x40\xa0\x40\xd8\x23\x63(a)",  # a regex tag inside
        b"\x84\x40\xa0\x40\x1c",  # reserved additional info
    ],
)
def test_bad_envelopes_name_the_document(raw: bytes) -> None:
    assert malformed(raw) == "document"


def test_truncated_and_trailing_bytes(doc: synth.SyntheticDocument) -> None:
    for cut in (1, 2, 50, len(doc.raw) // 2, len(doc.raw) - 1):
        assert malformed(doc.raw[:cut]) == "document"
    assert malformed(doc.raw + b"\x00") == "document"


def test_oversized_input_is_rejected_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        raise AssertionError("decoded an oversized document")

    monkeypatch.setattr(cbor2, "loads", boom)
    with pytest.raises(AttestationMalformed, match="limit") as err:
        parse_document(b"\x84" + b"\x00" * MAX_DOCUMENT_BYTES)
    assert err.value.field == "document"
    with pytest.raises(AttestationMalformed, match="limit"):
        parse_document_hex("00" * (MAX_DOCUMENT_BYTES + 1))


@pytest.mark.parametrize("text", ["zz", "abc", "0x12 3", "\u0660\u0661"])
def test_bad_hex_text(text: str) -> None:
    with pytest.raises(AttestationMalformed) as err:
        parse_document_hex(text)
    assert err.value.field == "document"


def test_non_bytes_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="parse_document_hex"):
        parse_document("84a0")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "header",
    [
        {1: -7},  # ES256
        {1: -35, 4: b"kid"},
        {},
        {True: -35},
        {1: "ES384"},
        [1, -35],
    ],
)
def test_protected_header_must_be_exactly_es384(
    doc: synth.SyntheticDocument, header: object
) -> None:
    fields = synth.document_fields(doc.chain, timestamp_ms=doc.timestamp_ms)
    raw = synth.sign_document(fields, doc.chain.leaf_key, protected=cbor2.dumps(header))
    assert malformed(raw) == "protected"


def test_protected_header_bytes_must_decode(doc: synth.SyntheticDocument) -> None:
    assert malformed(cose(doc, protected=b"")) == "protected"
    assert malformed(cose(doc, protected=b"\xa1\x01")) == "protected"
    assert malformed(cose(doc, protected=b"\xa1\x01\x38\x22\x00")) == "protected"  # trailing
    assert malformed(cose(doc, protected={1: -35})) == "protected"  # a map, not bytes


def test_non_minimal_es384_header_is_accepted(doc: synth.SyntheticDocument) -> None:
    # {1: -35} with the key in a one-byte argument: CBOR-equal, so the native accepts it too.
    protected = b"\xa1\x18\x01\x38\x22"
    fields = synth.document_fields(doc.chain, timestamp_ms=doc.timestamp_ms)
    raw = synth.sign_document(fields, doc.chain.leaf_key, protected=protected)
    assert parse_document(raw).protected == protected


def test_unprotected_must_be_a_map(doc: synth.SyntheticDocument) -> None:
    assert malformed(cose(doc, unprotected=None)) == "unprotected"
    assert malformed(cose(doc, unprotected=b"")) == "unprotected"
    parse_document(cose(doc, unprotected={4: b"ignored, not signed"}))


@pytest.mark.parametrize("length", [0, 1, 95, 97, 192])
def test_signature_must_be_96_bytes(doc: synth.SyntheticDocument, length: int) -> None:
    assert malformed(cose(doc, signature=b"\x01" * length)) == "signature"


def test_signature_and_payload_must_be_bytes(doc: synth.SyntheticDocument) -> None:
    assert malformed(cose(doc, signature="x" * 96)) == "signature"
    assert malformed(cose(doc, payload="text")) == "payload"
    assert malformed(cose(doc, payload=None)) == "payload"  # detached payloads are not supported


def test_payload_size_bounds(doc: synth.SyntheticDocument) -> None:
    assert malformed(cose(doc, payload=b"")) == "payload"
    assert malformed(cose(doc, payload=b"\xa0" * (MAX_PAYLOAD_BYTES + 1))) == "payload"


# --- payload --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        cbor2.dumps([1, 2]),
        cbor2.dumps("map"),
        cbor2.dumps({1: b"not a text key"}),
        b"\xa1",  # truncated
        b"\xa0\x00",  # trailing
        b"\xa1\x61a\xd8\x23\x64(a+)",  # a regex tag as a value
        b"\xa1\x61a\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00",  # a float
        b"\xa1\x61\xff\x00",  # invalid UTF-8 key
    ],
)
def test_bad_payload_maps(doc: synth.SyntheticDocument, payload: bytes) -> None:
    raw = synth.encode_cose_sign1(
        synth.ES384_PROTECTED, payload, synth.sign_payload(payload, doc.chain.leaf_key)
    )
    assert malformed(raw) == "payload"


def test_duplicate_payload_keys_are_rejected(doc: synth.SyntheticDocument) -> None:
    fields = synth.document_fields(doc.chain, timestamp_ms=doc.timestamp_ms)
    encoded = cbor2.dumps(fields)
    assert encoded[0] == 0xA9  # a map of 9 pairs
    payload = b"\xaa" + encoded[1:] + cbor2.dumps("module_id") + cbor2.dumps("i-attacker")
    raw = synth.encode_cose_sign1(
        synth.ES384_PROTECTED, payload, synth.sign_payload(payload, doc.chain.leaf_key)
    )
    assert malformed(raw) == "payload"


def test_duplicate_pcr_indices_are_rejected(doc: synth.SyntheticDocument) -> None:
    pcrs = cbor2.dumps({0: b"\x01" * 48})
    twice = b"\xa2" + pcrs[1:] + pcrs[1:]
    fields = synth.document_fields(doc.chain, timestamp_ms=doc.timestamp_ms)
    fields["pcrs"] = {}
    payload = cbor2.dumps(fields).replace(b"dpcrs\xa0", b"dpcrs" + twice)
    raw = synth.encode_cose_sign1(
        synth.ES384_PROTECTED, payload, synth.sign_payload(payload, doc.chain.leaf_key)
    )
    assert malformed(raw) == "payload"


CERT = b"0"  # replaced by a real DER in the test where needed

FIELD_CASES: list[tuple[str, object, str]] = [
    ("module_id", 5, "module_id"),
    ("module_id", "", "module_id"),
    ("module_id", b"i-0", "module_id"),
    ("module_id", _DELETE, "module_id"),
    ("timestamp", "1744683923696", "timestamp"),
    ("timestamp", True, "timestamp"),
    ("timestamp", -1, "timestamp"),
    ("timestamp", 2**64, "payload"),  # cbor2 writes a bignum tag, which the scan refuses
    ("timestamp", None, "timestamp"),
    ("timestamp", _DELETE, "timestamp"),
    ("digest", _DELETE, "digest"),
    ("digest", b"SHA384", "digest"),
    ("pcrs", [b"\x00" * 48], "pcrs"),
    ("pcrs", {"0": b"\x00" * 48}, "pcrs"),
    ("pcrs", {True: b"\x00" * 48}, "pcrs"),
    ("pcrs", {32: b"\x00" * 48}, "pcrs"),
    ("pcrs", {-1: b"\x00" * 48}, "pcrs"),
    ("pcrs", {i: b"\x01" * 32 for i in range(33)}, "pcrs"),
    ("pcrs", {0: b"\x01" * 47}, "pcrs[0]"),
    ("pcrs", {3: "00" * 48}, "pcrs[3]"),
    ("pcrs", {5: None}, "pcrs[5]"),
    ("pcrs", _DELETE, "pcrs"),
    ("certificate", "MIIC", "certificate"),
    ("certificate", b"", "certificate"),
    ("certificate", b"\x30" * 1025, "certificate"),
    ("certificate", b"not DER", "certificate"),
    ("certificate", _DELETE, "certificate"),
    ("cabundle", [], "cabundle"),
    ("cabundle", b"", "cabundle"),
    ("cabundle", [b"not DER"], "cabundle[0]"),
    ("cabundle", [CERT, 5], "cabundle[1]"),
    ("cabundle", [CERT] * 11, "cabundle"),
    ("cabundle", _DELETE, "cabundle"),
    ("public_key", "ed25519", "public_key"),
    ("public_key", b"\x01" * 1025, "public_key"),
    ("user_data", b"\x01" * 513, "user_data"),
    ("user_data", [b"x"], "user_data"),
    ("nonce", b"\x01" * 513, "nonce"),
    ("nonce", 0, "nonce"),
]


@pytest.mark.parametrize(("name", "value", "field"), FIELD_CASES)
def test_bad_fields_are_named(
    doc: synth.SyntheticDocument, name: str, value: object, field: str
) -> None:
    if isinstance(value, list):
        value = [doc.chain.root_der if v is CERT else v for v in value]
    assert malformed(signed(doc, **{name: value})) == field


def test_limits_are_inclusive(doc: synth.SyntheticDocument) -> None:
    parsed = parse_document(
        signed(
            doc,
            public_key=b"\x01" * 1024,
            user_data=b"\x02" * 512,
            nonce=b"",
            pcrs={0: b"\x01" * 32, 1: b"\x01" * 48, 2: b"\x01" * 64, 31: b"\x00" * 48},
            timestamp=2**64 - 1,
        )
    )
    assert parsed.public_key == b"\x01" * 1024 and parsed.user_data == b"\x02" * 512
    assert parsed.nonce == b"" and sorted(parsed.pcrs) == [0, 1, 2, 31]
    assert parsed.timestamp_ms == 2**64 - 1


def test_unknown_payload_keys_are_ignored(doc: synth.SyntheticDocument) -> None:
    parsed = parse_document(signed(doc, extension=b"future field"))
    assert parsed.module_id == synth.TEST_MODULE_ID


def test_check_document_reports_a_parse_failure_as_one_check() -> None:
    checks = check_document(b"\x84\x40")
    assert len(checks) == 1
    assert checks[0].name == "document" and not checks[0].ok and "overruns" in checks[0].detail


def test_mutated_documents_only_ever_raise_attestation_errors(
    doc: synth.SyntheticDocument,
) -> None:
    """A seeded fuzz: byte flips, cuts and splices never escape as third-party exceptions."""
    rng = random.Random(20250415)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        data = bytearray(doc.raw)
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            pos = rng.randrange(len(data))
            if kind < 0.6:
                data[pos] = rng.randrange(256)
            elif kind < 0.8:
                del data[pos : pos + rng.randint(1, 64)]
            else:
                data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        try:
            parse_document(bytes(data))
            outcomes["ok"] += 1
        except AttestationError:
            outcomes["error"] += 1
        # The checklist never raises, whatever the input.
        checks = check_document(bytes(data), root_der=doc.root_der)
        assert checks and checks[0].name == "document"
    assert outcomes["error"] > 0


def test_mutated_certificates_only_ever_fail_checks(doc: synth.SyntheticDocument) -> None:
    """A seeded fuzz of the DER itself, re-signed so the chain checks see hostile certificates."""
    rng = random.Random(4492)
    parsed = parse_document(doc.raw)
    for _ in range(300):
        target = rng.randrange(1 + len(parsed.cabundle))
        ders = [parsed.certificate, *parsed.cabundle]
        der = bytearray(ders[target])
        for _ in range(rng.randint(1, 3)):
            der[rng.randrange(len(der))] = rng.randrange(256)
        ders[target] = bytes(der)
        raw = signed(doc, certificate=ders[0], cabundle=ders[1:])
        checks = check_document(raw, root_der=doc.root_der)
        assert checks[0].name == "document"
        if checks[0].ok:
            assert len(checks) == 9


@pytest.mark.parametrize("serial", ["negative", "zero"])
def test_non_positive_serial_numbers_are_malformed(
    doc: synth.SyntheticDocument, serial: str
) -> None:
    # cryptography would only warn (pytest turns that into an error); the parser refuses first.
    der = bytearray(doc.chain.leaf_der)
    assert der[13] == 0x02  # Certificate, TBSCertificate, [0] version, then serialNumber
    start, length = 15, der[14]
    if serial == "negative":
        der[start] |= 0x80
    else:
        der[start : start + length] = bytes(length)
    with pytest.raises(AttestationMalformed, match="positive") as err:
        parse_document(signed(doc, certificate=bytes(der)))
    assert err.value.field == "certificate"


def test_unreadable_certificate_version_is_malformed(doc: synth.SyntheticDocument) -> None:
    der = bytearray(doc.chain.cabundle[1])
    assert der[8:12] == b"\xa0\x03\x02\x01"  # [0] EXPLICIT INTEGER version
    der[12] = 0x08
    cabundle = [doc.chain.root_der, bytes(der), *doc.chain.cabundle[2:]]
    with pytest.raises(AttestationMalformed, match="version") as err:
        parse_document(signed(doc, cabundle=cabundle))
    assert err.value.field == "cabundle[1]"
