// SPDX-License-Identifier: Apache-2.0

/// Enclaves that sign build results, and the configuration (expected PCRs) they are admitted under.
///
/// An attested enclave registers itself in one programmable transaction: the PTB first calls
/// `0x2::nitro_attestation::load_nitro_attestation(attestation, clock)` (an `entry` function that checks
/// the COSE_Sign1 signature and the certificate chain up to the AWS Nitro root), then passes the parsed
/// document and the same raw bytes to `register_enclave`. PCR 0, 1 and 2 are looked up by index, must not
/// be all zero (a debug-mode enclave) and must equal the config's; the document's public key becomes the
/// enclave's raw 32-byte Ed25519 key. Every later result is checked with a cheap `ed25519_verify`.
///
/// `update_pcrs` bumps the config `version`: enclaves registered under an older version are stale, may not
/// post results (checked by `daas::builds`), and anyone may delete them with `destroy_stale`.
///
/// Admin actions (creating the config, debug registration, PCR updates) are `public(package)` and reached
/// through `daas::builds`, so one `AdminCap` governs the whole package. Layouts, events and abort codes are
/// listed in `docs/protocol.md` and mirrored by `daas/chain/codecs.py`: keep field order unchanged.
module daas::enclave;

use std::bcs;
use std::string::{Self, String};
use sui::ed25519;
use sui::event;
use sui::nitro_attestation::{NitroAttestationDocument, PCREntry};

// === Abort codes (docs/protocol.md) ===

/// Attested PCRs differ from the config's.
const EPcrMismatch: u64 = 100;
/// All-zero PCRs (a debug-mode enclave, or a config never set).
const EDebugPcrs: u64 = 101;
/// The attestation document carries no public key.
const ENoPublicKey: u64 = 102;
/// A public key that is not 32 bytes.
const EBadPkLength: u64 = 103;
/// A PCR that is not 48 bytes.
const EBadPcrLength: u64 = 104;
/// PCR 0, 1 or 2 absent from the document.
const EPcrMissing: u64 = 105;
/// `destroy_stale` on a current enclave.
const ENotStale: u64 = 106;
/// `assert_current`/`destroy_stale` with an enclave of another config (`assert_current` also raises it
/// for an enclave registered under an older version of the right config).
const EWrongConfig: u64 = 107;

// === Constants ===

/// SHA-384 PCRs are 48 bytes.
const PCR_LENGTH: u64 = 48;
/// Raw Ed25519 public key.
const PK_LENGTH: u64 = 32;
/// Name of the config created at publish time.
const CONFIG_NAME: vector<u8> = b"daas-runner";
/// 48 zero bytes: the PCRs of a config nobody has set yet (refused at registration).
const ZERO_PCR: vector<u8> =
    x"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

// === Objects ===

/// Expected PCRs of the runner enclave image. Shared; created once by `builds::init`.
public struct EnclaveConfig has key {
    id: UID,
    name: String,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    /// Bumped by every `update_pcrs`; enclaves registered under an older version are stale.
    version: u64,
}

/// One running enclave instance and its ephemeral signing key. Shared.
public struct Enclave has key {
    id: UID,
    /// The config it was registered under.
    config_id: ID,
    /// The config's version at registration.
    config_version: u64,
    /// Raw 32-byte Ed25519 public key.
    pk: vector<u8>,
    /// Sender of the registration.
    owner: address,
    /// Registered without attestation (development networks only).
    debug: bool,
    /// The raw attestation document (empty for debug enclaves), kept for off-chain audit.
    attestation: vector<u8>,
    /// The document's own timestamp (0 for debug enclaves).
    attestation_timestamp_ms: u64,
}

#[allow(unused_field)]
/// What an enclave signs: `bcs(IntentMessage { intent, timestamp_ms, payload })`, plain Ed25519.
/// Each payload type has its own intent byte, because BCS carries no type name.
public struct IntentMessage<P: drop> has copy, drop {
    intent: u8,
    timestamp_ms: u64,
    payload: P,
}

// === Events ===

#[allow(unused_field)]
public struct EnclaveRegistered has copy, drop {
    enclave_id: ID,
    config_id: ID,
    config_version: u64,
    pk: vector<u8>,
    /// The PCRs the enclave was admitted with (empty for debug enclaves, which present none).
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    attestation_timestamp_ms: u64,
    owner: address,
    debug: bool,
}

#[allow(unused_field)]
public struct PcrsUpdated has copy, drop {
    config_id: ID,
    version: u64,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
}

#[allow(unused_field)]
public struct EnclaveDestroyed has copy, drop {
    enclave_id: ID,
    config_id: ID,
}

// === Public functions ===

/// Registers an attested enclave: `document` comes from `0x2::nitro_attestation::load_nitro_attestation`
/// called earlier in the same PTB with the same `attestation` bytes. Move cannot prove the two byte
/// strings are equal; the stored copy is for off-chain audit (its public key and PCRs must match).
/// Shares an `Enclave` and returns its id.
public fun register_enclave(
    config: &EnclaveConfig,
    document: NitroAttestationDocument,
    attestation: vector<u8>,
    ctx: &mut TxContext,
): ID {
    let pcrs = document.pcrs();
    let pcr0 = find_pcr(pcrs, 0);
    let pcr1 = find_pcr(pcrs, 1);
    let pcr2 = find_pcr(pcrs, 2);
    let public_key = *document.public_key();
    let timestamp_ms = *document.timestamp();
    register_attested(
        config,
        pcr0,
        pcr1,
        pcr2,
        public_key,
        attestation,
        timestamp_ms,
        ctx,
    )
}

/// Deletes an enclave registered under an older version of its config. Anyone may call it.
public fun destroy_stale(enclave: Enclave, config: &EnclaveConfig) {
    assert!(enclave.config_id == object::id(config), EWrongConfig);
    assert!(enclave.config_version < config.version, ENotStale);
    let Enclave {
        id,
        config_id,
        config_version: _,
        pk: _,
        owner: _,
        debug: _,
        attestation: _,
        attestation_timestamp_ms: _,
    } = enclave;
    event::emit(EnclaveDestroyed { enclave_id: object::uid_to_inner(&id), config_id });
    object::delete(id);
}

/// Aborts with `EWrongConfig` unless the enclave was registered under `config` at its current version.
public fun assert_current(enclave: &Enclave, config: &EnclaveConfig) {
    assert!(enclave.config_id == object::id(config), EWrongConfig);
    assert!(enclave.config_version == config.version, EWrongConfig);
}

/// `ed25519_verify(signature, pk, bcs(IntentMessage { intent, timestamp_ms, payload }))`.
/// Returns false (never aborts) for a signature of the wrong length.
public fun verify_signature<P: drop>(
    enclave: &Enclave,
    intent: u8,
    timestamp_ms: u64,
    payload: P,
    signature: &vector<u8>,
): bool {
    let message = intent_message_bytes(intent, timestamp_ms, payload);
    ed25519::ed25519_verify(signature, &enclave.pk, &message)
}

// === Getters ===

public fun pk(enclave: &Enclave): vector<u8> {
    enclave.pk
}

public fun config_version(enclave: &Enclave): u64 {
    enclave.config_version
}

public fun enclave_config_id(enclave: &Enclave): ID {
    enclave.config_id
}

public fun is_debug(enclave: &Enclave): bool {
    enclave.debug
}

public fun owner(enclave: &Enclave): address {
    enclave.owner
}

public fun attestation(enclave: &Enclave): vector<u8> {
    enclave.attestation
}

public fun attestation_timestamp_ms(enclave: &Enclave): u64 {
    enclave.attestation_timestamp_ms
}

public fun config_pcr0(config: &EnclaveConfig): vector<u8> {
    config.pcr0
}

public fun config_pcr1(config: &EnclaveConfig): vector<u8> {
    config.pcr1
}

public fun config_pcr2(config: &EnclaveConfig): vector<u8> {
    config.pcr2
}

public fun config_version_of(config: &EnclaveConfig): u64 {
    config.version
}

public fun config_name(config: &EnclaveConfig): String {
    config.name
}

// === Package functions (reached through `daas::builds`) ===

/// Shares the config named `daas-runner` with all-zero PCRs and version 0. No attested enclave can
/// register until real PCRs are set, because all-zero PCRs are refused.
public(package) fun create_config(ctx: &mut TxContext): ID {
    let config = EnclaveConfig {
        id: object::new(ctx),
        name: string::utf8(CONFIG_NAME),
        pcr0: ZERO_PCR,
        pcr1: ZERO_PCR,
        pcr2: ZERO_PCR,
        version: 0,
    };
    let config_id = object::id(&config);
    transfer::share_object(config);
    config_id
}

/// Shares an `Enclave` with `debug: true` for a raw 32-byte key, without attestation. The caller
/// (`builds::register_debug_enclave`) checks that the registry allows debug enclaves.
public(package) fun new_debug_enclave(
    config: &EnclaveConfig,
    pk: vector<u8>,
    ctx: &mut TxContext,
): ID {
    assert!(pk.length() == PK_LENGTH, EBadPkLength);
    new_enclave(config, pk, true, vector[], vector[], vector[], vector[], 0, ctx)
}

/// Sets new 48-byte, not all-zero PCRs and bumps the version: every enclave registered before is stale.
public(package) fun update_pcrs(
    config: &mut EnclaveConfig,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
) {
    assert_valid_pcrs(&pcr0, &pcr1, &pcr2);
    config.pcr0 = pcr0;
    config.pcr1 = pcr1;
    config.pcr2 = pcr2;
    config.version = config.version + 1;
    event::emit(PcrsUpdated {
        config_id: object::id(config),
        version: config.version,
        pcr0: config.pcr0,
        pcr1: config.pcr1,
        pcr2: config.pcr2,
    });
}

/// The exact bytes an enclave signs: `bcs(IntentMessage { intent, timestamp_ms, payload })`.
public(package) fun intent_message_bytes<P: drop>(
    intent: u8,
    timestamp_ms: u64,
    payload: P,
): vector<u8> {
    let message = IntentMessage { intent, timestamp_ms, payload };
    bcs::to_bytes(&message)
}

// === Private functions ===

/// Every registration check, over plain values so tests can reach each abort without a real document.
/// Order: PCRs present, 48 bytes, not all zero, equal to the config's; then the public key.
fun register_attested(
    config: &EnclaveConfig,
    pcr0: Option<vector<u8>>,
    pcr1: Option<vector<u8>>,
    pcr2: Option<vector<u8>>,
    public_key: Option<vector<u8>>,
    attestation: vector<u8>,
    attestation_timestamp_ms: u64,
    ctx: &mut TxContext,
): ID {
    assert!(pcr0.is_some() && pcr1.is_some() && pcr2.is_some(), EPcrMissing);
    let pcr0 = pcr0.destroy_some();
    let pcr1 = pcr1.destroy_some();
    let pcr2 = pcr2.destroy_some();
    assert_valid_pcrs(&pcr0, &pcr1, &pcr2);
    assert!(&pcr0 == &config.pcr0 && &pcr1 == &config.pcr1 && &pcr2 == &config.pcr2, EPcrMismatch);
    assert!(public_key.is_some(), ENoPublicKey);
    let pk = public_key.destroy_some();
    assert!(pk.length() == PK_LENGTH, EBadPkLength);
    new_enclave(
        config,
        pk,
        false,
        pcr0,
        pcr1,
        pcr2,
        attestation,
        attestation_timestamp_ms,
        ctx,
    )
}

/// Shares the enclave and emits `EnclaveRegistered`.
fun new_enclave(
    config: &EnclaveConfig,
    pk: vector<u8>,
    debug: bool,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    attestation: vector<u8>,
    attestation_timestamp_ms: u64,
    ctx: &mut TxContext,
): ID {
    let enclave = Enclave {
        id: object::new(ctx),
        config_id: object::id(config),
        config_version: config.version,
        pk,
        owner: ctx.sender(),
        debug,
        attestation,
        attestation_timestamp_ms,
    };
    let enclave_id = object::id(&enclave);
    event::emit(EnclaveRegistered {
        enclave_id,
        config_id: enclave.config_id,
        config_version: enclave.config_version,
        pk: enclave.pk,
        pcr0,
        pcr1,
        pcr2,
        attestation_timestamp_ms,
        owner: enclave.owner,
        debug,
    });
    transfer::share_object(enclave);
    enclave_id
}

/// The value of the PCR with `index`, looked up by index (never by position: the native parser may
/// leave out all-zero PCRs on some networks).
fun find_pcr(pcrs: &vector<PCREntry>, index: u8): Option<vector<u8>> {
    let mut i = 0;
    let n = pcrs.length();
    while (i < n) {
        let entry = &pcrs[i];
        if (entry.index() == index) {
            return option::some(*entry.value())
        };
        i = i + 1;
    };
    option::none()
}

fun assert_valid_pcrs(pcr0: &vector<u8>, pcr1: &vector<u8>, pcr2: &vector<u8>) {
    assert!(
        pcr0.length() == PCR_LENGTH && pcr1.length() == PCR_LENGTH && pcr2.length() == PCR_LENGTH,
        EBadPcrLength,
    );
    assert!(!is_all_zero(pcr0) && !is_all_zero(pcr1) && !is_all_zero(pcr2), EDebugPcrs);
}

fun is_all_zero(bytes: &vector<u8>): bool {
    let mut i = 0;
    let n = bytes.length();
    while (i < n) {
        if (bytes[i] != 0) {
            return false
        };
        i = i + 1;
    };
    true
}

// === Test-only ===

#[test_only]
/// `register_enclave` without a document: the values `load_nitro_attestation` would have parsed.
public fun register_for_testing(
    config: &EnclaveConfig,
    pcr0: Option<vector<u8>>,
    pcr1: Option<vector<u8>>,
    pcr2: Option<vector<u8>>,
    public_key: Option<vector<u8>>,
    attestation: vector<u8>,
    attestation_timestamp_ms: u64,
    ctx: &mut TxContext,
): ID {
    register_attested(
        config,
        pcr0,
        pcr1,
        pcr2,
        public_key,
        attestation,
        attestation_timestamp_ms,
        ctx,
    )
}
