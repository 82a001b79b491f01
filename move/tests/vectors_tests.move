// SPDX-License-Identifier: Apache-2.0

/// Cross-language test vectors: the same bytes are pinned in `tests/chain/test_codecs.py` (Python codecs)
/// and recomputed by `move/tests/gen_vectors.py`. A failure here means the Move layouts and
/// `daas/chain/codecs.py` disagree, so an enclave signature made off chain would not verify on chain.
#[test_only]
module daas::vectors_tests;

use daas::builds;
use daas::enclave;
use std::bcs;
use std::hash;
use std::string::{Self, String};
use sui::ed25519;
use sui::test_scenario;

#[allow(unused_field)]
/// Nautilus's weather payload (its `enclave.move` `test_serde`).
public struct Reading has copy, drop {
    location: String,
    temperature: u64,
}

/// `IntentMessage { intent: 0, timestamp_ms: 1744038900000, payload: { "San Francisco", 13 } }`.
const NAUTILUS_MESSAGE: vector<u8> =
    x"0020b1d110960100000d53616e204672616e636973636f0d00000000000000";

/// `BuildSpec { "blob-abc", bytes 0..31, "Dockerfile", "linux/amd64" }` and its sha256.
const SOURCE_SHA256: vector<u8> =
    x"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const SPEC_BCS: vector<u8> =
    x"08626c6f622d61626320000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0a446f636b657266696c650b6c696e75782f616d643634";
const SPEC_DIGEST: vector<u8> = x"9b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e";

const IMAGE_DIGEST: vector<u8> =
    x"05b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f";
const LOG_DIGEST: vector<u8> = x"836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213";
const T_RESULT: u64 = 1_767_000_000_000;
const VECTOR_REQUEST_ID: address =
    @0xabababababababababababababababababababababababababababababababab;
const RFC_PK: vector<u8> = x"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// Intent 1 over `VECTOR_REQUEST_ID`, `SPEC_DIGEST`, `IMAGE_DIGEST`, "index-blob", `LOG_DIGEST`, "log-blob".
const SUCCEEDED_MESSAGE: vector<u8> =
    x"01004668699b010000abababababababababababababababababababababababababababababababab209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e2005b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f0a696e6465782d626c6f6220836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62";
const SUCCEEDED_SIGNATURE: vector<u8> =
    x"023c82db5db2241c286fee85f357cbba740729c74650aba08bafdba0f52eafbfefc78bb726abed1154d441dc836857d065e44a35bc589e825dcd5eda6075a80e";
/// Intent 2 over `VECTOR_REQUEST_ID`, `SPEC_DIGEST`, 110, `LOG_DIGEST`, "log-blob".
const FAILED_MESSAGE: vector<u8> =
    x"02004668699b010000abababababababababababababababababababababababababababababababab209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e6e0020836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62";
const FAILED_SIGNATURE: vector<u8> =
    x"c50971323288376c3f4e1a46011b961b21995330a81f110195da6e2354c6b708d84afa4712a8f96da940f6dfb743e46a6648389bc47e7797ab1592a97d285f01";

/// Ids of objects created in `test_scenario` (gen_vectors.py `object_id(tx, k)`).
const CONFIG_ID: address = @0x034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96;
const ENCLAVE_ID: address = @0xd726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d3;
const TX2_FIRST_ID: address = @0xdba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97;
const REQUEST_ID: address = @0x01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a2564;

fun vector_spec(): builds::BuildSpec {
    builds::new_spec(
        string::utf8(b"blob-abc"),
        SOURCE_SHA256,
        string::utf8(b"Dockerfile"),
        string::utf8(b"linux/amd64"),
    )
}

#[test]
fun nautilus_intent_message() {
    let message = enclave::intent_message_bytes(
        0,
        1_744_038_900_000,
        Reading { location: string::utf8(b"San Francisco"), temperature: 13 },
    );
    assert!(message == NAUTILUS_MESSAGE, 0);
}

#[test]
fun build_spec_bcs_and_digest() {
    let spec = vector_spec();
    assert!(bcs::to_bytes(&spec) == SPEC_BCS, 0);
    assert!(hash::sha2_256(SPEC_BCS) == SPEC_DIGEST, 1);
    assert!(builds::spec_digest(&spec) == SPEC_DIGEST, 2);
}

#[test]
fun succeeded_message_and_signature() {
    let message = builds::succeeded_message(
        object::id_from_address(VECTOR_REQUEST_ID),
        SPEC_DIGEST,
        IMAGE_DIGEST,
        string::utf8(b"index-blob"),
        LOG_DIGEST,
        string::utf8(b"log-blob"),
        T_RESULT,
    );
    assert!(message == SUCCEEDED_MESSAGE, 0);
    let signature = SUCCEEDED_SIGNATURE;
    let pk = RFC_PK;
    assert!(ed25519::ed25519_verify(&signature, &pk, &message), 1);
}

#[test]
fun failed_message_and_signature() {
    let message = builds::failed_message(
        object::id_from_address(VECTOR_REQUEST_ID),
        SPEC_DIGEST,
        110,
        LOG_DIGEST,
        string::utf8(b"log-blob"),
        T_RESULT,
    );
    assert!(message == FAILED_MESSAGE, 0);
    let signature = FAILED_SIGNATURE;
    let pk = RFC_PK;
    assert!(ed25519::ed25519_verify(&signature, &pk, &message), 1);
}

#[test]
fun a_signature_binds_its_intent_and_payload() {
    let pk = RFC_PK;
    let succeeded = SUCCEEDED_MESSAGE;
    let failed = FAILED_MESSAGE;
    assert!(!ed25519::ed25519_verify(&SUCCEEDED_SIGNATURE, &pk, &failed), 0);
    assert!(!ed25519::ed25519_verify(&FAILED_SIGNATURE, &pk, &succeeded), 1);
    // Another request id, same everything else.
    let other = builds::succeeded_message(
        object::id_from_address(@0xAC),
        SPEC_DIGEST,
        IMAGE_DIGEST,
        string::utf8(b"index-blob"),
        LOG_DIGEST,
        string::utf8(b"log-blob"),
        T_RESULT,
    );
    assert!(!ed25519::ed25519_verify(&SUCCEEDED_SIGNATURE, &pk, &other), 2);
}

#[test]
fun test_scenario_ids_are_derived_as_gen_vectors_assumes() {
    // test_scenario gives transaction n the digest bcs(n as u64) padded with zeros to 32 bytes and
    // resets the counter; object::new yields blake2b256(0xf1 || digest || u64_le(counter)).
    let mut scenario = test_scenario::begin(@0xAD);
    let first = scenario.new_object();
    assert!(object::uid_to_inner(&first) == object::id_from_address(CONFIG_ID), 0);
    object::delete(first);

    scenario.next_tx(@0xAD);
    let second = scenario.new_object();
    assert!(object::uid_to_inner(&second) == object::id_from_address(ENCLAVE_ID), 1);
    object::delete(second);

    scenario.next_tx(@0xB0B);
    let third = scenario.new_object();
    let fourth = scenario.new_object();
    assert!(object::uid_to_inner(&third) == object::id_from_address(TX2_FIRST_ID), 2);
    assert!(object::uid_to_inner(&fourth) == object::id_from_address(REQUEST_ID), 3);
    object::delete(third);
    object::delete(fourth);
    scenario.end();
}
