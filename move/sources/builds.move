// SPDX-License-Identifier: Apache-2.0

/// Build requests, their escrowed fees and their enclave-signed results.
///
/// A user calls `request_build` with a `BuildSpec` (the Walrus blob id and sha256 of a source bundle, a
/// Dockerfile path and a platform) and a fee, which is escrowed in a shared `BuildRequest`. A runner builds
/// the image inside an enclave, which signs `bcs(IntentMessage { intent, timestamp_ms, payload })`; anyone
/// (a relayer) posts the result with `complete` (intent 1) or `fail` (intent 2). The payload is rebuilt on
/// chain from the request's own id and `spec_digest`, so a signature binds exactly one request.
///
/// Money: success and requester-fault failures (codes 100-199) pay the escrow to the registry's payee;
/// infrastructure failures (200-299) refund it; after the service window (`deadline_ms`) the requester may
/// cancel a pending request for a full refund.
///
/// Layouts, events and abort codes are listed in `docs/protocol.md` and mirrored by
/// `daas/chain/codecs.py` (BCS is positional): keep every field order unchanged.
module daas::builds;

use daas::enclave::{Self, Enclave, EnclaveConfig};
use std::bcs;
use std::hash;
use std::string::{Self, String};
use sui::balance::{Self, Balance};
use sui::clock::Clock;
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;

// === Abort codes (docs/protocol.md) ===

/// `request_build` while the registry is paused.
const EPaused: u64 = 1;
/// Registry `version` differs from `VERSION` (or `migrate` has nothing to do).
const EWrongVersion: u64 = 2;
/// Payment below `min_fee`.
const EFeeTooLow: u64 = 3;
/// Blob id > 128, Dockerfile path > 256 or platform > 32 bytes.
const EInputTooLong: u64 = 4;
/// A sha256 that is not 32 bytes.
const EBadDigestLength: u64 = 5;
/// cancel/complete/fail on a settled request.
const ENotPending: u64 = 6;
/// cancel by someone other than the requester.
const ENotRequester: u64 = 7;
/// cancel at or before the deadline.
const ETooEarlyToCancel: u64 = 8;
/// The config is not the registry's, or the enclave belongs to another config.
const EWrongEnclaveConfig: u64 = 9;
/// The enclave's config version is older than the config's.
const EStaleEnclave: u64 = 10;
/// Signed timestamp before the request or more than 60 s ahead of the clock.
const EBadTimestamp: u64 = 11;
/// The Ed25519 signature does not verify.
const EInvalidSignature: u64 = 12;
/// `fail` with a code outside 100-299.
const EBadErrorCode: u64 = 13;
/// Debug registration, or a debug enclave's result, while `allow_debug` is false.
const EDebugNotAllowed: u64 = 14;
/// Empty blob id, Dockerfile path or platform.
const EEmptyInput: u64 = 15;
/// `set_build_timeout_ms` outside 60_000..=86_400_000.
const EBadTimeout: u64 = 16;

// === Constants ===

/// Package version; `migrate` raises the registry to it after an upgrade.
const VERSION: u64 = 1;

const STATUS_PENDING: u8 = 0;
const STATUS_SUCCEEDED: u8 = 1;
const STATUS_FAILED: u8 = 2;
const STATUS_CANCELLED: u8 = 3;

/// Intent byte of `BuildSucceededPayload`.
const INTENT_BUILD_SUCCEEDED: u8 = 1;
/// Intent byte of `BuildFailedPayload`.
const INTENT_BUILD_FAILED: u8 = 2;

/// 0.01 SUI.
const DEFAULT_MIN_FEE: u64 = 10_000_000;
/// One hour.
const DEFAULT_BUILD_TIMEOUT_MS: u64 = 3_600_000;
const MIN_BUILD_TIMEOUT_MS: u64 = 60_000;
const MAX_BUILD_TIMEOUT_MS: u64 = 86_400_000;
/// How far a signed timestamp may run ahead of the on-chain clock.
const MAX_CLOCK_SKEW_MS: u64 = 60_000;

const DIGEST_LENGTH: u64 = 32;
const MAX_BLOB_ID_LENGTH: u64 = 128;
const MAX_DOCKERFILE_PATH_LENGTH: u64 = 256;
const MAX_PLATFORM_LENGTH: u64 = 32;

/// 100-199: the requester's fault (the fee goes to the payee).
const REQUESTER_FAULT_MIN: u16 = 100;
const REQUESTER_FAULT_MAX: u16 = 199;
/// 200-299: ours (full refund).
const INFRA_FAULT_MAX: u16 = 299;

// === Objects ===

/// One-time witness.
public struct BUILDS has drop {}

/// Created once in `init` and sent to the publisher; required by every admin function.
public struct AdminCap has key, store {
    id: UID,
}

/// Service settings. Shared, one per deployment; user calls take it by `&`.
public struct Registry has key {
    id: UID,
    version: u64,
    payee: address,
    min_fee: u64,
    build_timeout_ms: u64,
    paused: bool,
    enclave_config_id: ID,
    allow_debug: bool,
}

/// What to build. `spec_digest = sha2_256(bcs(spec))`.
public struct BuildSpec has copy, drop, store {
    source_blob_id: String,
    source_sha256: vector<u8>,
    dockerfile_path: String,
    platform: String,
}

/// A posted result, stored in the request.
public struct BuildResult has copy, drop, store {
    enclave_id: ID,
    succeeded: bool,
    image_digest: vector<u8>,
    image_index_blob_id: String,
    log_digest: vector<u8>,
    log_blob_id: String,
    error_code: u16,
    timestamp_ms: u64,
    signature: vector<u8>,
}

/// One build; shared and kept forever as the public record. Its id is the request id.
public struct BuildRequest has key {
    id: UID,
    requester: address,
    spec: BuildSpec,
    spec_digest: vector<u8>,
    /// Escrow; empty once settled.
    fee: Balance<SUI>,
    fee_amount: u64,
    status: u8,
    created_at_ms: u64,
    deadline_ms: u64,
    result: Option<BuildResult>,
}

#[allow(unused_field)]
/// Signed with intent 1.
public struct BuildSucceededPayload has copy, drop {
    request_id: ID,
    spec_digest: vector<u8>,
    image_digest: vector<u8>,
    image_index_blob_id: String,
    log_digest: vector<u8>,
    log_blob_id: String,
}

#[allow(unused_field)]
/// Signed with intent 2.
public struct BuildFailedPayload has copy, drop {
    request_id: ID,
    spec_digest: vector<u8>,
    error_code: u16,
    log_digest: vector<u8>,
    log_blob_id: String,
}

// === Events ===

#[allow(unused_field)]
public struct BuildRequested has copy, drop {
    request_id: ID,
    requester: address,
    source_blob_id: String,
    source_sha256: vector<u8>,
    dockerfile_path: String,
    platform: String,
    spec_digest: vector<u8>,
    fee: u64,
    created_at_ms: u64,
    deadline_ms: u64,
}

#[allow(unused_field)]
public struct BuildSucceeded has copy, drop {
    request_id: ID,
    requester: address,
    enclave_id: ID,
    enclave_pk: vector<u8>,
    config_version: u64,
    spec_digest: vector<u8>,
    image_digest: vector<u8>,
    image_index_blob_id: String,
    log_digest: vector<u8>,
    log_blob_id: String,
    timestamp_ms: u64,
    signature: vector<u8>,
    fee_paid: u64,
    payee: address,
}

#[allow(unused_field)]
public struct BuildFailed has copy, drop {
    request_id: ID,
    requester: address,
    enclave_id: ID,
    enclave_pk: vector<u8>,
    config_version: u64,
    spec_digest: vector<u8>,
    error_code: u16,
    log_digest: vector<u8>,
    log_blob_id: String,
    timestamp_ms: u64,
    signature: vector<u8>,
    fee_paid: u64,
    refunded: u64,
}

#[allow(unused_field)]
public struct BuildCancelled has copy, drop {
    request_id: ID,
    requester: address,
    refunded: u64,
    cancelled_at_ms: u64,
}

#[allow(unused_field)]
/// Emitted by `init` and by every admin setter.
public struct RegistryUpdated has copy, drop {
    registry_id: ID,
    payee: address,
    min_fee: u64,
    build_timeout_ms: u64,
    paused: bool,
    enclave_config_id: ID,
    allow_debug: bool,
}

// === Publish ===

/// Creates and shares the `EnclaveConfig` and the `Registry` (payee = publisher, 0.01 SUI minimum fee,
/// one-hour window, not paused, no debug enclaves), and sends the `AdminCap` to the publisher.
fun init(_otw: BUILDS, ctx: &mut TxContext) {
    let enclave_config_id = enclave::create_config(ctx);
    let registry = Registry {
        id: object::new(ctx),
        version: VERSION,
        payee: ctx.sender(),
        min_fee: DEFAULT_MIN_FEE,
        build_timeout_ms: DEFAULT_BUILD_TIMEOUT_MS,
        paused: false,
        enclave_config_id,
        allow_debug: false,
    };
    emit_registry_updated(&registry);
    transfer::share_object(registry);
    transfer::public_transfer(AdminCap { id: object::new(ctx) }, ctx.sender());
}

// === User functions ===

/// Escrows the whole `payment` and shares a PENDING `BuildRequest`; returns the request id.
/// Checks, in order: registry version, not paused, `payment >= min_fee`, then the spec field by field
/// (blob id non-empty and <= 128 bytes, sha256 of 32 bytes, Dockerfile path non-empty and <= 256 bytes,
/// platform non-empty and <= 32 bytes).
public fun request_build(
    reg: &Registry,
    source_blob_id: String,
    source_sha256: vector<u8>,
    dockerfile_path: String,
    platform: String,
    payment: Coin<SUI>,
    clock: &Clock,
    ctx: &mut TxContext,
): ID {
    assert!(reg.version == VERSION, EWrongVersion);
    assert!(!reg.paused, EPaused);
    let fee_amount = payment.value();
    assert!(fee_amount >= reg.min_fee, EFeeTooLow);
    let spec = BuildSpec { source_blob_id, source_sha256, dockerfile_path, platform };
    assert_valid_spec(&spec);
    let digest = spec_digest(&spec);
    let created_at_ms = clock.timestamp_ms();
    let deadline_ms = created_at_ms + reg.build_timeout_ms;
    let requester = ctx.sender();
    let request = BuildRequest {
        id: object::new(ctx),
        requester,
        spec,
        spec_digest: digest,
        fee: coin::into_balance(payment),
        fee_amount,
        status: STATUS_PENDING,
        created_at_ms,
        deadline_ms,
        result: option::none(),
    };
    let request_id = object::id(&request);
    event::emit(BuildRequested {
        request_id,
        requester,
        source_blob_id: request.spec.source_blob_id,
        source_sha256: request.spec.source_sha256,
        dockerfile_path: request.spec.dockerfile_path,
        platform: request.spec.platform,
        spec_digest: request.spec_digest,
        fee: fee_amount,
        created_at_ms,
        deadline_ms,
    });
    transfer::share_object(request);
    request_id
}

/// Requester only, once the service window is over (`now > deadline_ms`): refunds the escrow.
/// Checks, in order: PENDING, sender is the requester, past the deadline.
public fun cancel(req: &mut BuildRequest, clock: &Clock, ctx: &mut TxContext) {
    assert!(req.status == STATUS_PENDING, ENotPending);
    assert!(ctx.sender() == req.requester, ENotRequester);
    let now = clock.timestamp_ms();
    assert!(now > req.deadline_ms, ETooEarlyToCancel);
    let escrow = balance::withdraw_all(&mut req.fee);
    let refunded = escrow.value();
    pay(escrow, req.requester, ctx);
    req.status = STATUS_CANCELLED;
    event::emit(BuildCancelled {
        request_id: object::id(req),
        requester: req.requester,
        refunded,
        cancelled_at_ms: now,
    });
}

/// Posts a successful result signed by `enclave` (anyone may relay it) and pays the escrow to the payee.
/// Checks, in order: registry version; PENDING; `config` is the registry's; the enclave belongs to it at
/// its current version; debug enclaves only while `allow_debug`; digests of 32 bytes and blob ids of at
/// most 128 bytes; `created_at_ms <= timestamp_ms <= now + 60_000`; the signature over intent 1.
public fun complete(
    reg: &Registry,
    req: &mut BuildRequest,
    config: &EnclaveConfig,
    enclave: &Enclave,
    image_digest: vector<u8>,
    image_index_blob_id: String,
    log_digest: vector<u8>,
    log_blob_id: String,
    timestamp_ms: u64,
    signature: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    assert_can_post(reg, req, config, enclave);
    assert!(
        image_digest.length() == DIGEST_LENGTH && log_digest.length() == DIGEST_LENGTH,
        EBadDigestLength,
    );
    assert!(
        image_index_blob_id.length() <= MAX_BLOB_ID_LENGTH
            && log_blob_id.length() <= MAX_BLOB_ID_LENGTH,
        EInputTooLong,
    );
    assert_timestamp(req, timestamp_ms, clock);
    let request_id = object::id(req);
    let payload = BuildSucceededPayload {
        request_id,
        spec_digest: req.spec_digest,
        image_digest,
        image_index_blob_id,
        log_digest,
        log_blob_id,
    };
    assert!(
        enclave.verify_signature(INTENT_BUILD_SUCCEEDED, timestamp_ms, payload, &signature),
        EInvalidSignature,
    );

    let escrow = balance::withdraw_all(&mut req.fee);
    let fee_paid = escrow.value();
    pay(escrow, reg.payee, ctx);
    let enclave_id = object::id(enclave);
    req.status = STATUS_SUCCEEDED;
    req.result =
        option::some(BuildResult {
            enclave_id,
            succeeded: true,
            image_digest,
            image_index_blob_id,
            log_digest,
            log_blob_id,
            error_code: 0,
            timestamp_ms,
            signature,
        });
    event::emit(BuildSucceeded {
        request_id,
        requester: req.requester,
        enclave_id,
        enclave_pk: enclave.pk(),
        config_version: enclave.config_version(),
        spec_digest: req.spec_digest,
        image_digest,
        image_index_blob_id,
        log_digest,
        log_blob_id,
        timestamp_ms,
        signature,
        fee_paid,
        payee: reg.payee,
    });
}

/// Posts a failure signed by `enclave`. `error_code` 100-199 (requester's fault) pays the escrow to the
/// payee, 200-299 (infrastructure) refunds it to the requester.
/// Checks, in order: as `complete` (log digest of 32 bytes, log blob id of at most 128 bytes), then the
/// error code range, then the signature over intent 2.
public fun fail(
    reg: &Registry,
    req: &mut BuildRequest,
    config: &EnclaveConfig,
    enclave: &Enclave,
    error_code: u16,
    log_digest: vector<u8>,
    log_blob_id: String,
    timestamp_ms: u64,
    signature: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    assert_can_post(reg, req, config, enclave);
    assert!(log_digest.length() == DIGEST_LENGTH, EBadDigestLength);
    assert!(log_blob_id.length() <= MAX_BLOB_ID_LENGTH, EInputTooLong);
    assert_timestamp(req, timestamp_ms, clock);
    assert!(error_code >= REQUESTER_FAULT_MIN && error_code <= INFRA_FAULT_MAX, EBadErrorCode);
    let request_id = object::id(req);
    let payload = BuildFailedPayload {
        request_id,
        spec_digest: req.spec_digest,
        error_code,
        log_digest,
        log_blob_id,
    };
    assert!(
        enclave.verify_signature(INTENT_BUILD_FAILED, timestamp_ms, payload, &signature),
        EInvalidSignature,
    );

    let escrow = balance::withdraw_all(&mut req.fee);
    let amount = escrow.value();
    let requester_fault = error_code <= REQUESTER_FAULT_MAX;
    let fee_paid = if (requester_fault) amount else 0;
    let refunded = amount - fee_paid;
    let recipient = if (requester_fault) reg.payee else req.requester;
    pay(escrow, recipient, ctx);
    let enclave_id = object::id(enclave);
    req.status = STATUS_FAILED;
    req.result =
        option::some(BuildResult {
            enclave_id,
            succeeded: false,
            image_digest: vector[],
            image_index_blob_id: string::utf8(b""),
            log_digest,
            log_blob_id,
            error_code,
            timestamp_ms,
            signature,
        });
    event::emit(BuildFailed {
        request_id,
        requester: req.requester,
        enclave_id,
        enclave_pk: enclave.pk(),
        config_version: enclave.config_version(),
        spec_digest: req.spec_digest,
        error_code,
        log_digest,
        log_blob_id,
        timestamp_ms,
        signature,
        fee_paid,
        refunded,
    });
}

// === Admin functions ===

/// Registers a raw 32-byte Ed25519 key as a debug enclave (no attestation) under `config`; only while
/// the registry allows debug enclaves (development networks).
public fun register_debug_enclave(
    reg: &Registry,
    _: &AdminCap,
    config: &EnclaveConfig,
    pk: vector<u8>,
    ctx: &mut TxContext,
): ID {
    assert!(reg.version == VERSION, EWrongVersion);
    assert!(reg.allow_debug, EDebugNotAllowed);
    enclave::new_debug_enclave(config, pk, ctx)
}

/// Sets 48-byte, not all-zero PCRs and bumps the config version (every enclave registered before is
/// stale).
public fun update_pcrs(
    reg: &Registry,
    _: &AdminCap,
    config: &mut EnclaveConfig,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
) {
    assert!(reg.version == VERSION, EWrongVersion);
    enclave::update_pcrs(config, pcr0, pcr1, pcr2);
}

public fun set_payee(reg: &mut Registry, _: &AdminCap, payee: address) {
    assert!(reg.version == VERSION, EWrongVersion);
    reg.payee = payee;
    emit_registry_updated(reg);
}

public fun set_min_fee(reg: &mut Registry, _: &AdminCap, min_fee: u64) {
    assert!(reg.version == VERSION, EWrongVersion);
    reg.min_fee = min_fee;
    emit_registry_updated(reg);
}

/// `build_timeout_ms` within 60_000..=86_400_000; applies to requests made afterwards.
public fun set_build_timeout_ms(reg: &mut Registry, _: &AdminCap, build_timeout_ms: u64) {
    assert!(reg.version == VERSION, EWrongVersion);
    assert!(
        build_timeout_ms >= MIN_BUILD_TIMEOUT_MS && build_timeout_ms <= MAX_BUILD_TIMEOUT_MS,
        EBadTimeout,
    );
    reg.build_timeout_ms = build_timeout_ms;
    emit_registry_updated(reg);
}

public fun set_paused(reg: &mut Registry, _: &AdminCap, paused: bool) {
    assert!(reg.version == VERSION, EWrongVersion);
    reg.paused = paused;
    emit_registry_updated(reg);
}

public fun set_allow_debug(reg: &mut Registry, _: &AdminCap, allow_debug: bool) {
    assert!(reg.version == VERSION, EWrongVersion);
    reg.allow_debug = allow_debug;
    emit_registry_updated(reg);
}

public fun set_enclave_config(reg: &mut Registry, _: &AdminCap, enclave_config_id: ID) {
    assert!(reg.version == VERSION, EWrongVersion);
    reg.enclave_config_id = enclave_config_id;
    emit_registry_updated(reg);
}

/// Raises `reg.version` to `VERSION` after a package upgrade; aborts when there is nothing to do.
public fun migrate(reg: &mut Registry, _: &AdminCap) {
    assert!(reg.version < VERSION, EWrongVersion);
    reg.version = VERSION;
}

// === Helpers and getters ===

public fun new_spec(
    source_blob_id: String,
    source_sha256: vector<u8>,
    dockerfile_path: String,
    platform: String,
): BuildSpec {
    BuildSpec { source_blob_id, source_sha256, dockerfile_path, platform }
}

/// `sha2_256(bcs(spec))`, as `request_build` stores it.
public fun spec_digest(spec: &BuildSpec): vector<u8> {
    hash::sha2_256(bcs::to_bytes(spec))
}

/// The exact bytes an enclave signs for a successful build: bcs of the intent-1 `IntentMessage`.
public fun succeeded_message(
    request_id: ID,
    spec_digest: vector<u8>,
    image_digest: vector<u8>,
    image_index_blob_id: String,
    log_digest: vector<u8>,
    log_blob_id: String,
    timestamp_ms: u64,
): vector<u8> {
    enclave::intent_message_bytes(
        INTENT_BUILD_SUCCEEDED,
        timestamp_ms,
        BuildSucceededPayload {
            request_id,
            spec_digest,
            image_digest,
            image_index_blob_id,
            log_digest,
            log_blob_id,
        },
    )
}

/// The exact bytes an enclave signs for a failed build: bcs of the intent-2 `IntentMessage`.
public fun failed_message(
    request_id: ID,
    spec_digest: vector<u8>,
    error_code: u16,
    log_digest: vector<u8>,
    log_blob_id: String,
    timestamp_ms: u64,
): vector<u8> {
    enclave::intent_message_bytes(
        INTENT_BUILD_FAILED,
        timestamp_ms,
        BuildFailedPayload { request_id, spec_digest, error_code, log_digest, log_blob_id },
    )
}

public fun registry_version(reg: &Registry): u64 {
    reg.version
}

public fun payee(reg: &Registry): address {
    reg.payee
}

public fun min_fee(reg: &Registry): u64 {
    reg.min_fee
}

public fun build_timeout_ms(reg: &Registry): u64 {
    reg.build_timeout_ms
}

public fun is_paused(reg: &Registry): bool {
    reg.paused
}

public fun enclave_config_id(reg: &Registry): ID {
    reg.enclave_config_id
}

public fun allow_debug(reg: &Registry): bool {
    reg.allow_debug
}

public fun request_status(req: &BuildRequest): u8 {
    req.status
}

public fun request_spec_digest(req: &BuildRequest): vector<u8> {
    req.spec_digest
}

public fun request_requester(req: &BuildRequest): address {
    req.requester
}

public fun request_deadline_ms(req: &BuildRequest): u64 {
    req.deadline_ms
}

public fun request_result(req: &BuildRequest): Option<BuildResult> {
    req.result
}

public fun request_spec(req: &BuildRequest): BuildSpec {
    req.spec
}

public fun request_created_at_ms(req: &BuildRequest): u64 {
    req.created_at_ms
}

public fun request_fee_amount(req: &BuildRequest): u64 {
    req.fee_amount
}

/// What is still held in escrow (0 once settled).
public fun request_escrow(req: &BuildRequest): u64 {
    req.fee.value()
}

public fun result_enclave_id(result: &BuildResult): ID {
    result.enclave_id
}

public fun result_succeeded(result: &BuildResult): bool {
    result.succeeded
}

public fun result_image_digest(result: &BuildResult): vector<u8> {
    result.image_digest
}

public fun result_image_index_blob_id(result: &BuildResult): String {
    result.image_index_blob_id
}

public fun result_log_digest(result: &BuildResult): vector<u8> {
    result.log_digest
}

public fun result_log_blob_id(result: &BuildResult): String {
    result.log_blob_id
}

public fun result_error_code(result: &BuildResult): u16 {
    result.error_code
}

public fun result_timestamp_ms(result: &BuildResult): u64 {
    result.timestamp_ms
}

public fun result_signature(result: &BuildResult): vector<u8> {
    result.signature
}

// === Private functions ===

fun assert_valid_spec(spec: &BuildSpec) {
    assert_text(&spec.source_blob_id, MAX_BLOB_ID_LENGTH);
    assert!(spec.source_sha256.length() == DIGEST_LENGTH, EBadDigestLength);
    assert_text(&spec.dockerfile_path, MAX_DOCKERFILE_PATH_LENGTH);
    assert_text(&spec.platform, MAX_PLATFORM_LENGTH);
}

fun assert_text(text: &String, max_length: u64) {
    assert!(!text.is_empty(), EEmptyInput);
    assert!(text.length() <= max_length, EInputTooLong);
}

/// The checks `complete` and `fail` share, before their own input checks.
fun assert_can_post(reg: &Registry, req: &BuildRequest, config: &EnclaveConfig, enclave: &Enclave) {
    assert!(reg.version == VERSION, EWrongVersion);
    assert!(req.status == STATUS_PENDING, ENotPending);
    let config_id = object::id(config);
    assert!(config_id == reg.enclave_config_id, EWrongEnclaveConfig);
    assert!(enclave.enclave_config_id() == config_id, EWrongEnclaveConfig);
    assert!(enclave.config_version() == config.config_version_of(), EStaleEnclave);
    assert!(!enclave.is_debug() || reg.allow_debug, EDebugNotAllowed);
}

fun assert_timestamp(req: &BuildRequest, timestamp_ms: u64, clock: &Clock) {
    assert!(
        timestamp_ms >= req.created_at_ms && timestamp_ms <= clock.timestamp_ms() + MAX_CLOCK_SKEW_MS,
        EBadTimestamp,
    );
}

/// Sends `funds` to `recipient` as a coin; a zero balance is destroyed instead of sending dust.
fun pay(funds: Balance<SUI>, recipient: address, ctx: &mut TxContext) {
    if (funds.value() == 0) {
        balance::destroy_zero(funds);
    } else {
        transfer::public_transfer(coin::from_balance(funds, ctx), recipient);
    }
}

fun emit_registry_updated(reg: &Registry) {
    event::emit(RegistryUpdated {
        registry_id: object::id(reg),
        payee: reg.payee,
        min_fee: reg.min_fee,
        build_timeout_ms: reg.build_timeout_ms,
        paused: reg.paused,
        enclave_config_id: reg.enclave_config_id,
        allow_debug: reg.allow_debug,
    });
}

// === Test-only ===

#[test_only]
/// Runs `init` as the publisher would.
public fun init_for_testing(ctx: &mut TxContext) {
    init(BUILDS {}, ctx);
}

#[test_only]
/// Simulates a registry left behind by an older (or newer) package version.
public fun set_version_for_testing(reg: &mut Registry, version: u64) {
    reg.version = version;
}

#[test_only]
public fun package_version(): u64 {
    VERSION
}
