"""Verification of Nitro attestation documents: signature, chain to the trusted root, time, PCRs, public key.

Documents are synthetic (`daas.attestation.testing`): no real Nitro document may be committed, and none can be
made here. Each test breaks one rule and checks that exactly that check fails.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.resources

import cbor2
import pytest
from cryptography import x509

from daas.attestation import (
    AWS_NITRO_ROOT_SHA256,
    CHECK_NAMES,
    AttestationDocument,
    Check,
    check_document,
    parse_document,
    parse_document_hex,
    pinned_root_der,
    sui_visible_pcrs,
    verify_document,
)
from daas.attestation import testing as synth
from daas.errors import (
    AttestationError,
    AttestationForged,
    AttestationMalformed,
    AttestationRefused,
    AttestationUntrusted,
)

BASE_CHECKS = CHECK_NAMES[:9]  # all but the two expected-value checks


@pytest.fixture(scope="module")
def doc() -> synth.SyntheticDocument:
    return synth.make_document()


def failed(checks: list[Check]) -> list[str]:
    return [c.name for c in checks if not c.ok]


def with_specs(change: dict[int, dict[str, object]]) -> synth.SyntheticDocument:
    """A document whose chain has spec ``i`` (root first, leaf last) changed by ``change[i]``."""
    specs = synth.default_specs()
    for index, updates in change.items():
        specs[index] = dataclasses.replace(specs[index], **updates)
    return synth.make_document(chain=synth.make_chain(specs))


def resigned(doc: synth.SyntheticDocument, **updates: object) -> bytes:
    """The document's payload map with ``updates``, signed again by its leaf."""
    fields = synth.document_fields(doc.chain, timestamp_ms=doc.timestamp_ms)
    fields.update(updates)
    return synth.sign_document(fields, doc.chain.leaf_key)


# --- the pinned root ----------------------------------------------------------------------------------------


def test_packaged_root_is_the_pinned_aws_root() -> None:
    der = pinned_root_der()
    assert hashlib.sha256(der).hexdigest() == AWS_NITRO_ROOT_SHA256
    assert (
        AWS_NITRO_ROOT_SHA256 == "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
    )
    pem = importlib.resources.files("daas").joinpath("data/aws_nitro_root.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.rfc4514_string() == "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US"


# --- happy path ---------------------------------------------------------------------------------------------


def test_synthetic_document_verifies_against_its_own_root(doc: synth.SyntheticDocument) -> None:
    verified = verify_document(doc.raw, root_der=doc.root_der)
    assert [c.name for c in verified.checks] == list(BASE_CHECKS)
    assert all(c.ok and c.detail for c in verified.checks)
    assert verified.at_ms == verified.timestamp_ms == doc.timestamp_ms
    assert not verified.debug
    assert verified.module_id == synth.TEST_MODULE_ID
    assert verified.digest == "SHA384"
    assert verified.pcrs == synth.default_pcrs()
    assert verified.public_key == synth.TEST_PUBLIC_KEY
    assert verified.user_data is None and verified.nonce is None
    assert check_document(doc.raw, root_der=doc.root_der) == list(verified.checks)


def test_expected_pcrs_and_public_key_are_checked_when_given(doc: synth.SyntheticDocument) -> None:
    pcrs = synth.default_pcrs()
    verified = verify_document(
        doc.raw,
        root_der=doc.root_der,
        expected_pcrs={i: pcrs[i] for i in (0, 1, 2)},
        expected_public_key=synth.TEST_PUBLIC_KEY,
    )
    assert [c.name for c in verified.checks] == list(CHECK_NAMES)


def test_parsed_document_and_hex_text_are_accepted(doc: synth.SyntheticDocument) -> None:
    parsed = parse_document(doc.raw)
    assert verify_document(parsed, root_der=doc.root_der).document == parsed
    assert parse_document_hex(doc.raw.hex()) == parsed
    assert parse_document_hex(" 0x" + doc.raw.hex().upper() + "\n") == parsed
    assert parse_document(bytearray(doc.raw)) == parsed


def test_fields_convert_to_the_sui_stand_in_value(doc: synth.SyntheticDocument) -> None:
    types = pytest.importorskip("emulator.sui.types")
    parsed = parse_document(doc.raw)
    names = [f.name for f in dataclasses.fields(types.NitroDocument)]
    value = types.NitroDocument(**{name: getattr(parsed, name) for name in names})
    assert value.timestamp_ms == doc.timestamp_ms and value.pcrs == parsed.pcrs


def test_sui_visible_pcrs_drop_zero_custom_pcrs() -> None:
    pcrs = synth.default_pcrs()
    pcrs[9] = b"\x01" * 48
    assert sorted(sui_visible_pcrs(pcrs)) == [0, 1, 2, 3, 4, 8, 9]
    assert sorted(sui_visible_pcrs(synth.debug_pcrs())) == [0, 1, 2, 3, 4, 8]


# --- tagged or untagged, signature ----------------------------------------------------------------------------


def test_tagged_and_untagged_both_verify() -> None:
    chain = synth.make_chain()
    untagged = synth.make_document(chain=chain)
    tagged = synth.make_document(chain=chain, tagged=True)
    assert untagged.raw[0] == 0x84 and tagged.raw[:2] == b"\xd2\x84"
    assert not verify_document(untagged.raw, root_der=chain.root_der).document.tagged
    assert verify_document(tagged.raw, root_der=chain.root_der).document.tagged


def test_tampered_payload_fails_the_signature(doc: synth.SyntheticDocument) -> None:
    original = parse_document(doc.raw)
    fields = synth.document_fields(doc.chain, timestamp_ms=doc.timestamp_ms)
    fields["public_key"] = b"\xee" * 32  # the attacker's key
    forged = synth.encode_cose_sign1(original.protected, cbor2.dumps(fields), original.signature)
    with pytest.raises(AttestationForged, match="signature"):
        verify_document(forged, root_der=doc.root_der)
    checks = check_document(forged, root_der=doc.root_der)
    assert failed(checks) == ["signature"]


def test_altered_signature_fails(doc: synth.SyntheticDocument) -> None:
    original = parse_document(doc.raw)
    signature = bytearray(original.signature)
    signature[10] ^= 0x01
    altered = synth.encode_cose_sign1(original.protected, original.payload, bytes(signature))
    assert failed(check_document(altered, root_der=doc.root_der)) == ["signature"]
    zero = synth.encode_cose_sign1(original.protected, original.payload, bytes(96))
    with pytest.raises(AttestationForged):
        verify_document(zero, root_der=doc.root_der)


# --- the root and the chain ---------------------------------------------------------------------------------


def test_synthetic_document_is_rejected_against_the_pinned_aws_root(
    doc: synth.SyntheticDocument,
) -> None:
    with pytest.raises(AttestationUntrusted) as err:
        verify_document(doc.raw)
    assert err.value.check == "root"
    assert failed(check_document(doc.raw)) == ["root", "chain"]


def test_bundle_must_start_with_the_root_itself(doc: synth.SyntheticDocument) -> None:
    # Without the root the bundle starts at an intermediate (fastcrypto would accept this one).
    raw = resigned(doc, cabundle=doc.chain.cabundle[1:])
    assert failed(check_document(raw, root_der=doc.root_der))[0] == "root"
    # Another self-signed certificate in its place: only the root check notices.
    impostor = synth.make_chain().root_der
    raw = resigned(doc, cabundle=[impostor, *doc.chain.cabundle[1:]])
    assert failed(check_document(raw, root_der=doc.root_der)) == ["root"]
    with pytest.raises(AttestationUntrusted) as err:
        verify_document(raw, root_der=doc.root_der)
    assert err.value.check == "root"


def test_broken_chain_order_is_rejected(doc: synth.SyntheticDocument) -> None:
    root, first, second, third = doc.chain.cabundle
    raw = resigned(doc, cabundle=[root, second, first, third])
    checks = check_document(raw, root_der=doc.root_der)
    assert "chain" in failed(checks)
    detail = next(c.detail for c in checks if c.name == "chain")
    assert "is not the subject of" in detail
    with pytest.raises(AttestationUntrusted):
        verify_document(raw, root_der=doc.root_der)


def test_leaf_from_another_chain_is_rejected(doc: synth.SyntheticDocument) -> None:
    other = synth.make_chain()
    fields = synth.document_fields(doc.chain, timestamp_ms=doc.timestamp_ms)
    fields["certificate"] = (
        other.leaf_der
    )  # same names, other keys: signature check of chain[0] fails
    raw = synth.sign_document(fields, other.leaf_key)
    checks = check_document(raw, root_der=doc.root_der)
    assert failed(checks) == ["chain"]
    assert "signature does not verify" in next(c.detail for c in checks if c.name == "chain")


def test_leaf_without_digital_signature_is_rejected() -> None:
    bad = with_specs({-1: {"digital_signature": False}})
    with pytest.raises(AttestationUntrusted) as err:
        verify_document(bad.raw, root_der=bad.root_der)
    assert err.value.check == "key_usage"
    assert "digitalSignature" in str(err.value)


def test_certificate_without_key_usage_is_rejected() -> None:
    for index in (-1, 2):
        bad = with_specs({index: {"key_usage": False}})
        assert failed(check_document(bad.raw, root_der=bad.root_der)) == ["key_usage"]


def test_ca_without_key_cert_sign_is_rejected() -> None:
    bad = with_specs({2: {"key_cert_sign": False}})
    checks = check_document(bad.raw, root_der=bad.root_der)
    assert failed(checks) == ["key_usage"]
    assert "keyCertSign" in next(c.detail for c in checks if c.name == "key_usage")


@pytest.mark.parametrize(
    ("index", "change", "reason"),
    [
        (2, {"basic_constraints_critical": False}, "not critical"),
        (2, {"basic_constraints": False}, "no basicConstraints"),
        (2, {"ca": False, "path_length": None}, "CA:FALSE"),
        (1, {"path_length": 1}, "pathLen 1 but 2 CA certificates below it"),
        (0, {"path_length": 2}, "pathLen 2 but 3 CA certificates below it"),
        (-1, {"ca": True}, "leaf basicConstraints"),
    ],
)
def test_basic_constraints_are_enforced(index: int, change: dict[str, object], reason: str) -> None:
    bad = with_specs({index: change})
    checks = check_document(bad.raw, root_der=bad.root_der)
    assert failed(checks) == ["basic_constraints"]
    assert reason in next(c.detail for c in checks if c.name == "basic_constraints")
    with pytest.raises(AttestationUntrusted) as err:
        verify_document(bad.raw, root_der=bad.root_der)
    assert err.value.check == "basic_constraints"


def test_path_length_exactly_met_is_accepted() -> None:
    # default_specs already counts pathLens down to 0 at the last intermediate; an absent one is unlimited.
    ok = with_specs({1: {"path_length": None}})
    verify_document(ok.raw, root_der=ok.root_der)


def test_more_than_ten_bundle_certificates_are_rejected() -> None:
    longest = synth.make_document(chain=synth.make_chain(synth.default_specs(intermediates=9)))
    assert len(parse_document(longest.raw).cabundle) == 10
    verify_document(longest.raw, root_der=longest.root_der)

    too_long = synth.make_document(chain=synth.make_chain(synth.default_specs(intermediates=10)))
    with pytest.raises(AttestationMalformed) as err:
        parse_document(too_long.raw)
    assert err.value.field == "cabundle"
    assert failed(check_document(too_long.raw, root_der=too_long.root_der)) == ["document"]


# --- time -----------------------------------------------------------------------------------------------------


def test_verified_at_the_documents_own_time_long_after_the_leaf_expired(
    doc: synth.SyntheticDocument,
) -> None:
    leaf = x509.load_der_x509_certificate(doc.chain.leaf_der)
    now = dt.datetime.now(dt.UTC)
    assert leaf.not_valid_after_utc < now - dt.timedelta(days=30)  # the property is worth testing
    assert verify_document(doc.raw, root_der=doc.root_der).at_ms == doc.timestamp_ms
    with pytest.raises(AttestationUntrusted) as err:
        verify_document(doc.raw, root_der=doc.root_der, at_ms=int(now.timestamp() * 1000))
    assert err.value.check == "validity"
    assert "chain[0] leaf" in str(err.value)


def test_expired_and_not_yet_valid_leaf_at_at_ms(doc: synth.SyntheticDocument) -> None:
    leaf = x509.load_der_x509_certificate(doc.chain.leaf_der)
    start = int(leaf.not_valid_before_utc.timestamp()) * 1000
    end = int(leaf.not_valid_after_utc.timestamp()) * 1000

    def validity(at_ms: int) -> bool:
        checks = check_document(doc.raw, root_der=doc.root_der, at_ms=at_ms)
        return next(c.ok for c in checks if c.name == "validity")

    assert validity(start) and validity(end) and validity(end + 999)  # inclusive, whole seconds
    assert not validity(end + 1000)
    assert not validity(start - 1)
    assert not validity(doc.timestamp_ms + 4 * 3600 * 1000)  # four hours later: the leaf expired
    assert not validity(2**64 - 1)  # beyond any datetime
    with pytest.raises(AttestationUntrusted, match="not valid at"):
        verify_document(doc.raw, root_der=doc.root_der, at_ms=start - 1000)


def test_expired_root_is_rejected() -> None:
    at = synth.DEFAULT_TIME
    bad = with_specs({0: {"not_after": at - dt.timedelta(days=1)}})
    checks = check_document(bad.raw, root_der=bad.root_der)
    assert failed(checks) == ["validity"]
    assert "chain[4] root" in next(c.detail for c in checks if c.name == "validity")


def test_at_ms_must_be_a_u64() -> None:
    doc = synth.make_document()
    for at_ms in (-1, 2**64, True):
        with pytest.raises(ValueError, match="at_ms"):
            verify_document(doc.raw, root_der=doc.root_der, at_ms=at_ms)


def test_bad_root_argument_is_a_value_error(doc: synth.SyntheticDocument) -> None:
    with pytest.raises(ValueError, match="root_der"):
        verify_document(doc.raw, root_der=b"not a certificate")


# --- digest, PCRs, public key ---------------------------------------------------------------------------------


def test_digest_other_than_sha384_is_rejected(doc: synth.SyntheticDocument) -> None:
    for digest in ("SHA256", "sha384", 384):
        raw = resigned(doc, digest=digest)
        with pytest.raises(AttestationMalformed) as err:
            verify_document(raw, root_der=doc.root_der)
        assert err.value.field == "digest"


def test_debug_pcrs_are_rejected_unless_allowed() -> None:
    debug = synth.make_document(pcrs=synth.debug_pcrs())
    with pytest.raises(AttestationRefused) as err:
        verify_document(debug.raw, root_der=debug.root_der)
    assert err.value.check == "not_debug"
    assert failed(check_document(debug.raw, root_der=debug.root_der)) == ["not_debug"]

    verified = verify_document(debug.raw, root_der=debug.root_der, allow_debug=True)
    assert verified.debug
    assert "debug-mode" in next(c.detail for c in verified.checks if c.name == "not_debug")


@pytest.mark.parametrize("change", [{2: bytes(48)}, {0: bytes(48)}, {0: None}, {2: None}])
def test_partly_zero_or_missing_enclave_pcrs_are_rejected_even_in_debug(
    change: dict[int, bytes | None],
) -> None:
    pcrs = synth.default_pcrs()
    for index, value in change.items():
        if value is None:
            del pcrs[index]
        else:
            pcrs[index] = value
    bad = synth.make_document(pcrs=pcrs)
    for allow_debug in (False, True):
        with pytest.raises(AttestationRefused) as err:
            verify_document(bad.raw, root_der=bad.root_der, allow_debug=allow_debug)
        assert err.value.check == "not_debug"


def test_pcr_mismatch_is_rejected(doc: synth.SyntheticDocument) -> None:
    pcrs = synth.default_pcrs()
    for expected in ({0: b"\x01" * 48}, {0: pcrs[0], 2: pcrs[1]}, {20: bytes(48)}):
        with pytest.raises(AttestationRefused) as err:
            verify_document(doc.raw, root_der=doc.root_der, expected_pcrs=expected)
        assert err.value.check == "expected_pcrs"


def test_public_key_mismatch_is_rejected(doc: synth.SyntheticDocument) -> None:
    with pytest.raises(AttestationRefused) as err:
        verify_document(doc.raw, root_der=doc.root_der, expected_public_key=b"\x00" * 32)
    assert err.value.check == "expected_public_key"
    keyless = synth.make_document(chain=doc.chain, public_key=None)
    checks = check_document(keyless.raw, root_der=doc.root_der, expected_public_key=b"\x00" * 32)
    assert failed(checks) == ["expected_public_key"]
    assert "no public key" in checks[-1].detail


def test_check_document_reports_every_failure_at_once() -> None:
    bad = synth.make_document(pcrs=synth.debug_pcrs())
    checks = check_document(
        bad.raw, at_ms=0, expected_pcrs={0: b"\x01" * 48}, expected_public_key=b"\x02" * 32
    )
    assert [c.name for c in checks] == list(CHECK_NAMES)
    assert failed(checks) == [
        "root",
        "validity",
        "chain",
        "not_debug",
        "expected_pcrs",
        "expected_public_key",
    ]


def test_every_failure_is_an_attestation_error() -> None:
    for cls in (AttestationMalformed, AttestationForged, AttestationUntrusted, AttestationRefused):
        assert issubclass(cls, AttestationError)
    assert AttestationMalformed("x", field="pcrs").field == "pcrs"
    assert AttestationUntrusted("x", check="root").check == "root"
    assert isinstance(parse_document(synth.make_document().raw), AttestationDocument)
