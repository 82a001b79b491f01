// SPDX-License-Identifier: Apache-2.0

/// Tests of `daas::enclave`: the config, attested registration (through `register_for_testing`, which
/// runs every check of `register_enclave` over the values `load_nitro_attestation` would parse, since
/// no real attestation document can be produced or verified in a unit test), debug registration,
/// staleness, and signature checks. Pinned bytes come from `move/tests/gen_vectors.py`.
#[test_only]
module daas::enclave_tests;

use daas::enclave::{Self, Enclave, EnclaveConfig, EnclaveDestroyed, EnclaveRegistered, PcrsUpdated};
use std::bcs;
use std::string::{Self, String};
use sui::event;
use sui::test_scenario::{Self, Scenario};

const ADMIN: address = @0xAD;
const OPERATOR: address = @0xE0;
const STRANGER: address = @0xCAFE;

const RFC_PK: vector<u8> = x"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const OPERATOR_PK: vector<u8> = x"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const PCR0: vector<u8> =
    x"cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2";
const PCR1: vector<u8> =
    x"cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2";
const PCR2: vector<u8> =
    x"21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";
const ZERO_PCR: vector<u8> =
    x"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
const ATTESTATION: vector<u8> = x"8444a1013822a0";
const ATTESTATION_TS: u64 = 1_744_684_007_462;

// Ids as gen_vectors.py derives them: the config is object 0 of tx 0; a debug enclave added in tx 1 is
// object 0 of tx 1; the attested enclave registered in tx 2 is object 0 of tx 2.
const CONFIG_ID: address = @0x034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96;
const ENCLAVE_ID: address = @0xd726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d3;
const ATTESTED_ENCLAVE_ID: address =
    @0xdba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97;

const PCRS_UPDATED: vector<u8> =
    x"034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96010000000000000030cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a230cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a23021b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";
const ATTESTED_ENCLAVE_REGISTERED: vector<u8> =
    x"dba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab960100000000000000203d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c30cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a230cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a23021b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a264045379601000000000000000000000000000000000000000000000000000000000000000000e000";
const ATTESTED_ENCLAVE_OBJECT: vector<u8> =
    x"dba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab960100000000000000203d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c00000000000000000000000000000000000000000000000000000000000000e000078444a1013822a02640453796010000";
const ENCLAVE_DESTROYED: vector<u8> =
    x"d726ecf6f7036ee3557cd6c7b93a49b231070e8eecada9cfa157e40e3f02e5d3034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96";

#[allow(unused_field)]
/// Nautilus's weather payload; `IntentMessage { 0, READING_TS, { "San Francisco", 13 } }` is the
/// Nautilus test vector.
public struct Reading has copy, drop {
    location: String,
    temperature: u64,
}

const READING_TS: u64 = 1_744_038_900_000;
/// The RFC 8032 test-1 key's signature over that message.
const SIG_READING: vector<u8> =
    x"023c13f7a24c26363591b93b467afbee9f208d040dcf724c19324e58d0cfbb984a10677ad011094f09ef05a210dfb503f99ac87d6afe268c5a44919b2f17490d";

// === Helpers ===

/// tx 0 (ADMIN): a config with all-zero PCRs at version 0.
fun new_config(): (Scenario, ID) {
    let mut scenario = test_scenario::begin(ADMIN);
    let config_id = enclave::create_config(scenario.ctx());
    (scenario, config_id)
}

/// Next transaction as ADMIN: PCR0..2 set; the config goes one version up.
fun set_pcrs(scenario: &mut Scenario, config_id: ID) {
    scenario.next_tx(ADMIN);
    let mut config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    enclave::update_pcrs(&mut config, PCR0, PCR1, PCR2);
    test_scenario::return_shared(config);
}

/// Next transaction as ADMIN: the RFC 8032 test-1 key as a debug enclave of `config_id`.
fun add_debug_enclave(scenario: &mut Scenario, config_id: ID): ID {
    scenario.next_tx(ADMIN);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let enclave_id = enclave::new_debug_enclave(&config, RFC_PK, scenario.ctx());
    test_scenario::return_shared(config);
    enclave_id
}

/// Next transaction as OPERATOR: registration with the given parsed document values.
fun register(
    scenario: &mut Scenario,
    config_id: ID,
    pcr0: Option<vector<u8>>,
    pcr1: Option<vector<u8>>,
    pcr2: Option<vector<u8>>,
    public_key: Option<vector<u8>>,
): ID {
    scenario.next_tx(OPERATOR);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let enclave_id = enclave::register_for_testing(
        &config,
        pcr0,
        pcr1,
        pcr2,
        public_key,
        ATTESTATION,
        ATTESTATION_TS,
        scenario.ctx(),
    );
    test_scenario::return_shared(config);
    enclave_id
}

/// A document whose PCRs match the config set by `set_pcrs`, with the RFC 8032 test-2 key.
fun register_matching(scenario: &mut Scenario, config_id: ID): ID {
    register(
        scenario,
        config_id,
        option::some(PCR0),
        option::some(PCR1),
        option::some(PCR2),
        option::some(OPERATOR_PK),
    )
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

fun san_francisco(temperature: u64): Reading {
    Reading { location: string::utf8(b"San Francisco"), temperature }
}

// === Config ===

#[test]
fun create_config_starts_with_zero_pcrs_at_version_0() {
    let (mut scenario, config_id) = new_config();
    scenario.next_tx(ADMIN);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    assert!(enclave::config_name(&config) == string::utf8(b"daas-runner"), 0);
    assert!(enclave::config_pcr0(&config) == ZERO_PCR, 1);
    assert!(enclave::config_pcr1(&config) == ZERO_PCR, 2);
    assert!(enclave::config_pcr2(&config) == ZERO_PCR, 3);
    assert!(enclave::config_version_of(&config) == 0, 4);
    assert!(config_id == object::id_from_address(CONFIG_ID), 5);
    test_scenario::return_shared(config);
    scenario.end();
}

#[test]
fun update_pcrs_sets_the_pcrs_and_bumps_the_version() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    let updated = event::events_by_type<PcrsUpdated>();
    assert!(updated.length() == 1, 0);

    scenario.next_tx(ADMIN);
    let mut config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    assert!(enclave::config_pcr0(&config) == PCR0, 1);
    assert!(enclave::config_pcr1(&config) == PCR1, 2);
    assert!(enclave::config_pcr2(&config) == PCR2, 3);
    assert!(enclave::config_version_of(&config) == 1, 4);
    // The same PCRs again still make a new version.
    enclave::update_pcrs(&mut config, PCR0, PCR1, PCR2);
    assert!(enclave::config_version_of(&config) == 2, 5);
    // Config id (gen_vectors.py), then the event layout.
    assert!(config_id == object::id_from_address(CONFIG_ID), 6);
    assert!(bcs::to_bytes(&updated[0]) == PCRS_UPDATED, 7);
    test_scenario::return_shared(config);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EBadPcrLength)]
fun update_pcrs_rejects_a_pcr_that_is_not_48_bytes() {
    let (mut scenario, config_id) = new_config();
    scenario.next_tx(ADMIN);
    let mut config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    enclave::update_pcrs(&mut config, repeat(1, 47), PCR1, PCR2);
    test_scenario::return_shared(config);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EDebugPcrs)]
fun update_pcrs_rejects_an_all_zero_pcr() {
    let (mut scenario, config_id) = new_config();
    scenario.next_tx(ADMIN);
    let mut config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    enclave::update_pcrs(&mut config, PCR0, PCR1, ZERO_PCR);
    test_scenario::return_shared(config);
    scenario.end();
}

// === Attested registration ===

#[test]
fun register_enclave_admits_a_document_with_the_configured_pcrs() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    let enclave_id = register_matching(&mut scenario, config_id);
    let registered = event::events_by_type<EnclaveRegistered>();
    assert!(registered.length() == 1, 0);

    scenario.next_tx(STRANGER);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let attested = scenario.take_shared_by_id<Enclave>(enclave_id);
    assert!(enclave::pk(&attested) == OPERATOR_PK, 1);
    assert!(enclave::enclave_config_id(&attested) == config_id, 2);
    assert!(enclave::config_version(&attested) == 1, 3);
    assert!(!enclave::is_debug(&attested), 4);
    assert!(enclave::owner(&attested) == OPERATOR, 5);
    assert!(enclave::attestation(&attested) == ATTESTATION, 6);
    assert!(enclave::attestation_timestamp_ms(&attested) == ATTESTATION_TS, 7);
    enclave::assert_current(&attested, &config);
    // Ids (gen_vectors.py), then the layouts.
    assert!(enclave_id == object::id_from_address(ATTESTED_ENCLAVE_ID), 8);
    assert!(bcs::to_bytes(&registered[0]) == ATTESTED_ENCLAVE_REGISTERED, 9);
    assert!(bcs::to_bytes(&attested) == ATTESTED_ENCLAVE_OBJECT, 10);
    test_scenario::return_shared(config);
    test_scenario::return_shared(attested);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EPcrMissing)]
fun register_enclave_rejects_a_document_without_pcr0() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    register(
        &mut scenario,
        config_id,
        option::none(),
        option::some(PCR1),
        option::some(PCR2),
        option::some(OPERATOR_PK),
    );
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EPcrMissing)]
fun register_enclave_rejects_a_document_without_pcr1() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    register(
        &mut scenario,
        config_id,
        option::some(PCR0),
        option::none(),
        option::some(PCR2),
        option::some(OPERATOR_PK),
    );
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EPcrMissing)]
fun register_enclave_rejects_a_document_without_pcr2() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    register(
        &mut scenario,
        config_id,
        option::some(PCR0),
        option::some(PCR1),
        option::none(),
        option::some(OPERATOR_PK),
    );
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EBadPcrLength)]
fun register_enclave_rejects_a_pcr_that_is_not_48_bytes() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    register(
        &mut scenario,
        config_id,
        option::some(PCR0),
        option::some(PCR1),
        option::some(repeat(0x21, 32)),
        option::some(OPERATOR_PK),
    );
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EDebugPcrs)]
fun register_enclave_rejects_a_debug_mode_document_against_an_unset_config() {
    // A debug-mode enclave reports all-zero PCRs, which equal a config nobody has set yet: refused.
    let (mut scenario, config_id) = new_config();
    register(
        &mut scenario,
        config_id,
        option::some(ZERO_PCR),
        option::some(ZERO_PCR),
        option::some(ZERO_PCR),
        option::some(OPERATOR_PK),
    );
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EDebugPcrs)]
fun register_enclave_rejects_a_document_with_one_zero_pcr() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    register(
        &mut scenario,
        config_id,
        option::some(PCR0),
        option::some(ZERO_PCR),
        option::some(PCR2),
        option::some(OPERATOR_PK),
    );
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EPcrMismatch)]
fun register_enclave_rejects_pcrs_that_differ_from_the_config() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    register(
        &mut scenario,
        config_id,
        option::some(PCR0),
        option::some(PCR1),
        option::some(PCR0),
        option::some(OPERATOR_PK),
    );
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::ENoPublicKey)]
fun register_enclave_rejects_a_document_without_public_key() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    register(
        &mut scenario,
        config_id,
        option::some(PCR0),
        option::some(PCR1),
        option::some(PCR2),
        option::none(),
    );
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EBadPkLength)]
fun register_enclave_rejects_a_public_key_that_is_not_32_bytes() {
    let (mut scenario, config_id) = new_config();
    set_pcrs(&mut scenario, config_id);
    register(
        &mut scenario,
        config_id,
        option::some(PCR0),
        option::some(PCR1),
        option::some(PCR2),
        option::some(repeat(0x30, 44)),
    );
    scenario.end();
}

// === Debug registration ===

#[test]
fun new_debug_enclave_registers_a_raw_key_without_attestation() {
    let (mut scenario, config_id) = new_config();
    let enclave_id = add_debug_enclave(&mut scenario, config_id);
    let registered = event::events_by_type<EnclaveRegistered>();
    assert!(registered.length() == 1, 0);
    scenario.next_tx(STRANGER);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let debug_enclave = scenario.take_shared_by_id<Enclave>(enclave_id);
    assert!(enclave::is_debug(&debug_enclave), 1);
    assert!(enclave::pk(&debug_enclave) == RFC_PK, 2);
    assert!(enclave::config_version(&debug_enclave) == 0, 3);
    assert!(enclave::owner(&debug_enclave) == ADMIN, 4);
    assert!(enclave::attestation(&debug_enclave) == vector[], 5);
    assert!(enclave::attestation_timestamp_ms(&debug_enclave) == 0, 6);
    enclave::assert_current(&debug_enclave, &config);
    assert!(enclave_id == object::id_from_address(ENCLAVE_ID), 7);
    test_scenario::return_shared(config);
    test_scenario::return_shared(debug_enclave);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EBadPkLength)]
fun new_debug_enclave_rejects_a_key_that_is_not_32_bytes() {
    let (mut scenario, config_id) = new_config();
    scenario.next_tx(ADMIN);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    enclave::new_debug_enclave(&config, repeat(1, 31), scenario.ctx());
    test_scenario::return_shared(config);
    scenario.end();
}

// === Staleness ===

#[test]
fun destroy_stale_removes_an_enclave_after_update_pcrs() {
    let (mut scenario, config_id) = new_config();
    let enclave_id = add_debug_enclave(&mut scenario, config_id);
    set_pcrs(&mut scenario, config_id);

    scenario.next_tx(STRANGER);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let stale = scenario.take_shared_by_id<Enclave>(enclave_id);
    enclave::destroy_stale(stale, &config);
    let destroyed = event::events_by_type<EnclaveDestroyed>();
    assert!(destroyed.length() == 1, 0);
    assert!(enclave_id == object::id_from_address(ENCLAVE_ID), 1);
    assert!(bcs::to_bytes(&destroyed[0]) == ENCLAVE_DESTROYED, 2);
    test_scenario::return_shared(config);

    scenario.next_tx(STRANGER);
    assert!(!test_scenario::has_most_recent_shared<Enclave>(), 3);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::ENotStale)]
fun destroy_stale_rejects_a_current_enclave() {
    let (mut scenario, config_id) = new_config();
    let enclave_id = add_debug_enclave(&mut scenario, config_id);
    scenario.next_tx(STRANGER);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let current = scenario.take_shared_by_id<Enclave>(enclave_id);
    enclave::destroy_stale(current, &config);
    test_scenario::return_shared(config);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EWrongConfig)]
fun destroy_stale_rejects_an_enclave_of_another_config() {
    let (mut scenario, config_id) = new_config();
    let other_config_id = enclave::create_config(scenario.ctx());
    let other_enclave_id = add_debug_enclave(&mut scenario, other_config_id);
    // `config_id` is now at version 1, above the other enclave's version 0.
    set_pcrs(&mut scenario, config_id);
    scenario.next_tx(STRANGER);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let foreign = scenario.take_shared_by_id<Enclave>(other_enclave_id);
    enclave::destroy_stale(foreign, &config);
    test_scenario::return_shared(config);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EWrongConfig)]
fun assert_current_rejects_a_stale_enclave() {
    let (mut scenario, config_id) = new_config();
    let enclave_id = add_debug_enclave(&mut scenario, config_id);
    set_pcrs(&mut scenario, config_id);
    scenario.next_tx(STRANGER);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let stale = scenario.take_shared_by_id<Enclave>(enclave_id);
    enclave::assert_current(&stale, &config);
    test_scenario::return_shared(config);
    test_scenario::return_shared(stale);
    scenario.end();
}

#[test, expected_failure(abort_code = daas::enclave::EWrongConfig)]
fun assert_current_rejects_an_enclave_of_another_config() {
    let (mut scenario, config_id) = new_config();
    let other_config_id = enclave::create_config(scenario.ctx());
    let other_enclave_id = add_debug_enclave(&mut scenario, other_config_id);
    scenario.next_tx(STRANGER);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let foreign = scenario.take_shared_by_id<Enclave>(other_enclave_id);
    enclave::assert_current(&foreign, &config);
    test_scenario::return_shared(config);
    test_scenario::return_shared(foreign);
    scenario.end();
}

// === Signatures ===

#[test]
fun verify_signature_checks_the_whole_intent_message() {
    let (mut scenario, config_id) = new_config();
    let enclave_id = add_debug_enclave(&mut scenario, config_id);
    scenario.next_tx(STRANGER);
    let signer = scenario.take_shared_by_id<Enclave>(enclave_id);
    assert!(enclave::verify_signature(&signer, 0, READING_TS, san_francisco(13), &SIG_READING), 0);
    // Any change to the intent, the timestamp or the payload breaks it.
    assert!(!enclave::verify_signature(&signer, 1, READING_TS, san_francisco(13), &SIG_READING), 1);
    assert!(
        !enclave::verify_signature(&signer, 0, READING_TS + 1, san_francisco(13), &SIG_READING),
        2,
    );
    assert!(!enclave::verify_signature(&signer, 0, READING_TS, san_francisco(14), &SIG_READING), 3);
    // A signature of the wrong length is rejected, not an abort.
    let mut truncated = SIG_READING;
    truncated.pop_back();
    assert!(!enclave::verify_signature(&signer, 0, READING_TS, san_francisco(13), &truncated), 4);
    test_scenario::return_shared(signer);
    scenario.end();
}

#[test]
fun verify_signature_rejects_another_enclaves_key() {
    let (mut scenario, config_id) = new_config();
    scenario.next_tx(ADMIN);
    let config = scenario.take_shared_by_id<EnclaveConfig>(config_id);
    let other_id = enclave::new_debug_enclave(&config, OPERATOR_PK, scenario.ctx());
    test_scenario::return_shared(config);
    scenario.next_tx(STRANGER);
    let other = scenario.take_shared_by_id<Enclave>(other_id);
    assert!(!enclave::verify_signature(&other, 0, READING_TS, san_francisco(13), &SIG_READING), 0);
    test_scenario::return_shared(other);
    scenario.end();
}
