"""Enclave attestation: verification of AWS Nitro attestation documents (`nitro`).

The enclave keys that sign build results are in `attestor` (the `Attestor` Protocol, `LocalKeyAttestor`,
`NitroAttestor`), the Nitro Secure Module client in `nsm`, and getting a key registered on chain in
`registration`; import them from there (they are not re-exported, to keep this package cheap to import).

Test and development helpers that make synthetic documents live in `daas.attestation.testing`; production code
never imports them.
"""

from __future__ import annotations

from daas.attestation.nitro import (
    AWS_NITRO_ROOT_SHA256,
    CHECK_NAMES,
    AttestationDocument,
    Check,
    VerifiedDocument,
    check_document,
    parse_document,
    parse_document_hex,
    pinned_root_der,
    sui_visible_pcrs,
    verify_document,
)

__all__ = [
    "AWS_NITRO_ROOT_SHA256",
    "CHECK_NAMES",
    "AttestationDocument",
    "Check",
    "VerifiedDocument",
    "check_document",
    "parse_document",
    "parse_document_hex",
    "pinned_root_der",
    "sui_visible_pcrs",
    "verify_document",
]
