#!/usr/bin/env python3
"""Regenerates the constants pinned in `move/tests/*.move`, from the Python codecs in `daas.chain.codecs`.

Move cannot sign, and the Move tests cannot be run here, so every value a Move test compares against
(signatures, object ids created inside `sui::test_scenario`, the BCS of objects and events) is computed
by this script. The same bytes therefore pin both halves of the contract: if a Move layout and its Python
codec ever drift apart, `sui move test` fails on the BCS comparisons.

    python move/tests/gen_vectors.py            # print every constant as a Move `const` line
    python move/tests/gen_vectors.py --check    # compare with the constants in move/tests/*.move

Object ids in `test_scenario`
-----------------------------
`test_scenario::begin` and `next_tx` give transaction number `n` the dummy digest
`tx_context::dummy_tx_hash_with_hint(n)` = `bcs(n as u64)` padded with zeros to 32 bytes, and reset the
id counter to 0. `object::new` takes the next id from the (native) transaction context:
`ObjectID::derive_id(digest, ids_created)` = `blake2b256(0xf1 || digest || u64_le(ids_created))`, where
0xf1 is `HashingIntentScope::RegularObjectId` (`crates/sui-types/src/base_types.rs`,
`crates/shared-crypto/src/intent.rs`, `sui-execution/latest/sui-move-natives/src/tx_context.rs`).
So the k-th object (from 0) created in transaction n has id `object_id(n, k)` below.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from daas.chain.bcs import U64, String, Struct  # noqa: E402
from daas.chain.codecs import (  # noqa: E402
    BuildCancelled,
    BuildFailed,
    BuildFailedPayload,
    BuildRequested,
    BuildRequestObject,
    BuildResult,
    BuildSpec,
    BuildSucceeded,
    BuildSucceededPayload,
    EnclaveConfigObject,
    EnclaveDestroyed,
    EnclaveObject,
    EnclaveRegistered,
    IntentMessage,
    PcrsUpdated,
    RegistryObject,
    RegistryUpdated,
    signing_message,
)

TESTS = Path(__file__).resolve().parent


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


# --- keys: RFC 8032 section 7.1, tests 1 and 2 ----------------------------------------------------------------

RFC1_SK = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC2_SK = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")


def keypair(secret: bytes) -> tuple[Ed25519PrivateKey, bytes]:
    sk = Ed25519PrivateKey.from_private_bytes(secret)
    return sk, sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


RFC1, RFC_PK = keypair(RFC1_SK)
_, OPERATOR_PK = keypair(RFC2_SK)


def object_id(tx: int, created: int) -> str:
    """Id of the `created`-th object (from 0) made in test_scenario transaction `tx`."""
    digest = struct.pack("<Q", tx) + bytes(24)  # tx_context::dummy_tx_hash_with_hint(tx)
    preimage = bytes([0xF1]) + digest + struct.pack("<Q", created)
    return "0x" + hashlib.blake2b(preimage, digest_size=32).hexdigest()


def addr(short: int) -> str:
    return "0x" + format(short, "064x")


# --- inputs (must equal the Move test constants of the same name) -------------------------------------------

ADMIN = addr(0xAD)
USER = addr(0xB0B)
PAYEE = addr(0xFEE)
OPERATOR = addr(0x0E0)
FEE = 25_000_000
T_CREATE = 1_766_999_000_000
BUILD_TIMEOUT_MS = 3_600_000
DEADLINE = T_CREATE + BUILD_TIMEOUT_MS
T_RESULT = 1_767_000_000_000
MIN_FEE = 10_000_000
SOURCE_SHA256 = bytes(range(32))
IMAGE_DIGEST = bytes.fromhex("05b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f")
LOG_DIGEST = bytes.fromhex("836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213")
ZERO_PCR = bytes(48)
PCR0 = bytes.fromhex(
    "cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2"
)
PCR1 = PCR0  # one ramdisk: PCR1 == PCR0 in Nautilus-style images
PCR2 = bytes.fromhex(
    "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a"
)
ATTESTATION = bytes.fromhex("8444a1013822a0")  # not a real document: stored verbatim for audit
ATTESTATION_TS = 1_744_684_007_462
READING_TS = 1_744_038_900_000

SPEC = BuildSpec("blob-abc", SOURCE_SHA256, "Dockerfile", "linux/amd64")
SPEC_DIGEST = SPEC.digest()

# --- object ids inside the scenarios -------------------------------------------------------------------------
# builds_tests::setup: tx 0 runs init (config, registry, admin cap, then the clock), tx 1 registers the
# debug enclave, tx 2 mints the payment coin (id 0) and calls request_build (id 1).
# enclave_tests: tx 0 creates the config; tx 1 registers a debug enclave or updates the PCRs; tx 2
# registers the attested enclave.
CONFIG_ID = object_id(0, 0)
REGISTRY_ID = object_id(0, 1)
ENCLAVE_ID = object_id(1, 0)
REQUEST_ID = object_id(2, 1)
ATTESTED_ENCLAVE_ID = object_id(2, 0)
VECTOR_REQUEST_ID = "0x" + "ab" * 32


def succeeded_payload(request_id: str) -> BuildSucceededPayload:
    return BuildSucceededPayload(
        request_id, SPEC_DIGEST, IMAGE_DIGEST, "index-blob", LOG_DIGEST, "log-blob"
    )


def failed_payload(request_id: str, code: int) -> BuildFailedPayload:
    return BuildFailedPayload(request_id, SPEC_DIGEST, code, LOG_DIGEST, "log-blob")


@dataclasses.dataclass(frozen=True)
class Reading(Struct):
    """Nautilus's weather payload `{ location: String, temperature: u64 }` (its enclave.move test_serde)."""

    location: str
    temperature: int

    __bcs__ = (("location", String), ("temperature", U64))


def sign(message: bytes) -> bytes:
    return RFC1.sign(message)


def compute() -> dict[str, object]:
    """Every pinned constant, by its Move name: bytes (vector<u8>), str (address) or int (u64)."""
    out: dict[str, object] = {
        # inputs
        "ADMIN": ADMIN,
        "USER": USER,
        "PAYEE": PAYEE,
        "OPERATOR": OPERATOR,
        "FEE": FEE,
        "T_CREATE": T_CREATE,
        "T_RESULT": T_RESULT,
        "BUILD_TIMEOUT_MS": BUILD_TIMEOUT_MS,
        "DEADLINE": DEADLINE,
        "RFC_PK": RFC_PK,
        "OPERATOR_PK": OPERATOR_PK,
        "SOURCE_SHA256": SOURCE_SHA256,
        "IMAGE_DIGEST": IMAGE_DIGEST,
        "LOG_DIGEST": LOG_DIGEST,
        "PCR0": PCR0,
        "PCR1": PCR1,
        "PCR2": PCR2,
        "ZERO_PCR": ZERO_PCR,
        "ATTESTATION": ATTESTATION,
        "ATTESTATION_TS": ATTESTATION_TS,
        # derived
        "SPEC_DIGEST": SPEC_DIGEST,
        "CONFIG_ID": CONFIG_ID,
        "REGISTRY_ID": REGISTRY_ID,
        "ENCLAVE_ID": ENCLAVE_ID,
        "REQUEST_ID": REQUEST_ID,
        "ATTESTED_ENCLAVE_ID": ATTESTED_ENCLAVE_ID,
        "TX2_FIRST_ID": object_id(2, 0),
    }

    # Signatures over the scenario's request (builds_tests).
    out["SIG_SUCCEEDED"] = sign(signing_message(succeeded_payload(REQUEST_ID), T_RESULT))
    out["SIG_FAILED_110"] = sign(signing_message(failed_payload(REQUEST_ID, 110), T_RESULT))
    out["SIG_FAILED_201"] = sign(signing_message(failed_payload(REQUEST_ID, 201), T_RESULT))
    # Signed at the request's own creation time: the lower edge of the accepted timestamp window.
    out["SIG_SUCCEEDED_AT_CREATE"] = sign(signing_message(succeeded_payload(REQUEST_ID), T_CREATE))

    # Cross-language vectors (vectors_tests).
    reading = IntentMessage(0, READING_TS, Reading("San Francisco", 13)).to_bcs()
    out["NAUTILUS_MESSAGE"] = reading
    out["SIG_READING"] = sign(reading)
    out["SPEC_BCS"] = SPEC.to_bcs()
    out["VECTOR_REQUEST_ID"] = VECTOR_REQUEST_ID
    succeeded = signing_message(succeeded_payload(VECTOR_REQUEST_ID), T_RESULT)
    failed = signing_message(failed_payload(VECTOR_REQUEST_ID, 110), T_RESULT)
    out["SUCCEEDED_MESSAGE"] = succeeded
    out["SUCCEEDED_SIGNATURE"] = sign(succeeded)
    out["FAILED_MESSAGE"] = failed
    out["FAILED_SIGNATURE"] = sign(failed)

    # Objects and events of the builds_tests scenario.
    out["REGISTRY_UPDATED_AT_INIT"] = RegistryUpdated(
        REGISTRY_ID, ADMIN, MIN_FEE, BUILD_TIMEOUT_MS, False, CONFIG_ID, False
    ).to_bcs()
    out["REGISTRY_AFTER_SETUP"] = RegistryObject(
        REGISTRY_ID, 1, PAYEE, MIN_FEE, BUILD_TIMEOUT_MS, False, CONFIG_ID, True
    ).to_bcs()
    out["CONFIG_AT_INIT"] = EnclaveConfigObject(
        CONFIG_ID, "daas-runner", ZERO_PCR, ZERO_PCR, ZERO_PCR, 0
    ).to_bcs()
    out["DEBUG_ENCLAVE_OBJECT"] = EnclaveObject(
        ENCLAVE_ID, CONFIG_ID, 0, RFC_PK, ADMIN, True, b"", 0
    ).to_bcs()
    out["DEBUG_ENCLAVE_REGISTERED"] = EnclaveRegistered(
        ENCLAVE_ID, CONFIG_ID, 0, RFC_PK, b"", b"", b"", 0, ADMIN, True
    ).to_bcs()
    out["BUILD_REQUESTED"] = BuildRequested(
        REQUEST_ID,
        USER,
        SPEC.source_blob_id,
        SPEC.source_sha256,
        SPEC.dockerfile_path,
        SPEC.platform,
        SPEC_DIGEST,
        FEE,
        T_CREATE,
        DEADLINE,
    ).to_bcs()
    out["REQUEST_PENDING"] = BuildRequestObject(
        REQUEST_ID, USER, SPEC, SPEC_DIGEST, FEE, FEE, 0, T_CREATE, DEADLINE, None
    ).to_bcs()
    out["BUILD_SUCCEEDED"] = BuildSucceeded(
        REQUEST_ID,
        USER,
        ENCLAVE_ID,
        RFC_PK,
        0,
        SPEC_DIGEST,
        IMAGE_DIGEST,
        "index-blob",
        LOG_DIGEST,
        "log-blob",
        T_RESULT,
        out["SIG_SUCCEEDED"],  # type: ignore[arg-type]
        FEE,
        PAYEE,
    ).to_bcs()
    out["REQUEST_SUCCEEDED"] = BuildRequestObject(
        REQUEST_ID,
        USER,
        SPEC,
        SPEC_DIGEST,
        0,
        FEE,
        1,
        T_CREATE,
        DEADLINE,
        BuildResult(
            ENCLAVE_ID,
            True,
            IMAGE_DIGEST,
            "index-blob",
            LOG_DIGEST,
            "log-blob",
            0,
            T_RESULT,
            out["SIG_SUCCEEDED"],  # type: ignore[arg-type]
        ),
    ).to_bcs()
    for code, paid, refunded in ((110, FEE, 0), (201, 0, FEE)):
        out[f"BUILD_FAILED_{code}"] = BuildFailed(
            REQUEST_ID,
            USER,
            ENCLAVE_ID,
            RFC_PK,
            0,
            SPEC_DIGEST,
            code,
            LOG_DIGEST,
            "log-blob",
            T_RESULT,
            out[f"SIG_FAILED_{code}"],  # type: ignore[arg-type]
            paid,
            refunded,
        ).to_bcs()
    out["REQUEST_FAILED_201"] = BuildRequestObject(
        REQUEST_ID,
        USER,
        SPEC,
        SPEC_DIGEST,
        0,
        FEE,
        2,
        T_CREATE,
        DEADLINE,
        BuildResult(
            ENCLAVE_ID,
            False,
            b"",
            "",
            LOG_DIGEST,
            "log-blob",
            201,
            T_RESULT,
            out["SIG_FAILED_201"],  # type: ignore[arg-type]
        ),
    ).to_bcs()
    out["BUILD_CANCELLED"] = BuildCancelled(REQUEST_ID, USER, FEE, DEADLINE + 1).to_bcs()

    # Objects and events of the enclave_tests scenarios.
    out["PCRS_UPDATED"] = PcrsUpdated(CONFIG_ID, 1, PCR0, PCR1, PCR2).to_bcs()
    out["ATTESTED_ENCLAVE_REGISTERED"] = EnclaveRegistered(
        ATTESTED_ENCLAVE_ID,
        CONFIG_ID,
        1,
        OPERATOR_PK,
        PCR0,
        PCR1,
        PCR2,
        ATTESTATION_TS,
        OPERATOR,
        False,
    ).to_bcs()
    out["ATTESTED_ENCLAVE_OBJECT"] = EnclaveObject(
        ATTESTED_ENCLAVE_ID, CONFIG_ID, 1, OPERATOR_PK, OPERATOR, False, ATTESTATION, ATTESTATION_TS
    ).to_bcs()
    out["ENCLAVE_DESTROYED"] = EnclaveDestroyed(ENCLAVE_ID, CONFIG_ID).to_bcs()
    return out


# The vectors the brief fixed before this script existed: recomputing them guards the codecs themselves.
ANCHORS = {
    "NAUTILUS_MESSAGE": "0020b1d110960100000d53616e204672616e636973636f0d00000000000000",
    "SPEC_BCS": "08626c6f622d61626320000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "0a446f636b657266696c650b6c696e75782f616d643634",
    "SPEC_DIGEST": "9b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e",
    "SUCCEEDED_MESSAGE": "01004668699b010000"
    + "ab" * 32
    + "209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e"
    "2005b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f0a696e6465782d626c6f62"
    "20836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62",
    "SUCCEEDED_SIGNATURE": "023c82db5db2241c286fee85f357cbba740729c74650aba08bafdba0f52eafbf"
    "efc78bb726abed1154d441dc836857d065e44a35bc589e825dcd5eda6075a80e",
    "FAILED_MESSAGE": "02004668699b010000"
    + "ab" * 32
    + "209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e6e00"
    "20836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62",
    "FAILED_SIGNATURE": "c50971323288376c3f4e1a46011b961b21995330a81f110195da6e2354c6b708"
    "d84afa4712a8f96da940f6dfb743e46a6648389bc47e7797ab1592a97d285f01",
    "RFC_PK": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    # test_scenario ids seen in other projects' passing tests (e.g. MystenLabs/seal): tx 0, 1, 2, id 0.
    "CONFIG_ID": "0x034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96",
    "ENCLAVE_ID": "0xd726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d3",
    "TX2_FIRST_ID": "0xdba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97",
}


def move_literal(value: object) -> tuple[str, str]:
    if isinstance(value, bytes):
        return "vector<u8>", f'x"{value.hex()}"'
    if isinstance(value, str):
        return "address", "@" + value
    if isinstance(value, int):
        return "u64", f"{value:_}"
    raise TypeError(value)


def normalize(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return value.lower()
    return str(value)


_CONST = re.compile(r"const\s+([A-Z0-9_]+)\s*:\s*([^=]+?)\s*=\s*(.+?);", re.S)


def parse_move_literal(text: str) -> str | None:
    text = re.sub(r"\s+", "", text)
    if m := re.fullmatch(r'x"([0-9a-fA-F]*)"', text):
        return m.group(1).lower()
    if m := re.fullmatch(r'b"([^"\\]*)"', text):
        return m.group(1).encode().hex()
    if m := re.fullmatch(r"@0x([0-9a-fA-F]+)", text):
        return "0x" + m.group(1).lower().rjust(64, "0")
    if re.fullmatch(r"[0-9_]+", text):
        return str(int(text.replace("_", "")))
    return None


def check(values: dict[str, object]) -> int:
    problems = 0
    seen: set[str] = set()
    for path in sorted(TESTS.glob("*.move")):
        for m in _CONST.finditer(path.read_text()):
            name, literal = m.group(1), m.group(3)
            if name not in values:
                continue
            seen.add(name)
            got = parse_move_literal(literal)
            want = normalize(values[name])
            if got != want:
                problems += 1
                say(f"{path.name}: {name} = {got} but the codecs give {want}")
    for name in sorted(set(values) - seen):
        say(f"note: {name} is not pinned in any move/tests/*.move file")
    say("all pinned constants match" if not problems else f"{problems} mismatch(es)")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare with move/tests/*.move")
    args = parser.parse_args()
    values = compute()
    for name, want in ANCHORS.items():
        got = normalize(values[name])
        if got != want:
            say(f"anchor {name} changed: {got} != {want}")
            return 1
    if args.check:
        return check(values)
    for name, value in values.items():
        move_type, literal = move_literal(value)
        say(f"const {name}: {move_type} = {literal};")
    return 0


if __name__ == "__main__":
    sys.exit(main())
