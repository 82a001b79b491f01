"""Verification of AWS Nitro Enclaves attestation documents, as Sui's `load_nitro_attestation` does it, and more.

On chain, `sui::nitro_attestation::load_nitro_attestation(doc, &clock)` runs fastcrypto's `nitro_attestation.rs`
(`parse_nitro_attestation` then `verify_nitro_attestation` at ``clock.timestamp_ms()``). This module performs the
same checks off chain, plus the ones Sui leaves to the application, so `daas verify` can re-check an enclave
registration from its stored document alone.

Parsing (`parse_document`; every failure is `AttestationMalformed` naming the field):

- input at most `MAX_DOCUMENT_BYTES`, checked before any decoding, then bounded CBOR decoding (`_cbor`);
- COSE_Sign1 tagged 18 or untagged, an array of exactly 4 items (fastcrypto: tag absent or 18);
- protected header a byte string decoding to exactly ``{1: -35}`` (ES384), unprotected header a map (ignored,
  as in fastcrypto: it is not signed), payload 1..16383 bytes and signature exactly 96 bytes
  (fastcrypto `validate_header`: ``(1..16384).contains(len)``, a half-open range);
- payload a map with text keys: ``module_id`` non-empty text; ``digest`` exactly "SHA384"; ``timestamp`` an
  unsigned 64-bit integer (ms); ``pcrs`` a map of at most 32 entries, index 0..31, value 32, 48 or 64 bytes;
  ``certificate`` 1..1024 bytes of DER X.509; ``cabundle`` 1..10 entries of 1..1024 bytes of DER X.509;
  ``public_key`` at most 1024 bytes, ``user_data`` and ``nonce`` at most 512 bytes, each optional or null
  (fastcrypto's MAX_PK_LENGTH, MAX_USER_DATA_LENGTH, MAX_CERT_LENGTH, MAX_CERT_CHAIN_LENGTH, MAX_PCRS_LENGTH).

Verification (`check_document` returns every `Check`; `verify_document` raises on the first failure). Check
names, in order, with their error class:

- ``document`` (`AttestationMalformed`): the parsing above.
- ``signature`` (`AttestationForged`): ES384 over ``["Signature1", protected, b"", payload]`` with the leaf
  certificate's P-384 key, the 96-byte ``r‖s`` converted to DER (fastcrypto: p384 `VerifyingKey::verify`).
- ``root`` (`AttestationUntrusted`, as are the next four): ``cabundle[0]`` is byte-for-byte the trusted root
  (the pinned AWS root unless ``root_der`` says otherwise).
- ``key_usage``: every certificate has keyUsage; the leaf asserts digitalSignature, each CA keyCertSign.
- ``basic_constraints``: each CA has a critical basicConstraints with CA true and, where a pathLenConstraint is
  present, no more CA certificates below it than it allows; a leaf basicConstraints, if any, is not a CA and has
  no pathLen.
- ``validity``: every certificate, the root included, is valid at ``at_ms`` (fastcrypto truncates to seconds;
  both bounds inclusive, as x509-parser's `is_valid_at`).
- ``chain``: over ``[leaf] + reversed(cabundle[1:]) + [trusted root]``, each certificate's issuer equals the next
  one's subject (DER), and its signature verifies with the next one's key (the root with its own).
- ``digest`` (`AttestationMalformed`): "SHA384" (already enforced by the parser; listed for the checklist).
- ``not_debug`` (`AttestationRefused`): PCR0, PCR1 and PCR2 are present and none is all zero. Debug-mode
  enclaves report all-zero PCRs yet are signed by the same AWS chain; with ``allow_debug`` an all-zero triple
  passes (and `VerifiedDocument.debug` is set). Sui does not check this; our Move `enclave` module does.
- ``expected_pcrs`` and ``expected_public_key`` (`AttestationRefused`), only when expected values are given.

Where we are stricter than Sui (deliberately; none of it affects a document the NSM produces):

- fastcrypto builds ``[leaf] + reversed(cabundle)`` and checks that ``cabundle[0]`` is *issued by* the pinned
  root, so it would accept a bundle that omits the root; we require ``cabundle[0]`` to *be* the root, as AWS
  documents it (the root then verifies against itself, which is what fastcrypto's last step amounts to).
- trailing bytes after the COSE item, indefinite lengths, floats, tags inside the payload, PCR indices 32..255
  (fastcrypto drops those), non-bytes optional fields (fastcrypto ignores those), and certificates with a
  non-positive serial number (RFC 5280) or any part cryptography cannot read are rejected;
- the input is bounded at `MAX_DOCUMENT_BYTES` (the largest payload plus the COSE envelope) before decoding;
  Sui's 16 KiB limit on a pure argument bounds it on chain.

What Sui checks against the *clock* we check at ``at_ms``, by default the document's own ``timestamp``: a build's
registration is verified long after its 3-hour leaf certificate expired, and the timestamp is signed (see
research/nautilus.md §3 point 6; the same rule as MystenLabs/hashi PR #832). Pass ``at_ms`` to reproduce the
chain's view at a given clock time. To reproduce `load_nitro_attestation` itself, call
``verify_document(raw, at_ms=clock_ms, allow_debug=True)`` and expose ``sui_visible_pcrs(doc.pcrs)``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.resources
import types
from collections.abc import Callable, Iterator, Mapping, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from daas.attestation import _cbor, _der
from daas.errors import (
    AttestationError,
    AttestationForged,
    AttestationMalformed,
    AttestationRefused,
    AttestationUntrusted,
)

AWS_NITRO_ROOT_SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
"""SHA-256 of the DER of the AWS Nitro Enclaves root certificate (``CN=aws.nitro-enclaves``, G1)."""

MAX_PAYLOAD_BYTES = 16383  # fastcrypto: payload length in 1..16384, half-open
# The largest payload plus room for the COSE envelope (~110 bytes); an NSM document is about 4.5 KB.
MAX_DOCUMENT_BYTES = MAX_PAYLOAD_BYTES + 1 + 512
SIGNATURE_BYTES = 96  # ES384 r‖s, 48 bytes each
MAX_CERT_BYTES = 1024
MAX_CABUNDLE = 10  # fastcrypto MAX_CERT_CHAIN_LENGTH, applied to the bundle; the leaf comes on top
MAX_PCRS = 32
PCR_LENGTHS = frozenset({32, 48, 64})
MAX_PUBLIC_KEY_BYTES = 1024
MAX_USER_DATA_BYTES = 512  # user_data and nonce; AWS's content rules and fastcrypto agree on 512
REQUIRED_DIGEST = "SHA384"
ES384_PROTECTED_HEADER = types.MappingProxyType({1: -35})  # COSE alg ES384
COSE_SIGN1_TAG = 18
ENCLAVE_PCRS = (0, 1, 2)  # image, kernel+boot ramdisk, application: the enclave's identity
SUI_REQUIRED_PCRS = frozenset({0, 1, 2, 3, 4, 8})

CHECK_NAMES = (
    "document",
    "signature",
    "root",
    "key_usage",
    "basic_constraints",
    "validity",
    "chain",
    "digest",
    "not_debug",
    "expected_pcrs",
    "expected_public_key",
)
"""Every check name, in the order checks run; a result lists the ones performed."""

_U64_LIMIT = 1 << 64
# What cryptography raises on certificates it cannot read; several are not ValueErrors.
_X509_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
_CHAIN_CHECKS = frozenset({"root", "key_usage", "basic_constraints", "validity", "chain"})
_POLICY_CHECKS = frozenset({"not_debug", "expected_pcrs", "expected_public_key"})


@dataclasses.dataclass(frozen=True)
class AttestationDocument:
    """A parsed, not yet verified, Nitro attestation document.

    The first seven fields have the names and types of the Sui stand-in's ``NitroDocument`` (the value
    `load_nitro_attestation` returns), so converting is field-for-field. ``pcrs`` holds every PCR the document
    carries; `sui_visible_pcrs` gives the subset Sui's getter exposes.
    """

    module_id: str
    timestamp_ms: int
    digest: str
    pcrs: dict[int, bytes]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None
    certificate: bytes  # the leaf, DER
    cabundle: tuple[bytes, ...]  # DER, root first
    protected: bytes  # the COSE protected header exactly as signed
    payload: bytes
    signature: bytes  # r‖s
    tagged: bool  # the COSE_Sign1 carried tag 18 (the NSM emits it untagged)

    @property
    def signed_message(self) -> bytes:
        """The COSE Sig_structure the signature covers: ``["Signature1", protected, b"", payload]``."""
        return _cbor.encode(["Signature1", self.protected, b"", self.payload])


@dataclasses.dataclass(frozen=True)
class Check:
    """One verification step and its outcome; ``detail`` says what was compared or why it failed."""

    name: str
    ok: bool
    detail: str


@dataclasses.dataclass(frozen=True)
class VerifiedDocument:
    """A document that passed every check requested; ``checks`` lists them in order, all ok."""

    document: AttestationDocument
    checks: tuple[Check, ...]
    at_ms: int  # the time the certificates were checked at
    # PCR0-2 are all zero: a debug-mode enclave, accepted only because allow_debug was set.
    debug: bool

    @property
    def module_id(self) -> str:
        return self.document.module_id

    @property
    def timestamp_ms(self) -> int:
        return self.document.timestamp_ms

    @property
    def digest(self) -> str:
        return self.document.digest

    @property
    def pcrs(self) -> dict[int, bytes]:
        return self.document.pcrs

    @property
    def public_key(self) -> bytes | None:
        return self.document.public_key

    @property
    def user_data(self) -> bytes | None:
        return self.document.user_data

    @property
    def nonce(self) -> bytes | None:
        return self.document.nonce


# --- parsing ------------------------------------------------------------------------------------------------


def parse_document(raw: bytes) -> AttestationDocument:
    """Parse a COSE_Sign1 Nitro attestation document (raw CBOR bytes, tagged 18 or untagged).

    Checks structure, sizes and field types only; nothing is verified. Raises `AttestationMalformed`.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(
            f"expected bytes, got {type(raw).__name__} (hex text: use parse_document_hex)"
        )
    data = bytes(raw)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise _malformed("document", f"{len(data)} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit")
    tagged, value = _cbor.decode(data, field="document", allow_tag=COSE_SIGN1_TAG)
    cose = _as_list(value)
    if cose is None or len(cose) != 4:
        raise _malformed("document", "COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = cose

    if not isinstance(protected, bytes):
        raise _malformed("protected", "protected header must be a byte string")
    _, header = _cbor.decode(protected, field="protected")
    if not _is_es384_header(header):
        raise _malformed("protected", "protected header must be exactly {1: -35} (ES384)")
    if _as_map(unprotected) is None:
        raise _malformed("unprotected", "unprotected header must be a map")
    if not isinstance(payload, bytes) or not 1 <= len(payload) <= MAX_PAYLOAD_BYTES:
        raise _malformed("payload", f"payload must be 1..{MAX_PAYLOAD_BYTES} bytes")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise _malformed("signature", f"signature must be {SIGNATURE_BYTES} bytes (ES384 r‖s)")

    _, body = _cbor.decode(payload, field="payload")
    fields = _as_map(body)
    if fields is None:
        raise _malformed("payload", "payload must be a CBOR map")
    if not all(isinstance(key, str) for key in fields):
        raise _malformed("payload", "payload map keys must be text")

    return AttestationDocument(
        module_id=_module_id(fields),
        timestamp_ms=_timestamp(fields),
        digest=_digest(fields),
        pcrs=_pcrs(fields),
        public_key=_optional_bytes(fields, "public_key", MAX_PUBLIC_KEY_BYTES),
        user_data=_optional_bytes(fields, "user_data", MAX_USER_DATA_BYTES),
        nonce=_optional_bytes(fields, "nonce", MAX_USER_DATA_BYTES),
        certificate=_certificate(_required(fields, "certificate"), "certificate"),
        cabundle=_cabundle(fields),
        protected=protected,
        payload=payload,
        signature=signature,
        tagged=tagged,
    )


def parse_document_hex(text: str) -> AttestationDocument:
    """Parse a document given as hex text (as Nautilus's ``/get_attestation`` returns it); ``0x`` optional."""
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    stripped = text.strip()
    if stripped[:2] in ("0x", "0X"):
        stripped = stripped[2:]
    if len(stripped) > 2 * MAX_DOCUMENT_BYTES:  # bound before allocating
        raise _malformed("document", f"hex text over the {MAX_DOCUMENT_BYTES}-byte limit")
    try:
        raw = bytes.fromhex(stripped)
    except ValueError as exc:
        raise _malformed("document", f"not hex text ({exc})") from exc
    return parse_document(raw)


def _module_id(fields: Mapping[object, object]) -> str:
    value = _required(fields, "module_id")
    if not isinstance(value, str) or not value:
        raise _malformed("module_id", "module_id must be non-empty text")
    return value


def _timestamp(fields: Mapping[object, object]) -> int:
    value = _required(fields, "timestamp")
    if type(value) is not int or not 0 <= value < _U64_LIMIT:  # `type is`: bool is an int subclass
        raise _malformed("timestamp", "timestamp must be an unsigned 64-bit integer (ms)")
    return value


def _digest(fields: Mapping[object, object]) -> str:
    value = _required(fields, "digest")
    if not isinstance(value, str):
        raise _malformed("digest", "digest must be text")
    if value != REQUIRED_DIGEST:
        raise _malformed("digest", f"digest must be {REQUIRED_DIGEST!r}, got {value[:32]!r}")
    return value


def _pcrs(fields: Mapping[object, object]) -> dict[int, bytes]:
    entries = _as_map(_required(fields, "pcrs"))
    if entries is None:
        raise _malformed("pcrs", "pcrs must be a map")
    if len(entries) > MAX_PCRS:
        raise _malformed("pcrs", f"{len(entries)} PCRs, at most {MAX_PCRS}")
    pcrs: dict[int, bytes] = {}
    for index, value in entries.items():
        if type(index) is not int or not 0 <= index < MAX_PCRS:
            raise _malformed(
                "pcrs", f"PCR index {index!r:.20} is not an integer in 0..{MAX_PCRS - 1}"
            )
        if not isinstance(value, bytes) or len(value) not in PCR_LENGTHS:
            raise _malformed(f"pcrs[{index}]", "a PCR must be 32, 48 or 64 bytes")
        pcrs[index] = value
    return dict(sorted(pcrs.items()))


def _cabundle(fields: Mapping[object, object]) -> tuple[bytes, ...]:
    entries = _as_list(_required(fields, "cabundle"))
    if entries is None:
        raise _malformed("cabundle", "cabundle must be an array")
    if not 1 <= len(entries) <= MAX_CABUNDLE:
        raise _malformed(
            "cabundle", f"cabundle has {len(entries)} entries, must have 1..{MAX_CABUNDLE}"
        )
    return tuple(_certificate(entry, f"cabundle[{i}]") for i, entry in enumerate(entries))


def _certificate(value: object, field: str) -> bytes:
    if not isinstance(value, bytes) or not 1 <= len(value) <= MAX_CERT_BYTES:
        raise _malformed(field, f"{field} must be 1..{MAX_CERT_BYTES} bytes")
    _load_certificate(value, field)
    return value


def _optional_bytes(fields: Mapping[object, object], name: str, limit: int) -> bytes | None:
    value = fields.get(name)
    if value is None:  # absent, or null as the NSM writes unset fields
        return None
    if not isinstance(value, bytes) or len(value) > limit:
        raise _malformed(name, f"{name} must be at most {limit} bytes, or null")
    return value


def _required(fields: Mapping[object, object], name: str) -> object:
    if name not in fields:
        raise _malformed(name, f"{name} is missing")
    return fields[name]


def _is_es384_header(header: object) -> bool:
    entries = _as_map(header)
    if entries is None or len(entries) != 1:
        return False
    ((key, value),) = entries.items()
    return type(key) is int and type(value) is int and {key: value} == ES384_PROTECTED_HEADER


def _as_list(value: object) -> list[object] | None:
    return list(value) if isinstance(value, list) else None


def _as_map(value: object) -> dict[object, object] | None:
    return dict(value) if isinstance(value, dict) else None


def _load_certificate(der: bytes, field: str) -> x509.Certificate:
    """Load DER and read every part verification uses, since cryptography parses some of them lazily."""
    problem = _der.serial_problem(der)
    if problem is not None:
        raise _malformed(field, problem)
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = (
            cert.public_key(),
            cert.extensions,
            cert.subject.public_bytes(),
            cert.issuer.public_bytes(),
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
        )
    except _X509_ERRORS as exc:
        raise _malformed(field, f"{field} is not a readable DER X.509 certificate ({exc})") from exc
    return cert


def _malformed(field: str, reason: str) -> AttestationMalformed:
    return AttestationMalformed(f"{field}: {reason}", field=field)


def sui_visible_pcrs(pcrs: Mapping[int, bytes]) -> dict[int, bytes]:
    """The PCRs Sui's ``pcrs()`` getter returns: 0-4 and 8 always, any other index only when non-zero.

    This is fastcrypto's parsing with ``include_all_nonzero_pcrs`` and ``always_include_required_pcrs`` (Sui PR
    #24670); code that reads PCRs on chain must look them up by ``index()``, never by position.
    """
    return {i: v for i, v in sorted(pcrs.items()) if i in SUI_REQUIRED_PCRS or any(v)}


# --- verification -------------------------------------------------------------------------------------------


@functools.cache
def pinned_root_der() -> bytes:
    """The AWS Nitro root certificate shipped as package data, as DER, after checking its pinned hash."""
    pem = importlib.resources.files("daas").joinpath("data/aws_nitro_root.pem").read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    if hashlib.sha256(der).hexdigest() != AWS_NITRO_ROOT_SHA256:
        raise AttestationError(
            "the packaged AWS Nitro root certificate does not match its pinned hash"
        )
    return der


def check_document(
    document: bytes | AttestationDocument,
    *,
    root_der: bytes | None = None,
    at_ms: int | None = None,
    expected_pcrs: Mapping[int, bytes] | None = None,
    expected_public_key: bytes | None = None,
    allow_debug: bool = False,
) -> list[Check]:
    """Run every check and return them all, failed ones included: the checklist `daas verify` prints.

    A bad document raises nothing: if it does not even parse, the list is the failed ``document`` check alone.
    Only bad arguments raise. The arguments are those of `verify_document`.
    """
    root = _root(root_der)
    try:
        doc, chain = _prepare(document)
    except AttestationMalformed as err:
        return [Check("document", False, str(err))]
    return list(
        _run_checks(doc, chain, root, at_ms, expected_pcrs, expected_public_key, allow_debug)
    )


def verify_document(
    document: bytes | AttestationDocument,
    *,
    root_der: bytes | None = None,
    at_ms: int | None = None,
    expected_pcrs: Mapping[int, bytes] | None = None,
    expected_public_key: bytes | None = None,
    allow_debug: bool = False,
) -> VerifiedDocument:
    """Verify a Nitro attestation document and return it with the checks performed, or raise on the first failure.

    - ``root_der``: the trust anchor (DER); default: the pinned AWS root (`pinned_root_der`).
    - ``at_ms``: when the certificates must be valid (ms since the epoch); default: the document's own timestamp.
    - ``expected_pcrs``: PCR index → value that must match exactly (e.g. PCR0-2 of the released image).
    - ``expected_public_key``: the key the document must carry (e.g. the registered enclave's Ed25519 key).
    - ``allow_debug``: accept all-zero PCR0-2 (a debug-mode enclave); dev networks only.

    Raises `AttestationMalformed`, `AttestationForged`, `AttestationUntrusted` or `AttestationRefused`; the last
    two name the failed check in ``check``.
    """
    root = _root(root_der)
    doc, chain = _prepare(document)
    checks: list[Check] = []
    for check in _run_checks(
        doc, chain, root, at_ms, expected_pcrs, expected_public_key, allow_debug
    ):
        if not check.ok:
            raise _error_for(check)
        checks.append(check)
    debug = all(not any(doc.pcrs[i]) for i in ENCLAVE_PCRS)  # present: the not_debug check passed
    return VerifiedDocument(doc, tuple(checks), _at_ms(doc, at_ms), debug)


@dataclasses.dataclass(frozen=True)
class _Cert:
    """A certificate of the chain with its position's label, for messages."""

    label: str
    cert: x509.Certificate

    @property
    def name(self) -> str:
        cns = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = cns[0].value if cns else self.cert.subject.rfc4514_string()
        return f"{self.label} ({cn!s:.80})"


# Finds what is wrong with the certificate at a position of the chain, or None.
_ProblemFn = Callable[[int, Sequence[_Cert]], str | None]


@dataclasses.dataclass(frozen=True)
class _Root:
    der: bytes
    cert: x509.Certificate


def _root(root_der: bytes | None) -> _Root:
    der = pinned_root_der() if root_der is None else bytes(root_der)
    try:
        return _Root(der, x509.load_der_x509_certificate(der))
    except ValueError as exc:
        raise ValueError(f"root_der is not a DER X.509 certificate: {exc}") from exc


def _prepare(document: bytes | AttestationDocument) -> tuple[AttestationDocument, list[_Cert]]:
    """Parse if needed and load the leaf and bundle (raises `AttestationMalformed`)."""
    doc = document if isinstance(document, AttestationDocument) else parse_document(document)
    leaf = _Cert("leaf", _load_certificate(doc.certificate, "certificate"))
    bundle = [
        _Cert(f"cabundle[{i}]", _load_certificate(der, f"cabundle[{i}]"))
        for i, der in enumerate(doc.cabundle)
    ]
    return doc, [leaf, *bundle]


def _at_ms(doc: AttestationDocument, at_ms: int | None) -> int:
    if at_ms is None:
        return doc.timestamp_ms
    if type(at_ms) is not int or not 0 <= at_ms < _U64_LIMIT:
        raise ValueError(f"at_ms must be an unsigned 64-bit integer of ms, got {at_ms!r}")
    return at_ms


def _run_checks(
    doc: AttestationDocument,
    loaded: list[_Cert],
    root: _Root,
    at_ms: int | None,
    expected_pcrs: Mapping[int, bytes] | None,
    expected_public_key: bytes | None,
    allow_debug: bool,
) -> Iterator[Check]:
    """Yield the checks in `CHECK_NAMES` order; each is computed independently of the others' outcome."""
    at = _at_ms(doc, at_ms)
    leaf, bundle = loaded[0], loaded[1:]
    # The path the signatures run along: leaf, intermediates nearest the leaf first, then the trust anchor.
    chain = [leaf, *reversed(bundle[1:]), _Cert("root", root.cert)]

    yield Check(
        "document",
        True,
        f"COSE_Sign1 ({'tagged 18' if doc.tagged else 'untagged'}), ES384, payload {len(doc.payload)} bytes, "
        f"module {doc.module_id!r}, {len(doc.cabundle)} CA certificates",
    )
    yield _check_signature(doc, leaf)
    yield _check_root(doc, root)
    yield _check_each(
        "key_usage", chain, _key_usage_problem, "leaf digitalSignature, CAs keyCertSign"
    )
    yield _check_each(
        "basic_constraints",
        chain,
        _basic_constraints_problem,
        "CAs critical CA:TRUE within pathLen",
    )
    yield _check_validity(chain, at)
    yield _check_each("chain", chain, _issuance_problem, "each certificate issued by the next")
    yield Check(
        "digest",
        doc.digest == REQUIRED_DIGEST,
        f"digest {doc.digest!r}"
        + ("" if doc.digest == REQUIRED_DIGEST else f", not {REQUIRED_DIGEST!r}"),
    )
    yield _check_not_debug(doc, allow_debug)
    if expected_pcrs is not None:
        yield _check_expected_pcrs(doc, expected_pcrs)
    if expected_public_key is not None:
        yield _check_expected_public_key(doc, expected_public_key)


def _check_signature(doc: AttestationDocument, leaf: _Cert) -> Check:
    try:
        key = leaf.cert.public_key()
    except _X509_ERRORS as exc:
        return Check("signature", False, f"{leaf.name} holds an unreadable key ({exc})")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        return Check("signature", False, f"{leaf.name} does not hold a P-384 key")
    half = SIGNATURE_BYTES // 2
    r = int.from_bytes(doc.signature[:half], "big")
    s = int.from_bytes(doc.signature[half:], "big")
    try:
        key.verify(encode_dss_signature(r, s), doc.signed_message, ec.ECDSA(hashes.SHA384()))
    except (InvalidSignature, ValueError) as exc:  # ValueError: r or s out of range for DER
        return Check(
            "signature", False, f"ES384 signature does not verify with {leaf.name} ({exc!r})"
        )
    return Check("signature", True, f"ES384 signature by {leaf.name}")


def _check_root(doc: AttestationDocument, root: _Root) -> Check:
    fingerprint = hashlib.sha256(root.der).hexdigest()
    if doc.cabundle[0] != root.der:
        got = hashlib.sha256(doc.cabundle[0]).hexdigest()
        return Check(
            "root",
            False,
            f"cabundle[0] (sha256 {got}) is not the trusted root (sha256 {fingerprint})",
        )
    return Check("root", True, f"cabundle[0] is the trusted root (sha256 {fingerprint})")


def _check_each(name: str, chain: Sequence[_Cert], problem_of: _ProblemFn, summary: str) -> Check:
    """One check over the chain: the first certificate with a problem fails it."""
    for position, cert in enumerate(chain):
        problem = problem_of(position, chain)
        if problem is not None:
            return Check(name, False, f"chain[{position}] {cert.name}: {problem}")
    return Check(name, True, f"{len(chain)} certificates: {summary}")


def _key_usage_problem(position: int, chain: Sequence[_Cert]) -> str | None:
    try:
        usage = chain[position].cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "no keyUsage extension"
    except _X509_ERRORS as exc:
        return f"unreadable extensions ({exc})"
    if position == 0:
        return None if usage.digital_signature else "leaf keyUsage lacks digitalSignature"
    return None if usage.key_cert_sign else "CA keyUsage lacks keyCertSign"


def _basic_constraints_problem(position: int, chain: Sequence[_Cert]) -> str | None:
    try:
        ext = chain[position].cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return None if position == 0 else "CA has no basicConstraints extension"
    except _X509_ERRORS as exc:
        return f"unreadable extensions ({exc})"
    constraints = ext.value
    if position == 0:
        if constraints.ca or constraints.path_length is not None:
            return "leaf basicConstraints must not be a CA nor carry pathLen"
        return None
    if not ext.critical:
        return "CA basicConstraints is not critical"
    if not constraints.ca:
        return "CA basicConstraints has CA:FALSE"
    below = position - 1  # CA certificates between this one and the leaf
    if constraints.path_length is not None and below > constraints.path_length:
        return f"pathLen {constraints.path_length} but {below} CA certificates below it"
    return None


def _issuance_problem(position: int, chain: Sequence[_Cert]) -> str | None:
    cert = chain[position].cert
    issuer = chain[min(position + 1, len(chain) - 1)]  # the root is its own issuer
    if cert.issuer.public_bytes() != issuer.cert.subject.public_bytes():
        return f"issuer {cert.issuer.rfc4514_string()!r:.120} is not the subject of {issuer.name}"
    try:
        cert.verify_directly_issued_by(issuer.cert)
    except (InvalidSignature, *_X509_ERRORS) as exc:
        return f"signature does not verify with the key of {issuer.name} ({exc!r})"
    return None


def _check_validity(chain: Sequence[_Cert], at_ms: int) -> Check:
    at = _utc(at_ms)
    when = "out of range" if at is None else _iso(at)
    for position, cert in enumerate(chain):
        start, end = cert.cert.not_valid_before_utc, cert.cert.not_valid_after_utc
        if at is None or not start <= at <= end:
            return Check(
                "validity",
                False,
                f"chain[{position}] {cert.name} is not valid at {when} "
                f"(valid {_iso(start)} to {_iso(end)})",
            )
    return Check("validity", True, f"{len(chain)} certificates valid at {when}")


def _utc(at_ms: int) -> dt.datetime | None:
    # Truncated to whole seconds, as fastcrypto does before comparing with X.509 times.
    try:
        return dt.datetime.fromtimestamp(at_ms // 1000, tz=dt.UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_not_debug(doc: AttestationDocument, allow_debug: bool) -> Check:
    missing = [i for i in ENCLAVE_PCRS if i not in doc.pcrs]
    if missing:
        return Check("not_debug", False, f"{', '.join(f'PCR{i}' for i in missing)} missing")
    zero = [i for i in ENCLAVE_PCRS if not any(doc.pcrs[i])]
    if not zero:
        return Check("not_debug", True, "PCR0, PCR1, PCR2 are not zero")
    if allow_debug and len(zero) == len(ENCLAVE_PCRS):
        return Check(
            "not_debug", True, "PCR0-2 all zero: debug-mode enclave, accepted (allow_debug)"
        )
    if len(zero) == len(ENCLAVE_PCRS):
        return Check(
            "not_debug", False, "PCR0-2 all zero: a debug-mode enclave (allow_debug is off)"
        )
    which = ", ".join(f"PCR{i}" for i in zero)
    # A debug enclave zeroes all three; a partial zero is no measurement of a real image either.
    return Check("not_debug", False, f"{which} all zero while other enclave PCRs are set")


def _check_expected_pcrs(doc: AttestationDocument, expected: Mapping[int, bytes]) -> Check:
    for index, value in sorted(expected.items()):
        actual = doc.pcrs.get(index)
        if actual is None:
            return Check("expected_pcrs", False, f"PCR{index} is not in the document")
        if actual != value:
            return Check(
                "expected_pcrs",
                False,
                f"PCR{index} is {actual.hex()[:16]}…, expected {bytes(value).hex()[:16]}…",
            )
    indices = ", ".join(f"PCR{i}" for i in sorted(expected))
    return Check("expected_pcrs", True, f"{indices or 'no PCRs'} equal the expected values")


def _check_expected_public_key(doc: AttestationDocument, expected: bytes) -> Check:
    if doc.public_key is None:
        return Check("expected_public_key", False, "the document carries no public key")
    if doc.public_key != expected:
        return Check(
            "expected_public_key",
            False,
            f"public key {doc.public_key.hex()[:16]}…, expected {bytes(expected).hex()[:16]}…",
        )
    return Check("expected_public_key", True, f"public key {expected.hex()[:16]}… as expected")


def _error_for(check: Check) -> AttestationError:
    message = f"{check.name}: {check.detail}"
    if check.name == "signature":
        return AttestationForged(message)
    if check.name in _CHAIN_CHECKS:
        return AttestationUntrusted(message, check=check.name)
    if check.name in _POLICY_CHECKS:
        return AttestationRefused(message, check=check.name)
    return AttestationMalformed(message, field=check.name)  # document, digest
