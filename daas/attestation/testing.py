"""Synthetic Nitro attestation documents: FOR TESTS AND DEVELOPMENT ONLY, never used on a production path.

A real attestation document comes only from the Nitro Secure Module inside an AWS enclave and is signed by AWS's
certificate chain; nothing here can produce one, none can be produced on our machines, and no real document may
be committed to this repository. Instead this module makes a chain shaped like AWS's (a root CA, intermediates,
a leaf; P-384 keys, ECDSA-SHA384, keyUsage and basicConstraints set as AWS sets them, a 3-hour leaf) and signs a
COSE_Sign1 document with the leaf key. A synthetic document verifies only against its own root, passed as
``root_der=``; against the pinned AWS root it fails the ``root`` and ``chain`` checks, as it must.

Use `make_document` for a valid document in one call. To break one rule at a time, start from `default_specs`,
change a `CertSpec` with `dataclasses.replace`, build with `make_chain`; or edit the payload map from
`document_fields` and sign it with `sign_document`; or assemble any COSE bytes with `encode_cose_sign1`.

The Sui stand-in's tests use this module too, to feed `load_nitro_attestation`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from daas.attestation import _cbor
from daas.attestation.nitro import ES384_PROTECTED_HEADER, SIGNATURE_BYTES

DEFAULT_TIME = dt.datetime(2025, 4, 15, 2, 25, 0, tzinfo=dt.UTC)
"""When synthetic documents are made unless told otherwise: fixed, and long past, like a replayed registration."""

ES384_PROTECTED = _cbor.encode(dict(ES384_PROTECTED_HEADER))
TEST_PUBLIC_KEY = bytes(range(32))  # stands in for the enclave's Ed25519 key
TEST_MODULE_ID = "i-0000000000000000-enc0000000000000000"


@dataclasses.dataclass(frozen=True)
class CertSpec:
    """How to make one certificate of a synthetic chain."""

    common_name: str
    not_before: dt.datetime
    not_after: dt.datetime
    ca: bool
    path_length: int | None = None
    basic_constraints: bool = True  # include the extension at all
    basic_constraints_critical: bool = True
    key_usage: bool = True  # include the extension at all
    digital_signature: bool = False
    key_cert_sign: bool = False


@dataclasses.dataclass(frozen=True)
class SyntheticChain:
    """Certificates (DER, root first, leaf last) and the leaf's private key."""

    certificates: tuple[bytes, ...]
    leaf_key: ec.EllipticCurvePrivateKey

    @property
    def root_der(self) -> bytes:
        return self.certificates[0]

    @property
    def leaf_der(self) -> bytes:
        return self.certificates[-1]

    @property
    def cabundle(self) -> list[bytes]:
        """The bundle as a document carries it: root first, then intermediates towards the leaf."""
        return list(self.certificates[:-1])


@dataclasses.dataclass(frozen=True)
class SyntheticDocument:
    """A signed synthetic document; verify it with ``root_der=document.root_der``."""

    raw: bytes
    root_der: bytes
    chain: SyntheticChain
    timestamp_ms: int


def default_specs(
    valid_at: dt.datetime = DEFAULT_TIME, *, intermediates: int = 3
) -> list[CertSpec]:
    """Specs for a chain shaped like AWS's, every certificate valid at ``valid_at``; root first, leaf last.

    AWS's intermediates are regional (~3 weeks, pathLen 2), zonal (~5 days, pathLen 1) and instance (~1 day,
    pathLen 0); the leaf lives 3 hours. With another number of intermediates the pathLens count down likewise.
    """
    at = valid_at.replace(microsecond=0)
    root = CertSpec(
        "synthetic.nitro-enclaves",
        at - dt.timedelta(days=365 * 5),
        at + dt.timedelta(days=365 * 25),
        ca=True,
        digital_signature=True,
        key_cert_sign=True,
    )
    middle = [
        CertSpec(
            f"intermediate-{j}.synthetic.nitro-enclaves",
            at - dt.timedelta(hours=1),
            at + dt.timedelta(days=max(1, 20 >> (2 * j))),
            ca=True,
            path_length=intermediates - 1 - j,
            digital_signature=True,
            key_cert_sign=True,
        )
        for j in range(intermediates)
    ]
    leaf = CertSpec(
        "i-0000000000000000-enc0000000000000000.synthetic",
        at - dt.timedelta(minutes=5),
        at - dt.timedelta(minutes=5) + dt.timedelta(hours=3),
        ca=False,
        digital_signature=True,
    )
    return [root, *middle, leaf]


def make_chain(
    specs: Sequence[CertSpec] | None = None, *, valid_at: dt.datetime = DEFAULT_TIME
) -> SyntheticChain:
    """Make a chain from ``specs`` (root first; default `default_specs(valid_at)`): each issued by the one before."""
    specs = list(specs) if specs is not None else default_specs(valid_at)
    if len(specs) < 2:
        raise ValueError("a chain needs at least a root and a leaf")
    keys = [ec.generate_private_key(ec.SECP384R1()) for _ in specs]
    certificates: list[x509.Certificate] = []
    for i, spec in enumerate(specs):
        issuer_index = max(i - 1, 0)  # the root signs itself
        issuer_name = _name(specs[issuer_index].common_name)
        certificates.append(
            _certificate(spec, keys[i].public_key(), issuer_name, keys[issuer_index])
        )
    return SyntheticChain(
        tuple(c.public_bytes(serialization.Encoding.DER) for c in certificates), keys[-1]
    )


def default_pcrs() -> dict[int, bytes]:
    """PCR0-15 of 48 bytes as an NSM reports them: 0-4 set (0 = 1, as Nautilus builds), 5-15 zero."""
    image = hashlib.sha384(b"daas synthetic enclave image").digest()
    pcrs = {i: bytes(48) for i in range(16)}
    pcrs[0] = pcrs[1] = image
    pcrs[2] = hashlib.sha384(
        bytes(48) + hashlib.sha384(b"").digest()
    ).digest()  # "no extra ramdisk"
    pcrs[3] = hashlib.sha384(b"synthetic parent role").digest()
    pcrs[4] = hashlib.sha384(b"synthetic parent instance").digest()
    return pcrs


def debug_pcrs() -> dict[int, bytes]:
    """PCR0-15 all zero, as a debug-mode enclave reports them."""
    return {i: bytes(48) for i in range(16)}


def document_fields(
    chain: SyntheticChain,
    *,
    timestamp_ms: int,
    pcrs: Mapping[int, bytes] | None = None,
    public_key: bytes | None = TEST_PUBLIC_KEY,
    user_data: bytes | None = None,
    nonce: bytes | None = None,
    module_id: str = TEST_MODULE_ID,
    digest: str = "SHA384",
) -> dict[str, object]:
    """The payload map of a document (keys in the NSM's order); edit it freely before `sign_document`."""
    return {
        "module_id": module_id,
        "digest": digest,
        "timestamp": timestamp_ms,
        "pcrs": dict(pcrs if pcrs is not None else default_pcrs()),
        "certificate": chain.leaf_der,
        "cabundle": chain.cabundle,
        "public_key": public_key,
        "user_data": user_data,
        "nonce": nonce,
    }


def sign_document(
    fields: Mapping[str, object],
    key: ec.EllipticCurvePrivateKey,
    *,
    protected: bytes = ES384_PROTECTED,
    tagged: bool = False,
) -> bytes:
    """CBOR-encode ``fields`` as the payload and sign it as an ES384 COSE_Sign1 with ``key``."""
    payload = _cbor.encode(dict(fields))
    return encode_cose_sign1(
        protected, payload, sign_payload(payload, key, protected=protected), tagged=tagged
    )


def sign_payload(
    payload: bytes, key: ec.EllipticCurvePrivateKey, *, protected: bytes = ES384_PROTECTED
) -> bytes:
    """The 96-byte ``r‖s`` ES384 signature over the COSE Sig_structure of ``payload``."""
    message = _cbor.encode(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA384())))
    half = SIGNATURE_BYTES // 2
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def encode_cose_sign1(
    protected: bytes,
    payload: bytes,
    signature: bytes,
    *,
    tagged: bool = False,
    unprotected: Mapping[object, object] | None = None,
) -> bytes:
    """Assemble COSE_Sign1 bytes from its parts, with no checks (so tests can assemble broken ones)."""
    body = _cbor.encode([protected, dict(unprotected or {}), payload, signature])
    return (b"\xd2" + body) if tagged else body  # 0xd2: CBOR tag 18


def make_document(
    *,
    chain: SyntheticChain | None = None,
    timestamp_ms: int | None = None,
    pcrs: Mapping[int, bytes] | None = None,
    public_key: bytes | None = TEST_PUBLIC_KEY,
    user_data: bytes | None = None,
    nonce: bytes | None = None,
    tagged: bool = False,
) -> SyntheticDocument:
    """A valid synthetic document; by default made at `DEFAULT_TIME` with a fresh chain valid then."""
    if timestamp_ms is None:
        timestamp_ms = int(DEFAULT_TIME.timestamp() * 1000)
    if chain is None:
        chain = make_chain(valid_at=dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC))
    fields = document_fields(
        chain,
        timestamp_ms=timestamp_ms,
        pcrs=pcrs,
        public_key=public_key,
        user_data=user_data,
        nonce=nonce,
    )
    raw = sign_document(fields, chain.leaf_key, tagged=tagged)
    return SyntheticDocument(raw, chain.root_der, chain, timestamp_ms)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DaaS synthetic"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "test only"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    spec: CertSpec,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(spec.common_name))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if spec.basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length),
            critical=spec.basic_constraints_critical,
        )
    if spec.key_usage:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=spec.digital_signature,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=spec.key_cert_sign,
                crl_sign=spec.ca and spec.key_cert_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(issuer_key, hashes.SHA384())
