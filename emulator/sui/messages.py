"""The node's records as `sui.rpc.v2` messages (pysui's betterproto2 classes), complete before masking.

Each function builds the full message a real fullnode could send; `emulator.sui.masks` then removes what
the request's read mask does not ask for.
"""

from __future__ import annotations

import datetime

import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as v2

from emulator.sui.effects import CheckpointRecord, ExecFailure, ObjectChange, TxRecord
from emulator.sui.node import SuiNode
from emulator.sui.objects import Immutable, NodeObject, NodeOwner
from emulator.sui.types import AddressOwner, Shared

SERVER = "daas-sui-standin/0.1"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def timestamp(ms: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(milliseconds=ms)


def owner(value: NodeOwner) -> v2.Owner:
    if isinstance(value, AddressOwner):
        return v2.Owner(kind=v2.OwnerOwnerKind.ADDRESS, address=value.address)
    if isinstance(value, Shared):
        return v2.Owner(kind=v2.OwnerOwnerKind.SHARED, version=value.initial_shared_version)
    assert isinstance(value, Immutable)
    return v2.Owner(kind=v2.OwnerOwnerKind.IMMUTABLE)


def object_message(obj: NodeObject) -> v2.Object:
    is_package = obj.type_tag == "package"
    return v2.Object(
        object_id=obj.object_id,
        version=obj.version,
        digest=obj.digest,
        owner=owner(obj.owner),
        object_type=obj.type_tag,
        has_public_transfer=obj.is_coin,
        contents=None if is_package else v2.Bcs(name=obj.type_tag, value=obj.contents),
        previous_transaction=obj.previous_transaction,
        storage_rebate=obj.storage_rebate,
        balance=obj.balance if obj.is_coin else None,
    )


def _changed(change: ObjectChange) -> v2.ChangedObject:
    before, after = change.input, change.output
    return v2.ChangedObject(
        object_id=change.object_id,
        input_state=(
            v2.ChangedObjectInputObjectState.EXISTS
            if before
            else v2.ChangedObjectInputObjectState.DOES_NOT_EXIST
        ),
        input_version=before.version if before else None,
        input_digest=before.digest if before else None,
        input_owner=owner(before.owner) if before else None,
        output_state=(
            v2.ChangedObjectOutputObjectState.OBJECT_WRITE
            if after
            else v2.ChangedObjectOutputObjectState.DOES_NOT_EXIST
        ),
        output_version=after.version if after else None,
        output_digest=after.digest if after else None,
        output_owner=owner(after.owner) if after else None,
        id_operation=v2.ChangedObjectIdOperation[change.id_operation.name],
        object_type=change.object_type,
    )


def _status(failure: ExecFailure | None) -> v2.ExecutionStatus:
    if failure is None:
        return v2.ExecutionStatus(success=True)
    error = v2.ExecutionError(
        description=failure.description,
        command=failure.command,
        kind=v2.ExecutionErrorExecutionErrorKind[failure.kind],
    )
    if failure.abort is not None:
        error.abort = v2.MoveAbort(
            abort_code=failure.abort_code,
            location=v2.MoveLocation(
                package=failure.abort.package,
                module=failure.abort.module,
                function_name=failure.abort.function,
                instruction=0,
            ),
        )
    elif failure.argument_error is not None:
        error.command_argument_error = v2.CommandArgumentError(
            argument=failure.argument_index,
            kind=v2.CommandArgumentErrorCommandArgumentErrorKind[failure.argument_error],
        )
    return v2.ExecutionStatus(success=False, error=error)


def effects_message(record: TxRecord) -> v2.TransactionEffects:
    changed = [_changed(c) for c in record.changes]
    gas_object = next((c for c in changed if c.object_id == record.gas_object_id), None)
    gas = record.gas
    return v2.TransactionEffects(
        digest=record.effects_digest,
        version=2,
        status=_status(record.failure),
        epoch=0,
        gas_used=(
            v2.GasCostSummary(
                computation_cost=gas.computation,
                storage_cost=gas.storage,
                storage_rebate=gas.rebate,
                non_refundable_storage_fee=gas.non_refundable,
            )
            if gas is not None
            else None
        ),
        transaction_digest=record.digest,
        gas_object=gas_object,
        events_digest=record.events_digest,
        lamport_version=record.lamport_version,
        changed_objects=changed,
        unchanged_consensus_objects=[
            v2.UnchangedConsensusObject(
                kind=v2.UnchangedConsensusObjectUnchangedConsensusObjectKind.READ_ONLY_ROOT,
                object_id=u.object_id,
                version=u.version,
                digest=u.digest,
            )
            for u in record.unchanged_shared
        ],
    )


def transaction_message(record: TxRecord) -> v2.ExecutedTransaction:
    events = [
        v2.Event(
            package_id=e.package_id,
            module=e.module,
            sender=e.sender,
            event_type=e.event_type,
            contents=v2.Bcs(name=e.event_type, value=e.contents),
        )
        for e in record.events
    ]
    return v2.ExecutedTransaction(
        digest=record.digest,
        transaction=v2.Transaction(
            bcs=(
                v2.Bcs(name="TransactionData", value=record.tx_bytes)
                if record.tx_bytes is not None
                else None
            ),
            digest=record.digest,
            version=1,
            sender=record.sender,
        ),
        signatures=[
            v2.UserSignature(
                bcs=v2.Bcs(name="UserSignature", value=sig), scheme=v2.SignatureScheme.ED25519
            )
            for sig in record.signatures
        ],
        effects=effects_message(record),
        events=(
            v2.TransactionEvents(digest=record.events_digest, events=events) if events else None
        ),
        checkpoint=record.checkpoint,
        timestamp=timestamp(record.checkpoint_ms) if record.checkpoint_ms is not None else None,
        balance_changes=[
            v2.BalanceChange(address=address, coin_type="0x2::sui::SUI", amount=str(amount))
            for address, amount in sorted(record.balance_changes().items())
        ],
        transaction_index=record.checkpoint_index,
    )


def checkpoint_message(node: SuiNode, checkpoint: CheckpointRecord) -> v2.Checkpoint:
    return v2.Checkpoint(
        sequence_number=checkpoint.sequence_number,
        digest=checkpoint.digest,
        summary=v2.CheckpointSummary(
            digest=checkpoint.digest,
            epoch=0,
            sequence_number=checkpoint.sequence_number,
            total_network_transactions=checkpoint.network_total_transactions,
            content_digest=checkpoint.content_digest,
            previous_digest=checkpoint.previous_digest,
            timestamp=timestamp(checkpoint.timestamp_ms),
        ),
        transactions=[
            transaction_message(node.transactions[digest]) for digest in checkpoint.transactions
        ],
    )


def service_info(node: SuiNode) -> v2.GetServiceInfoResponse:
    latest = node.latest_checkpoint
    return v2.GetServiceInfoResponse(
        chain_id=node.chain_id,
        chain=node.genesis_config.chain_name,
        epoch=node.epoch,
        checkpoint_height=latest.sequence_number,
        timestamp=timestamp(latest.timestamp_ms),
        lowest_available_checkpoint=node.lowest_available_checkpoint,
        lowest_available_checkpoint_objects=node.lowest_available_checkpoint,
        server=SERVER,
    )


def epoch_message(node: SuiNode) -> v2.Epoch:
    genesis = node.checkpoints.get(0)
    return v2.Epoch(
        epoch=node.epoch,
        first_checkpoint=0,
        start=timestamp(genesis.timestamp_ms) if genesis else None,
        reference_gas_price=node.reference_gas_price,
        protocol_config=v2.ProtocolConfig(
            protocol_version=1,
            attributes={"max_tx_gas": "50000000000", "max_gas_price": "100000"},
        ),
    )
