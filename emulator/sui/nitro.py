"""The native `0x2::nitro_attestation::load_nitro_attestation`, backed by `daas.attestation.nitro`.

On chain the native parses the COSE document and verifies its signature and certificate chain against the AWS
Nitro root at the Clock's time, aborting in module `nitro_attestation` with `EParseError` (1) or
`EVerifyError` (2). It does not judge the PCRs: debug-mode (all-zero) PCRs load fine, and it is our Move
code that refuses them. The node's root certificate is configurable so tests can use a synthetic chain.
"""

from __future__ import annotations

from collections.abc import Callable

from daas.attestation.nitro import pinned_root_der, sui_visible_pcrs, verify_document
from daas.errors import AttestationError, AttestationMalformed
from emulator.sui.types import NitroDocument

E_PARSE_ERROR = 1
E_VERIFY_ERROR = 2
NATIVE_FUNCTION = "load_nitro_attestation_internal"  # where the real native reports its aborts

NitroLoader = Callable[[bytes, int], NitroDocument]


class NitroAbort(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def nitro_loader(root_der: bytes | None = None) -> NitroLoader:
    """A loader trusting `root_der` (default: the pinned AWS Nitro root)."""
    root = root_der if root_der is not None else pinned_root_der()

    def load(document: bytes, clock_ms: int) -> NitroDocument:
        try:
            verified = verify_document(document, root_der=root, at_ms=clock_ms, allow_debug=True)
        except AttestationMalformed as exc:
            raise NitroAbort(E_PARSE_ERROR, str(exc)) from exc
        except AttestationError as exc:
            raise NitroAbort(E_VERIFY_ERROR, str(exc)) from exc
        return NitroDocument(
            module_id=verified.module_id,
            timestamp_ms=verified.timestamp_ms,
            digest=verified.digest,
            pcrs=sui_visible_pcrs(verified.pcrs),
            public_key=verified.public_key,
            user_data=verified.user_data,
            nonce=verified.nonce,
        )

    return load
