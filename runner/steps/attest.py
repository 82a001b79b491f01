"""Attesting: the result payload the enclave signs, signed, and the `complete` / `fail` call that carries it.

The payload binds the request id and the spec digest; the runner recomputes the digest from the spec it
built and refuses a row whose stored digest differs (the chain would refuse the signature anyway). The
signed timestamp is the runner's clock, but never before the request's creation (`complete` and `fail`
require `created_at_ms <= timestamp_ms <= chain clock + 60 s`). The signature is checked with the public key
before it leaves, so a misconfigured attestor fails here and not as an on-chain abort.
"""

from __future__ import annotations

from daas.attestation.attestor import Attestor, sign_result, verify_result
from daas.chain.codecs import BuildFailedPayload, BuildSpec, BuildSucceededPayload
from daas.chain.transactions import DaasPackage
from daas.db.models import Build, now_ms
from daas.errors import BuildFailureCode, InfrastructureFault
from daas.image.oci import digest_hex
from runner.outcome import SignedResult
from runner.steps.export import StoredArtifact

__all__ = ["sign_failure", "sign_success", "spec_digest_of"]


def spec_digest_of(build: Build) -> bytes:
    """`sha256(bcs(BuildSpec))` of the build's spec, checked against the digest the chain computed."""
    spec = BuildSpec(
        build.source_blob_id,
        bytes.fromhex(build.source_sha256),
        build.dockerfile_path,
        build.platform,
    )
    digest = spec.digest()
    if digest.hex() != build.spec_digest:
        raise InfrastructureFault(
            BuildFailureCode.INTERNAL,
            f"the stored spec of {build.request_id} hashes to {digest.hex()}, "
            f"not to its recorded spec digest {build.spec_digest}",
        )
    return digest


def _timestamp(build: Build) -> int:
    return max(now_ms(), build.created_at_ms)


def _signed(
    attestor: Attestor,
    payload: BuildSucceededPayload | BuildFailedPayload,
    timestamp_ms: int,
    call_of: DaasPackage,
    enclave_id: str,
) -> SignedResult:
    signature = sign_result(attestor, payload, timestamp_ms)
    if not verify_result(attestor.public_key, payload, timestamp_ms, signature):
        raise InfrastructureFault(
            BuildFailureCode.INTERNAL, "the attestor's signature does not verify with its own key"
        )
    if isinstance(payload, BuildSucceededPayload):
        call = call_of.complete(
            payload.request_id,
            enclave_id,
            image_digest=payload.image_digest,
            image_index_blob_id=payload.image_index_blob_id,
            log_digest=payload.log_digest,
            log_blob_id=payload.log_blob_id,
            timestamp_ms=timestamp_ms,
            signature=signature,
        )
    else:
        call = call_of.fail(
            payload.request_id,
            enclave_id,
            error_code=payload.error_code,
            log_digest=payload.log_digest,
            log_blob_id=payload.log_blob_id,
            timestamp_ms=timestamp_ms,
            signature=signature,
        )
    return SignedResult(payload, timestamp_ms, signature, call)


def sign_success(
    attestor: Attestor,
    package: DaasPackage,
    enclave_id: str,
    build: Build,
    *,
    manifest_digest: str,
    index_blob_id: str,
    log: StoredArtifact,
) -> SignedResult:
    payload = BuildSucceededPayload(
        request_id=build.request_id,
        spec_digest=spec_digest_of(build),
        image_digest=bytes.fromhex(digest_hex(manifest_digest)),
        image_index_blob_id=index_blob_id,
        log_digest=log.sha256,
        log_blob_id=log.blob_id,
    )
    return _signed(attestor, payload, _timestamp(build), package, enclave_id)


def sign_failure(
    attestor: Attestor,
    package: DaasPackage,
    enclave_id: str,
    build: Build,
    *,
    code: BuildFailureCode,
    log: StoredArtifact,
) -> SignedResult:
    payload = BuildFailedPayload(
        request_id=build.request_id,
        spec_digest=spec_digest_of(build),
        error_code=int(code),
        log_digest=log.sha256,
        log_blob_id=log.blob_id,
    )
    return _signed(attestor, payload, _timestamp(build), package, enclave_id)
