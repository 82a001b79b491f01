// SPDX-License-Identifier: Apache-2.0

/// Tests of `daas::builds`: every public function, every abort path of the docs table, and the
/// happy paths with real Ed25519 signatures.
///
/// Move cannot sign, so the signatures are precomputed by `move/tests/gen_vectors.py` with the RFC 8032
/// test-1 key, over messages that contain the request id. That id is deterministic inside
/// `test_scenario` (see `REQUEST_ID`); the tests that rely on it assert it first. The same script computes
/// the BCS of every object and event compared below with the Python codecs (`daas/chain/codecs.py`), so
/// a layout drift on either side fails here. Regenerate with `python move/tests/gen_vectors.py` and check
/// with `--check`.
#[test_only]
module daas::builds_tests;

use daas::builds::{
    Self,
    AdminCap,
    BuildCancelled,
    BuildFailed,
    BuildRequest,
    BuildRequested,
    BuildSucceeded,
    Registry,
    RegistryUpdated,
};
use daas::enclave::{Self, Enclave, EnclaveConfig, EnclaveRegistered, PcrsUpdated};
use std::bcs;
use std::string;
use sui::clock::{Self, Clock};
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::test_scenario::{Self, Scenario};

// === Actors ===

const ADMIN: address = @0xAD;
const USER: address = @0xB0B;
const PAYEE: address = @0xFEE;
const RELAYER: address = @0xBEEF;
const STRANGER: address = @0xCAFE;

// === Inputs ===

const FEE: u64 = 25_000_000;
const T_CREATE: u64 = 1_766_999_000_000;
const BUILD_TIMEOUT_MS: u64 = 3_600_000;
const DEADLINE: u64 = 1_767_002_600_000;
const T_RESULT: u64 = 1_767_000_000_000;
const DEFAULT_MIN_FEE: u64 = 10_000_000;
const MAX_CLOCK_SKEW_MS: u64 = 60_000;

const PENDING: u8 = 0;
const SUCCEEDED: u8 = 1;
const FAILED: u8 = 2;
const CANCELLED: u8 = 3;

const RFC_PK: vector<u8> = x"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const SOURCE_SHA256: vector<u8> =
    x"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const SPEC_DIGEST: vector<u8> = x"9b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e";
const IMAGE_DIGEST: vector<u8> =
    x"05b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f";
const LOG_DIGEST: vector<u8> = x"836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213";
const PCR0: vector<u8> =
    x"cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2";
const PCR1: vector<u8> =
    x"cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2";
const PCR2: vector<u8> =
    x"21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";
const ZERO_PCR: vector<u8> =
    x"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

// === Deterministic ids (gen_vectors.py) ===
//
// `test_scenario` gives transaction n the digest `bcs(n as u64)` padded with zeros to 32 bytes and
// resets the id counter; `object::new` derives `blake2b256(0xf1 || digest || u64_le(count))`
// (`ObjectID::derive_id` in sui-types). `setup` runs `init` in tx 0 (config = object 0, registry =
// object 1) and registers the debug enclave in tx 1 (object 0); `request` mints the payment coin
// (object 0) and creates the request (object 1) in tx 2.

const CONFIG_ID: address = @0x034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96;
const REGISTRY_ID: address = @0xa4137e2ed945e7f4e8c307001c32e97472fb3eebb8f7b4ab7534b447d22da89b;
const ENCLAVE_ID: address = @0xd726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d3;
const REQUEST_ID: address = @0x01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a2564;

// === Signatures by the RFC 8032 test-1 key over messages about REQUEST_ID (gen_vectors.py) ===

/// Intent 1, T_RESULT, image IMAGE_DIGEST / "index-blob", log LOG_DIGEST / "log-blob".
const SIG_SUCCEEDED: vector<u8> =
    x"765d5109fbed3f1edea35928ea14af79a1e11d4be8c8bf3bd8b5f33e50363e5862d769186e64192969579873ed6cd003e733bd800e43ea449ce36f93e0472408";
/// The same, signed at T_CREATE (the earliest accepted timestamp).
const SIG_SUCCEEDED_AT_CREATE: vector<u8> =
    x"e5c0d39bc2f643fd80124abfa62667fe93f8ceba942128bb691f3c57e52c3cd1af9630c6f2fc3c9728dfbce07474db5ccf65e251e22ea8369055c2e3fae66403";
/// Intent 2, T_RESULT, error code 110, log LOG_DIGEST / "log-blob".
const SIG_FAILED_110: vector<u8> =
    x"512bc215513ec536124dc8c11b8cf7afa3cb2d38f19be09d832cedceda3436daf2bd231278261ead0957479d722c313203851fe826eb3a1dc59eb44fa785ec05";
/// Intent 2, T_RESULT, error code 201, log LOG_DIGEST / "log-blob".
const SIG_FAILED_201: vector<u8> =
    x"f7dc646fdae4b7b73e3c6347c6c4adf31b1a0350b5ac3d66b6f94cbc5102df1bd551a17eb798a1130b77b8bdf0171e50c1f4539da0d7eb4a45371599d9fc6e08";

// === BCS of objects and events, as `daas.chain.codecs` encodes them (gen_vectors.py) ===

const REGISTRY_UPDATED_AT_INIT: vector<u8> =
    x"a4137e2ed945e7f4e8c307001c32e97472fb3eebb8f7b4ab7534b447d22da89b00000000000000000000000000000000000000000000000000000000000000ad809698000000000080ee36000000000000034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab9600";
const REGISTRY_AFTER_SETUP: vector<u8> =
    x"a4137e2ed945e7f4e8c307001c32e97472fb3eebb8f7b4ab7534b447d22da89b01000000000000000000000000000000000000000000000000000000000000000000000000000fee809698000000000080ee36000000000000034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab9601";
const CONFIG_AT_INIT: vector<u8> =
    x"034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab960b646161732d72756e6e65723000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000030000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
const DEBUG_ENCLAVE_OBJECT: vector<u8> =
    x"d726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d3034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96000000000000000020d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a00000000000000000000000000000000000000000000000000000000000000ad01000000000000000000";
const DEBUG_ENCLAVE_REGISTERED: vector<u8> =
    x"d726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d3034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96000000000000000020d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a000000000000000000000000000000000000000000000000000000000000000000000000000000000000ad01";
const BUILD_REQUESTED: vector<u8> =
    x"01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a25640000000000000000000000000000000000000000000000000000000000000b0b08626c6f622d61626320000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0a446f636b657266696c650b6c696e75782f616d643634209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e40787d0100000000c00359699b01000040f28f699b010000";
const REQUEST_PENDING: vector<u8> =
    x"01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a25640000000000000000000000000000000000000000000000000000000000000b0b08626c6f622d61626320000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0a446f636b657266696c650b6c696e75782f616d643634209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e40787d010000000040787d010000000000c00359699b01000040f28f699b01000000";
const BUILD_SUCCEEDED: vector<u8> =
    x"01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a25640000000000000000000000000000000000000000000000000000000000000b0bd726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d320d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a0000000000000000209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e2005b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f0a696e6465782d626c6f6220836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62004668699b01000040765d5109fbed3f1edea35928ea14af79a1e11d4be8c8bf3bd8b5f33e50363e5862d769186e64192969579873ed6cd003e733bd800e43ea449ce36f93e047240840787d01000000000000000000000000000000000000000000000000000000000000000000000fee";
const REQUEST_SUCCEEDED: vector<u8> =
    x"01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a25640000000000000000000000000000000000000000000000000000000000000b0b08626c6f622d61626320000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0a446f636b657266696c650b6c696e75782f616d643634209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e000000000000000040787d010000000001c00359699b01000040f28f699b01000001d726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d3012005b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f0a696e6465782d626c6f6220836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f620000004668699b01000040765d5109fbed3f1edea35928ea14af79a1e11d4be8c8bf3bd8b5f33e50363e5862d769186e64192969579873ed6cd003e733bd800e43ea449ce36f93e0472408";
const BUILD_FAILED_110: vector<u8> =
    x"01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a25640000000000000000000000000000000000000000000000000000000000000b0bd726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d320d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a0000000000000000209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e6e0020836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62004668699b01000040512bc215513ec536124dc8c11b8cf7afa3cb2d38f19be09d832cedceda3436daf2bd231278261ead0957479d722c313203851fe826eb3a1dc59eb44fa785ec0540787d01000000000000000000000000";
const BUILD_FAILED_201: vector<u8> =
    x"01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a25640000000000000000000000000000000000000000000000000000000000000b0bd726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d320d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a0000000000000000209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73ec90020836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62004668699b01000040f7dc646fdae4b7b73e3c6347c6c4adf31b1a0350b5ac3d66b6f94cbc5102df1bd551a17eb798a1130b77b8bdf0171e50c1f4539da0d7eb4a45371599d9fc6e08000000000000000040787d0100000000";
const REQUEST_FAILED_201: vector<u8> =
    x"01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a25640000000000000000000000000000000000000000000000000000000000000b0b08626c6f622d61626320000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0a446f636b657266696c650b6c696e75782f616d643634209b50a33f885973275ee7be51de609eb255ab45ca297bf698f53b70ca4d81d73e000000000000000040787d010000000002c00359699b01000040f28f699b01000001d726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d300000020836ff184e7b41b1e13cb5fd89fa1de98dbbab99e9d2918913ff43b86a5c7c213086c6f672d626c6f62c900004668699b01000040f7dc646fdae4b7b73e3c6347c6c4adf31b1a0350b5ac3d66b6f94cbc5102df1bd551a17eb798a1130b77b8bdf0171e50c1f4539da0d7eb4a45371599d9fc6e08";
const BUILD_CANCELLED: vector<u8> =
    x"01c5e4703d8ab941c77c53ac590c7764b9e6f197cd1bb6692613a1d3df9a25640000000000000000000000000000000000000000000000000000000000000b0b40787d010000000041f28f699b010000";
const PCRS_UPDATED: vector<u8> =
    x"034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96010000000000000030cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a230cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a23021b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";

// === Scenario helpers ===

/// tx 0 (ADMIN): `init`, and a clock at T_CREATE. tx 1 (ADMIN): payee := PAYEE, allow_debug := true,
/// and the RFC 8032 test-1 key registered as a debug enclave. Returns the scenario (still in tx 1),
/// the clock, the config id and the enclave id.
fun setup(): (Scenario, Clock, ID, ID) {
    let mut scenario = test_scenario::begin(ADMIN);
    builds::init_for_testing(scenario.ctx());
    let mut clock = clock::create_for_testing(scenario.ctx());
    clock.set_for_testing(T_CREATE);

    scenario.next_tx(ADMIN);
    let mut reg = scenario.take_shared<Registry>();
    let cap = scenario.take_from_sender<AdminCap>();
    let config_id = builds::enclave_config_id(&reg);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    builds::set_payee(&mut reg, &cap, PAYEE);
    builds::set_allow_debug(&mut reg, &cap, true);
    let enclave_id = builds::register_debug_enclave(&reg, &cap, &config, RFC_PK, scenario.ctx());
    test_scenario::return_shared(config);
    test_scenario::return_shared(reg);
    scenario.return_to_sender(cap);
    (scenario, clock, config_id, enclave_id)
}

/// Next transaction as ADMIN, with the registry and the cap in hand.
fun admin_begin(scenario: &mut Scenario): (Registry, AdminCap) {
    scenario.next_tx(ADMIN);
    let reg = scenario.take_shared<Registry>();
    let cap = scenario.take_from_sender<AdminCap>();
    (reg, cap)
}

fun admin_end(scenario: &Scenario, reg: Registry, cap: AdminCap) {
    test_scenario::return_shared(reg);
    scenario.return_to_sender(cap);
}

/// Next transaction as USER: mints `fee` MIST and requests a build of the given spec.
fun request_with(
    scenario: &mut Scenario,
    clock: &Clock,
    source_blob_id: vector<u8>,
    source_sha256: vector<u8>,
    dockerfile_path: vector<u8>,
    platform: vector<u8>,
    fee: u64,
): ID {
    scenario.next_tx(USER);
    let reg = scenario.take_shared<Registry>();
    let payment = coin::mint_for_testing<SUI>(fee, scenario.ctx());
    let request_id = builds::request_build(
        &reg,
        string::utf8(source_blob_id),
        source_sha256,
        string::utf8(dockerfile_path),
        string::utf8(platform),
        payment,
        clock,
        scenario.ctx(),
    );
    test_scenario::return_shared(reg);
    request_id
}

/// The standard request: the spec of the vectors (`blob-abc`, bytes 0..31, `Dockerfile`,
/// `linux/amd64`) with a fee of FEE.
fun request(scenario: &mut Scenario, clock: &Clock): ID {
    request_with(scenario, clock, b"blob-abc", SOURCE_SHA256, b"Dockerfile", b"linux/amd64", FEE)
}

fun cancel_as(scenario: &mut Scenario, clock: &Clock, sender: address, request_id: ID) {
    scenario.next_tx(sender);
    let mut req = scenario.take_shared_by_id<BuildRequest>(request_id);
    builds::cancel(&mut req, clock, scenario.ctx());
    test_scenario::return_shared(req);
}

/// Next transaction as RELAYER: `complete` with the given result.
fun complete_with(
    scenario: &mut Scenario,
    clock: &Clock,
    request_id: ID,
    config_id: ID,
    enclave_id: ID,
    image_digest: vector<u8>,
    image_index_blob_id: vector<u8>,
    log_digest: vector<u8>,
    log_blob_id: vector<u8>,
    timestamp_ms: u64,
    signature: vector<u8>,
) {
    scenario.next_tx(RELAYER);
    let reg = scenario.take_shared<Registry>();
    let mut req = scenario.take_shared_by_id<BuildRequest>(request_id);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let signer = scenario.take_shared_by_id<Enclave>(enclave_id);
    builds::complete(
        &reg,
        &mut req,
        &config,
        &signer,
        image_digest,
        string::utf8(image_index_blob_id),
        log_digest,
        string::utf8(log_blob_id),
        timestamp_ms,
        signature,
        clock,
        scenario.ctx(),
    );
    test_scenario::return_shared(reg);
    test_scenario::return_shared(req);
    test_scenario::return_shared(config);
    test_scenario::return_shared(signer);
}

/// `complete` with the pinned valid result and signature (needs the clock at or after T_RESULT - 60 s).
fun complete_valid(
    scenario: &mut Scenario,
    clock: &Clock,
    request_id: ID,
    config_id: ID,
    enclave_id: ID,
) {
    complete_with(
        scenario,
        clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        b"index-blob",
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_SUCCEEDED,
    );
}

/// Next transaction as RELAYER: `fail` with the given result.
fun fail_with(
    scenario: &mut Scenario,
    clock: &Clock,
    request_id: ID,
    config_id: ID,
    enclave_id: ID,
    error_code: u16,
    log_digest: vector<u8>,
    log_blob_id: vector<u8>,
    timestamp_ms: u64,
    signature: vector<u8>,
) {
    scenario.next_tx(RELAYER);
    let reg = scenario.take_shared<Registry>();
    let mut req = scenario.take_shared_by_id<BuildRequest>(request_id);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let signer = scenario.take_shared_by_id<Enclave>(enclave_id);
    builds::fail(
        &reg,
        &mut req,
        &config,
        &signer,
        error_code,
        log_digest,
        string::utf8(log_blob_id),
        timestamp_ms,
        signature,
        clock,
        scenario.ctx(),
    );
    test_scenario::return_shared(reg);
    test_scenario::return_shared(req);
    test_scenario::return_shared(config);
    test_scenario::return_shared(signer);
}

/// `fail` with code 110 and its pinned signature.
fun fail_valid_110(
    scenario: &mut Scenario,
    clock: &Clock,
    request_id: ID,
    config_id: ID,
    enclave_id: ID,
) {
    fail_with(
        scenario,
        clock,
        request_id,
        config_id,
        enclave_id,
        110,
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_FAILED_110,
    );
}

/// In a new transaction: the most recent SUI coin sent to `owner` holds exactly `amount`.
fun assert_received(scenario: &mut Scenario, owner: address, amount: u64) {
    scenario.next_tx(owner);
    let payment = scenario.take_from_address<Coin<SUI>>(owner);
    assert!(payment.value() == amount, 900);
    test_scenario::return_to_address(owner, payment);
}

fun set_version(scenario: &mut Scenario, version: u64) {
    let (mut reg, cap) = admin_begin(scenario);
    builds::set_version_for_testing(&mut reg, version);
    admin_end(scenario, reg, cap);
}

fun set_allow_debug(scenario: &mut Scenario, allow_debug: bool) {
    let (mut reg, cap) = admin_begin(scenario);
    builds::set_allow_debug(&mut reg, &cap, allow_debug);
    admin_end(scenario, reg, cap);
}

fun set_enclave_config(scenario: &mut Scenario, config_id: ID) {
    let (mut reg, cap) = admin_begin(scenario);
    builds::set_enclave_config(&mut reg, &cap, config_id);
    admin_end(scenario, reg, cap);
}

/// Next transaction as ADMIN: real PCRs through `builds::update_pcrs` (the config goes to version 1).
fun update_pcrs(scenario: &mut Scenario, config_id: ID) {
    let (reg, cap) = admin_begin(scenario);
    let mut config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    builds::update_pcrs(&reg, &cap, &mut config, PCR0, PCR1, PCR2);
    test_scenario::return_shared(config);
    admin_end(scenario, reg, cap);
}

/// Next transactions as ADMIN: a second config, and a debug enclave registered under it.
fun enclave_of_other_config(scenario: &mut Scenario): ID {
    scenario.next_tx(ADMIN);
    let other_config_id = enclave::create_config(scenario.ctx());
    scenario.next_tx(ADMIN);
    let other_config = scenario.take_shared_by_id<EnclaveConfig>(other_config_id);
    let other_enclave_id = enclave::new_debug_enclave(&other_config, RFC_PK, scenario.ctx());
    test_scenario::return_shared(other_config);
    other_enclave_id
}

fun repeat(byte: u8, count: u64): vector<u8> {
    let mut bytes = vector[];
    let mut i = 0;
    while (i < count) {
        bytes.push_back(byte);
        i = i + 1;
    };
    bytes
}

fun finish(scenario: Scenario, clock: Clock) {
    clock.destroy_for_testing();
    scenario.end();
}

// === init and admin ===

#[test]
fun init_shares_registry_config_and_sends_cap() {
    let mut scenario = test_scenario::begin(ADMIN);
    builds::init_for_testing(scenario.ctx());
    let updates = event::events_by_type<RegistryUpdated>();

    scenario.next_tx(ADMIN);
    let reg = scenario.take_shared<Registry>();
    let config = scenario.take_shared<EnclaveConfig>();
    let cap = scenario.take_from_sender<AdminCap>();
    assert!(builds::registry_version(&reg) == builds::package_version(), 0);
    assert!(builds::payee(&reg) == ADMIN, 1);
    assert!(builds::min_fee(&reg) == DEFAULT_MIN_FEE, 2);
    assert!(builds::build_timeout_ms(&reg) == BUILD_TIMEOUT_MS, 3);
    assert!(!builds::is_paused(&reg), 4);
    assert!(!builds::allow_debug(&reg), 5);
    assert!(builds::enclave_config_id(&reg) == object::id(&config), 6);
    assert!(enclave::config_name(&config) == string::utf8(b"daas-runner"), 7);
    assert!(enclave::config_pcr0(&config) == ZERO_PCR, 8);
    assert!(enclave::config_pcr1(&config) == ZERO_PCR, 9);
    assert!(enclave::config_pcr2(&config) == ZERO_PCR, 10);
    assert!(enclave::config_version_of(&config) == 0, 11);

    // Ids as gen_vectors.py derives them (objects 0 and 1 of tx 0), then the layouts.
    assert!(object::id(&config) == object::id_from_address(CONFIG_ID), 12);
    assert!(object::id(&reg) == object::id_from_address(REGISTRY_ID), 13);
    assert!(updates.length() == 1, 14);
    assert!(bcs::to_bytes(&updates[0]) == REGISTRY_UPDATED_AT_INIT, 15);
    assert!(bcs::to_bytes(&config) == CONFIG_AT_INIT, 16);

    test_scenario::return_shared(reg);
    test_scenario::return_shared(config);
    scenario.return_to_sender(cap);
    scenario.end();
}

#[test]
fun register_debug_enclave_shares_a_debug_enclave() {
    let (mut scenario, clock, config_id, enclave_id) = setup();
    let registered = event::events_by_type<EnclaveRegistered>();
    let updates = event::events_by_type<RegistryUpdated>();
    assert!(registered.length() == 1, 0);
    assert!(updates.length() == 2, 1);

    scenario.next_tx(ADMIN);
    let reg = scenario.take_shared<Registry>();
    let debug_enclave = scenario.take_shared_by_id<Enclave>(enclave_id);
    assert!(enclave::is_debug(&debug_enclave), 2);
    assert!(enclave::pk(&debug_enclave) == RFC_PK, 3);
    assert!(enclave::enclave_config_id(&debug_enclave) == config_id, 4);
    assert!(enclave::config_version(&debug_enclave) == 0, 5);
    assert!(enclave::owner(&debug_enclave) == ADMIN, 6);
    assert!(enclave::attestation(&debug_enclave) == vector[], 7);
    assert!(enclave::attestation_timestamp_ms(&debug_enclave) == 0, 8);
    assert!(builds::payee(&reg) == PAYEE, 9);
    assert!(builds::allow_debug(&reg), 10);

    // Object 0 of tx 1 (gen_vectors.py), then the layouts.
    assert!(enclave_id == object::id_from_address(ENCLAVE_ID), 11);
    assert!(bcs::to_bytes(&registered[0]) == DEBUG_ENCLAVE_REGISTERED, 12);
    assert!(bcs::to_bytes(&debug_enclave) == DEBUG_ENCLAVE_OBJECT, 13);
    assert!(bcs::to_bytes(&reg) == REGISTRY_AFTER_SETUP, 14);

    test_scenario::return_shared(reg);
    test_scenario::return_shared(debug_enclave);
    finish(scenario, clock);
}

#[test]
fun admin_setters_update_the_registry() {
    let (mut scenario, clock, _, _) = setup();
    let other_config_id = object::id_from_address(@0xC0F16);
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_payee(&mut reg, &cap, STRANGER);
    builds::set_min_fee(&mut reg, &cap, 1);
    builds::set_build_timeout_ms(&mut reg, &cap, 60_000);
    builds::set_paused(&mut reg, &cap, true);
    builds::set_allow_debug(&mut reg, &cap, false);
    builds::set_enclave_config(&mut reg, &cap, other_config_id);
    assert!(builds::payee(&reg) == STRANGER, 0);
    assert!(builds::min_fee(&reg) == 1, 1);
    assert!(builds::build_timeout_ms(&reg) == 60_000, 2);
    assert!(builds::is_paused(&reg), 3);
    assert!(!builds::allow_debug(&reg), 4);
    assert!(builds::enclave_config_id(&reg) == other_config_id, 5);
    // Both ends of the timeout range are accepted.
    builds::set_build_timeout_ms(&mut reg, &cap, 86_400_000);
    assert!(builds::build_timeout_ms(&reg) == 86_400_000, 6);
    builds::set_paused(&mut reg, &cap, false);
    assert!(!builds::is_paused(&reg), 7);
    // One RegistryUpdated per setter call.
    let updates = event::events_by_type<RegistryUpdated>();
    assert!(updates.length() == 8, 8);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test]
fun migrate_raises_an_old_registry_to_the_package_version() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, 0);
    let (mut reg, cap) = admin_begin(&mut scenario);
    assert!(builds::registry_version(&reg) == 0, 0);
    builds::migrate(&mut reg, &cap);
    assert!(builds::registry_version(&reg) == builds::package_version(), 1);
    admin_end(&scenario, reg, cap);
    // User calls work again.
    request(&mut scenario, &clock);
    finish(scenario, clock);
}

#[test]
fun update_pcrs_makes_registered_enclaves_stale_and_destroyable() {
    let (mut scenario, clock, config_id, enclave_id) = setup();
    update_pcrs(&mut scenario, config_id);
    let updated = event::events_by_type<PcrsUpdated>();
    assert!(updated.length() == 1, 0);
    assert!(bcs::to_bytes(&updated[0]) == PCRS_UPDATED, 1);

    scenario.next_tx(STRANGER);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    assert!(enclave::config_version_of(&config) == 1, 2);
    assert!(enclave::config_pcr0(&config) == PCR0, 3);
    assert!(enclave::config_pcr1(&config) == PCR1, 4);
    assert!(enclave::config_pcr2(&config) == PCR2, 5);
    // Anyone may delete the stale debug enclave.
    let stale = scenario.take_shared_by_id<Enclave>(enclave_id);
    enclave::destroy_stale(stale, &config);
    test_scenario::return_shared(config);

    scenario.next_tx(STRANGER);
    assert!(!test_scenario::has_most_recent_shared<Enclave>(), 6);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EDebugNotAllowed)]
fun register_debug_enclave_requires_allow_debug() {
    let mut scenario = test_scenario::begin(ADMIN);
    builds::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let reg = scenario.take_shared<Registry>();
    let cap = scenario.take_from_sender<AdminCap>();
    let config = scenario.take_shared<EnclaveConfig>();
    builds::register_debug_enclave(&reg, &cap, &config, RFC_PK, scenario.ctx());
    test_scenario::return_shared(config);
    admin_end(&scenario, reg, cap);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EBadPkLength)]
fun register_debug_enclave_rejects_a_key_that_is_not_32_bytes() {
    let (mut scenario, clock, config_id, _) = setup();
    let (reg, cap) = admin_begin(&mut scenario);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    builds::register_debug_enclave(&reg, &cap, &config, repeat(7, 33), scenario.ctx());
    test_scenario::return_shared(config);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun register_debug_enclave_rejects_an_old_registry() {
    let (mut scenario, clock, config_id, _) = setup();
    set_version(&mut scenario, 0);
    let (reg, cap) = admin_begin(&mut scenario);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    builds::register_debug_enclave(&reg, &cap, &config, RFC_PK, scenario.ctx());
    test_scenario::return_shared(config);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::enclave::EBadPcrLength)]
fun update_pcrs_rejects_a_pcr_that_is_not_48_bytes() {
    let (mut scenario, clock, config_id, _) = setup();
    let (reg, cap) = admin_begin(&mut scenario);
    let mut config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    builds::update_pcrs(&reg, &cap, &mut config, PCR0, PCR1, repeat(1, 32));
    test_scenario::return_shared(config);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::enclave::EDebugPcrs)]
fun update_pcrs_rejects_all_zero_pcrs() {
    let (mut scenario, clock, config_id, _) = setup();
    let (reg, cap) = admin_begin(&mut scenario);
    let mut config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    builds::update_pcrs(&reg, &cap, &mut config, ZERO_PCR, ZERO_PCR, ZERO_PCR);
    test_scenario::return_shared(config);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun update_pcrs_rejects_an_old_registry() {
    let (mut scenario, clock, config_id, _) = setup();
    set_version(&mut scenario, 0);
    update_pcrs(&mut scenario, config_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadTimeout)]
fun set_build_timeout_rejects_less_than_a_minute() {
    let (mut scenario, clock, _, _) = setup();
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_build_timeout_ms(&mut reg, &cap, 59_999);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadTimeout)]
fun set_build_timeout_rejects_more_than_a_day() {
    let (mut scenario, clock, _, _) = setup();
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_build_timeout_ms(&mut reg, &cap, 86_400_001);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun set_payee_rejects_an_old_registry() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, 0);
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_payee(&mut reg, &cap, STRANGER);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun set_min_fee_rejects_an_old_registry() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, 0);
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_min_fee(&mut reg, &cap, 1);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun set_build_timeout_rejects_an_old_registry() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, 0);
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_build_timeout_ms(&mut reg, &cap, 120_000);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun set_paused_rejects_an_old_registry() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, 0);
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_paused(&mut reg, &cap, true);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun set_allow_debug_rejects_an_old_registry() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, 0);
    set_allow_debug(&mut scenario, false);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun set_enclave_config_rejects_an_old_registry() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, 0);
    set_enclave_config(&mut scenario, object::id_from_address(@0xC0F16));
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun migrate_rejects_a_current_registry() {
    let (mut scenario, clock, _, _) = setup();
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::migrate(&mut reg, &cap);
    admin_end(&scenario, reg, cap);
    finish(scenario, clock);
}

// === request_build ===

#[test]
fun request_build_escrows_the_payment() {
    let (mut scenario, clock, _, _) = setup();
    let request_id = request(&mut scenario, &clock);
    let requested = event::events_by_type<BuildRequested>();
    assert!(requested.length() == 1, 0);

    scenario.next_tx(USER);
    let req = scenario.take_shared_by_id<BuildRequest>(request_id);
    let spec = builds::new_spec(
        string::utf8(b"blob-abc"),
        SOURCE_SHA256,
        string::utf8(b"Dockerfile"),
        string::utf8(b"linux/amd64"),
    );
    let result = builds::request_result(&req);
    assert!(builds::request_status(&req) == PENDING, 1);
    assert!(builds::request_requester(&req) == USER, 2);
    assert!(builds::request_spec(&req) == spec, 3);
    assert!(builds::request_spec_digest(&req) == SPEC_DIGEST, 4);
    assert!(builds::spec_digest(&spec) == SPEC_DIGEST, 5);
    assert!(builds::request_created_at_ms(&req) == T_CREATE, 6);
    assert!(builds::request_deadline_ms(&req) == DEADLINE, 7);
    assert!(builds::request_fee_amount(&req) == FEE, 8);
    assert!(builds::request_escrow(&req) == FEE, 9);
    assert!(result.is_none(), 10);

    // Object 1 of tx 2, after the payment coin (gen_vectors.py), then the layouts.
    assert!(request_id == object::id_from_address(REQUEST_ID), 11);
    assert!(bcs::to_bytes(&requested[0]) == BUILD_REQUESTED, 12);
    assert!(bcs::to_bytes(&req) == REQUEST_PENDING, 13);

    test_scenario::return_shared(req);
    finish(scenario, clock);
}

#[test]
fun request_build_accepts_inputs_at_their_limits() {
    let (mut scenario, clock, _, _) = setup();
    let request_id = request_with(
        &mut scenario,
        &clock,
        repeat(0x61, 128),
        SOURCE_SHA256,
        repeat(0x62, 256),
        repeat(0x63, 32),
        DEFAULT_MIN_FEE,
    );
    scenario.next_tx(USER);
    let req = scenario.take_shared_by_id<BuildRequest>(request_id);
    assert!(builds::request_fee_amount(&req) == DEFAULT_MIN_FEE, 0);
    test_scenario::return_shared(req);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun request_build_rejects_an_old_registry() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, 0);
    request(&mut scenario, &clock);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun request_build_rejects_a_newer_registry() {
    let (mut scenario, clock, _, _) = setup();
    set_version(&mut scenario, builds::package_version() + 1);
    request(&mut scenario, &clock);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EPaused)]
fun request_build_rejects_while_paused() {
    let (mut scenario, clock, _, _) = setup();
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_paused(&mut reg, &cap, true);
    admin_end(&scenario, reg, cap);
    request(&mut scenario, &clock);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EFeeTooLow)]
fun request_build_rejects_a_fee_below_the_minimum() {
    let (mut scenario, clock, _, _) = setup();
    request_with(
        &mut scenario,
        &clock,
        b"blob-abc",
        SOURCE_SHA256,
        b"Dockerfile",
        b"linux/amd64",
        DEFAULT_MIN_FEE - 1,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInputTooLong)]
fun request_build_rejects_a_long_blob_id() {
    let (mut scenario, clock, _, _) = setup();
    request_with(
        &mut scenario,
        &clock,
        repeat(0x61, 129),
        SOURCE_SHA256,
        b"Dockerfile",
        b"linux/amd64",
        FEE,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInputTooLong)]
fun request_build_rejects_a_long_dockerfile_path() {
    let (mut scenario, clock, _, _) = setup();
    request_with(
        &mut scenario,
        &clock,
        b"blob-abc",
        SOURCE_SHA256,
        repeat(0x62, 257),
        b"linux/amd64",
        FEE,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInputTooLong)]
fun request_build_rejects_a_long_platform() {
    let (mut scenario, clock, _, _) = setup();
    request_with(
        &mut scenario,
        &clock,
        b"blob-abc",
        SOURCE_SHA256,
        b"Dockerfile",
        repeat(0x63, 33),
        FEE,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadDigestLength)]
fun request_build_rejects_a_short_source_sha256() {
    let (mut scenario, clock, _, _) = setup();
    request_with(
        &mut scenario,
        &clock,
        b"blob-abc",
        repeat(1, 31),
        b"Dockerfile",
        b"linux/amd64",
        FEE,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadDigestLength)]
fun request_build_rejects_a_long_source_sha256() {
    let (mut scenario, clock, _, _) = setup();
    request_with(
        &mut scenario,
        &clock,
        b"blob-abc",
        repeat(1, 33),
        b"Dockerfile",
        b"linux/amd64",
        FEE,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EEmptyInput)]
fun request_build_rejects_an_empty_blob_id() {
    let (mut scenario, clock, _, _) = setup();
    request_with(&mut scenario, &clock, b"", SOURCE_SHA256, b"Dockerfile", b"linux/amd64", FEE);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EEmptyInput)]
fun request_build_rejects_an_empty_dockerfile_path() {
    let (mut scenario, clock, _, _) = setup();
    request_with(&mut scenario, &clock, b"blob-abc", SOURCE_SHA256, b"", b"linux/amd64", FEE);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EEmptyInput)]
fun request_build_rejects_an_empty_platform() {
    let (mut scenario, clock, _, _) = setup();
    request_with(&mut scenario, &clock, b"blob-abc", SOURCE_SHA256, b"Dockerfile", b"", FEE);
    finish(scenario, clock);
}

// === cancel ===

#[test]
fun cancel_after_the_deadline_refunds_the_requester() {
    let (mut scenario, mut clock, _, _) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(DEADLINE + 1);
    cancel_as(&mut scenario, &clock, USER, request_id);
    let cancelled = event::events_by_type<BuildCancelled>();
    assert!(cancelled.length() == 1, 0);
    assert_received(&mut scenario, USER, FEE);
    assert!(!test_scenario::has_most_recent_for_address<Coin<SUI>>(PAYEE), 1);

    let req = scenario.take_shared_by_id<BuildRequest>(request_id);
    assert!(builds::request_status(&req) == CANCELLED, 2);
    assert!(builds::request_escrow(&req) == 0, 3);
    let result = builds::request_result(&req);
    assert!(result.is_none(), 4);
    // See REQUEST_ID.
    assert!(request_id == object::id_from_address(REQUEST_ID), 5);
    assert!(bcs::to_bytes(&cancelled[0]) == BUILD_CANCELLED, 6);
    test_scenario::return_shared(req);
    finish(scenario, clock);
}

#[test]
fun cancel_of_a_free_request_sends_no_coin() {
    let (mut scenario, mut clock, _, _) = setup();
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_min_fee(&mut reg, &cap, 0);
    admin_end(&scenario, reg, cap);
    let request_id = request_with(
        &mut scenario,
        &clock,
        b"blob-abc",
        SOURCE_SHA256,
        b"Dockerfile",
        b"linux/amd64",
        0,
    );
    clock.set_for_testing(DEADLINE + 1);
    cancel_as(&mut scenario, &clock, USER, request_id);
    scenario.next_tx(USER);
    assert!(!test_scenario::has_most_recent_for_address<Coin<SUI>>(USER), 0);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ENotRequester)]
fun cancel_by_someone_else_aborts() {
    let (mut scenario, mut clock, _, _) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(DEADLINE + 1);
    cancel_as(&mut scenario, &clock, STRANGER, request_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ETooEarlyToCancel)]
fun cancel_at_the_deadline_aborts() {
    let (mut scenario, mut clock, _, _) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(DEADLINE);
    cancel_as(&mut scenario, &clock, USER, request_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ENotPending)]
fun cancel_of_a_cancelled_request_aborts() {
    let (mut scenario, mut clock, _, _) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(DEADLINE + 1);
    cancel_as(&mut scenario, &clock, USER, request_id);
    cancel_as(&mut scenario, &clock, USER, request_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ENotPending)]
fun cancel_of_a_completed_request_aborts() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    clock.set_for_testing(DEADLINE + 1);
    cancel_as(&mut scenario, &clock, USER, request_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ENotPending)]
fun cancel_of_a_failed_request_aborts() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    clock.set_for_testing(DEADLINE + 1);
    cancel_as(&mut scenario, &clock, USER, request_id);
    finish(scenario, clock);
}

// === complete ===

#[test]
fun complete_with_a_valid_signature_pays_the_payee() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    // SIG_SUCCEEDED signs this exact request id. test_scenario gives tx 2 the digest
    // `02 00 .. 00` (bcs(2u64) padded to 32 bytes) and the request is object 1 of tx 2 (the payment coin
    // is object 0), so its id is blake2b256(0xf1 || digest || u64_le(1)), computed by gen_vectors.py.
    // If this assert fails, the framework's id derivation changed: regenerate the vectors.
    assert!(request_id == object::id_from_address(REQUEST_ID), 0);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    let succeeded = event::events_by_type<BuildSucceeded>();
    assert!(succeeded.length() == 1, 1);
    assert!(bcs::to_bytes(&succeeded[0]) == BUILD_SUCCEEDED, 2);

    assert_received(&mut scenario, PAYEE, FEE);
    assert!(!test_scenario::has_most_recent_for_address<Coin<SUI>>(USER), 3);
    let req = scenario.take_shared_by_id<BuildRequest>(request_id);
    assert!(builds::request_status(&req) == SUCCEEDED, 4);
    assert!(builds::request_escrow(&req) == 0, 5);
    assert!(builds::request_fee_amount(&req) == FEE, 6);
    let result = builds::request_result(&req).destroy_some();
    assert!(builds::result_succeeded(&result), 7);
    assert!(builds::result_enclave_id(&result) == enclave_id, 8);
    assert!(builds::result_error_code(&result) == 0, 9);
    assert!(builds::result_timestamp_ms(&result) == T_RESULT, 10);
    assert!(builds::result_signature(&result) == SIG_SUCCEEDED, 11);
    assert!(builds::result_image_digest(&result) == IMAGE_DIGEST, 12);
    assert!(builds::result_image_index_blob_id(&result) == string::utf8(b"index-blob"), 13);
    assert!(builds::result_log_digest(&result) == LOG_DIGEST, 14);
    assert!(builds::result_log_blob_id(&result) == string::utf8(b"log-blob"), 15);
    assert!(bcs::to_bytes(&req) == REQUEST_SUCCEEDED, 16);
    test_scenario::return_shared(req);
    finish(scenario, clock);
}

#[test]
fun complete_accepts_a_result_signed_at_request_time() {
    let (mut scenario, clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    // See REQUEST_ID and complete_with_a_valid_signature_pays_the_payee.
    assert!(request_id == object::id_from_address(REQUEST_ID), 0);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        b"index-blob",
        LOG_DIGEST,
        b"log-blob",
        T_CREATE,
        SIG_SUCCEEDED_AT_CREATE,
    );
    finish(scenario, clock);
}

#[test]
fun complete_accepts_a_timestamp_a_minute_ahead_of_the_clock() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    assert!(request_id == object::id_from_address(REQUEST_ID), 0);
    clock.set_for_testing(T_RESULT - MAX_CLOCK_SKEW_MS);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test]
fun complete_is_accepted_while_paused() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    assert!(request_id == object::id_from_address(REQUEST_ID), 0);
    let (mut reg, cap) = admin_begin(&mut scenario);
    builds::set_paused(&mut reg, &cap, true);
    admin_end(&scenario, reg, cap);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    assert_received(&mut scenario, PAYEE, FEE);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun complete_rejects_an_old_registry() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    set_version(&mut scenario, 0);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ENotPending)]
fun complete_of_a_completed_request_aborts() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ENotPending)]
fun complete_of_a_cancelled_request_aborts() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(DEADLINE + 1);
    cancel_as(&mut scenario, &clock, USER, request_id);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongEnclaveConfig)]
fun complete_rejects_a_config_that_is_not_the_registrys() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    set_enclave_config(&mut scenario, object::id_from_address(@0xC0F16));
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongEnclaveConfig)]
fun complete_rejects_an_enclave_of_another_config() {
    let (mut scenario, mut clock, config_id, _) = setup();
    let request_id = request(&mut scenario, &clock);
    let other_enclave_id = enclave_of_other_config(&mut scenario);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, other_enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EStaleEnclave)]
fun complete_rejects_a_stale_enclave() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    update_pcrs(&mut scenario, config_id);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EDebugNotAllowed)]
fun complete_rejects_a_debug_enclave_once_debug_is_disallowed() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    set_allow_debug(&mut scenario, false);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadDigestLength)]
fun complete_rejects_a_short_image_digest() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        repeat(5, 31),
        b"index-blob",
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_SUCCEEDED,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadDigestLength)]
fun complete_rejects_a_long_log_digest() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        b"index-blob",
        repeat(5, 33),
        b"log-blob",
        T_RESULT,
        SIG_SUCCEEDED,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInputTooLong)]
fun complete_rejects_a_long_image_index_blob_id() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        repeat(0x69, 129),
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_SUCCEEDED,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInputTooLong)]
fun complete_rejects_a_long_log_blob_id() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        b"index-blob",
        LOG_DIGEST,
        repeat(0x6c, 129),
        T_RESULT,
        SIG_SUCCEEDED,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadTimestamp)]
fun complete_rejects_a_timestamp_before_the_request() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        b"index-blob",
        LOG_DIGEST,
        b"log-blob",
        T_CREATE - 1,
        SIG_SUCCEEDED,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadTimestamp)]
fun complete_rejects_a_timestamp_too_far_ahead_of_the_clock() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT - MAX_CLOCK_SKEW_MS - 1);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInvalidSignature)]
fun complete_rejects_a_tampered_result() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        b"index-blob",
        LOG_DIGEST,
        b"other-log-blob",
        T_RESULT,
        SIG_SUCCEEDED,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInvalidSignature)]
fun complete_rejects_a_failure_signature() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        b"index-blob",
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_FAILED_110,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInvalidSignature)]
fun complete_rejects_a_signature_of_the_wrong_length() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        IMAGE_DIGEST,
        b"index-blob",
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        repeat(9, 63),
    );
    finish(scenario, clock);
}

// === fail ===

#[test]
fun fail_with_a_requester_fault_pays_the_payee() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    // SIG_FAILED_110 signs this exact request id: see complete_with_a_valid_signature_pays_the_payee.
    assert!(request_id == object::id_from_address(REQUEST_ID), 0);
    clock.set_for_testing(T_RESULT);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    let failed = event::events_by_type<BuildFailed>();
    assert!(failed.length() == 1, 1);
    assert!(bcs::to_bytes(&failed[0]) == BUILD_FAILED_110, 2);

    assert_received(&mut scenario, PAYEE, FEE);
    assert!(!test_scenario::has_most_recent_for_address<Coin<SUI>>(USER), 3);
    let req = scenario.take_shared_by_id<BuildRequest>(request_id);
    assert!(builds::request_status(&req) == FAILED, 4);
    assert!(builds::request_escrow(&req) == 0, 5);
    let result = builds::request_result(&req).destroy_some();
    assert!(!builds::result_succeeded(&result), 6);
    assert!(builds::result_error_code(&result) == 110, 7);
    assert!(builds::result_signature(&result) == SIG_FAILED_110, 8);
    test_scenario::return_shared(req);
    finish(scenario, clock);
}

#[test]
fun fail_with_an_infrastructure_error_refunds_the_requester() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    // SIG_FAILED_201 signs this exact request id: see complete_with_a_valid_signature_pays_the_payee.
    assert!(request_id == object::id_from_address(REQUEST_ID), 0);
    clock.set_for_testing(T_RESULT);
    fail_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        201,
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_FAILED_201,
    );
    let failed = event::events_by_type<BuildFailed>();
    assert!(failed.length() == 1, 1);
    assert!(bcs::to_bytes(&failed[0]) == BUILD_FAILED_201, 2);

    assert_received(&mut scenario, USER, FEE);
    assert!(!test_scenario::has_most_recent_for_address<Coin<SUI>>(PAYEE), 3);
    let req = scenario.take_shared_by_id<BuildRequest>(request_id);
    assert!(builds::request_status(&req) == FAILED, 4);
    assert!(builds::request_escrow(&req) == 0, 5);
    let result = builds::request_result(&req).destroy_some();
    assert!(builds::result_error_code(&result) == 201, 6);
    assert!(builds::result_image_digest(&result) == vector[], 7);
    assert!(builds::result_image_index_blob_id(&result) == string::utf8(b""), 8);
    assert!(builds::result_log_digest(&result) == LOG_DIGEST, 9);
    assert!(bcs::to_bytes(&req) == REQUEST_FAILED_201, 10);
    test_scenario::return_shared(req);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongVersion)]
fun fail_rejects_an_old_registry() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    set_version(&mut scenario, 0);
    clock.set_for_testing(T_RESULT);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ENotPending)]
fun fail_of_a_completed_request_aborts() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    complete_valid(&mut scenario, &clock, request_id, config_id, enclave_id);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::ENotPending)]
fun fail_of_a_cancelled_request_aborts() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(DEADLINE + 1);
    cancel_as(&mut scenario, &clock, USER, request_id);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongEnclaveConfig)]
fun fail_rejects_a_config_that_is_not_the_registrys() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    set_enclave_config(&mut scenario, object::id_from_address(@0xC0F16));
    clock.set_for_testing(T_RESULT);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EWrongEnclaveConfig)]
fun fail_rejects_an_enclave_of_another_config() {
    let (mut scenario, mut clock, config_id, _) = setup();
    let request_id = request(&mut scenario, &clock);
    let other_enclave_id = enclave_of_other_config(&mut scenario);
    clock.set_for_testing(T_RESULT);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, other_enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EStaleEnclave)]
fun fail_rejects_a_stale_enclave() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    update_pcrs(&mut scenario, config_id);
    clock.set_for_testing(T_RESULT);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EDebugNotAllowed)]
fun fail_rejects_a_debug_enclave_once_debug_is_disallowed() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    set_allow_debug(&mut scenario, false);
    clock.set_for_testing(T_RESULT);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadDigestLength)]
fun fail_rejects_a_short_log_digest() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    fail_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        110,
        vector[],
        b"log-blob",
        T_RESULT,
        SIG_FAILED_110,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInputTooLong)]
fun fail_rejects_a_long_log_blob_id() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    fail_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        110,
        LOG_DIGEST,
        repeat(0x6c, 129),
        T_RESULT,
        SIG_FAILED_110,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadTimestamp)]
fun fail_rejects_a_timestamp_before_the_request() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    fail_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        110,
        LOG_DIGEST,
        b"log-blob",
        T_CREATE - 1,
        SIG_FAILED_110,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadTimestamp)]
fun fail_rejects_a_timestamp_too_far_ahead_of_the_clock() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT - MAX_CLOCK_SKEW_MS - 1);
    fail_valid_110(&mut scenario, &clock, request_id, config_id, enclave_id);
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadErrorCode)]
fun fail_rejects_an_error_code_below_100() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    fail_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        99,
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_FAILED_110,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EBadErrorCode)]
fun fail_rejects_an_error_code_above_299() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    fail_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        300,
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_FAILED_110,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInvalidSignature)]
fun fail_rejects_a_signature_over_another_error_code() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    fail_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        111,
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_FAILED_110,
    );
    finish(scenario, clock);
}

#[test, expected_failure(abort_code = daas::builds::EInvalidSignature)]
fun fail_rejects_a_success_signature() {
    let (mut scenario, mut clock, config_id, enclave_id) = setup();
    let request_id = request(&mut scenario, &clock);
    clock.set_for_testing(T_RESULT);
    fail_with(
        &mut scenario,
        &clock,
        request_id,
        config_id,
        enclave_id,
        110,
        LOG_DIGEST,
        b"log-blob",
        T_RESULT,
        SIG_SUCCEEDED,
    );
    finish(scenario, clock);
}
