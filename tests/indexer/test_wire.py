"""The indexer's frame parser against pysui's betterproto2 messages: same values, unknown fields skipped,
malformed bytes refused; and the requests it encodes are what pysui would send."""

from __future__ import annotations

import datetime

import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as v2
import pytest
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask

from daas.chain.types import ChainEvent, Checkpoint, CheckpointTransaction, ServiceInfo
from indexer import wire
from tests.indexer.fakes import PACKAGE, requested

TYPE = f"{PACKAGE}::builds::BuildRequested"
WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=datetime.UTC)


def _message(seq: int = 77) -> v2.Checkpoint:
    events = [
        v2.Event(
            package_id=PACKAGE,
            module="builds",
            sender="0x" + "ab" * 32,
            event_type=TYPE,
            contents=v2.Bcs(name=TYPE, value=requested(i).to_bcs()),
            checkpoint=seq,  # not in our mask: must be skipped
            event_index=i,
        )
        for i in range(3)
    ]
    return v2.Checkpoint(
        sequence_number=seq,
        digest="CpDigest",
        summary=v2.CheckpointSummary(timestamp=WHEN, epoch=4, total_network_transactions=99),
        transactions=[
            v2.ExecutedTransaction(
                digest="Tx1",
                events=v2.TransactionEvents(events=events[:2], digest="EvDigest"),
                checkpoint=seq,
                timestamp=WHEN,
            ),
            v2.ExecutedTransaction(digest="Tx2"),
            v2.ExecutedTransaction(digest="Tx3", events=v2.TransactionEvents(events=events[2:])),
        ],
    )


def _expected(seq: int = 77) -> Checkpoint:
    def event(i: int, index: int) -> ChainEvent:
        return ChainEvent(TYPE, requested(i).to_bcs(), index, "0x" + "ab" * 32, PACKAGE, "builds")

    return Checkpoint(
        seq,
        "CpDigest",
        int(WHEN.timestamp() * 1000),
        (
            CheckpointTransaction("Tx1", (event(0, 0), event(1, 1))),
            CheckpointTransaction("Tx2", ()),
            CheckpointTransaction("Tx3", (event(2, 0),)),
        ),
    )


def test_subscribe_frame() -> None:
    frame = bytes(v2.SubscribeCheckpointsResponse(cursor=77, checkpoint=_message()))
    assert wire.parse_subscribe_response(frame) == _expected()


def test_checkpoint_response_and_fallback_sequence() -> None:
    message = _message(0)
    message.sequence_number = None  # a node that leaves it out: the requested number stands in
    frame = bytes(v2.GetCheckpointResponse(checkpoint=message))
    assert wire.parse_checkpoint_response(frame, 0) == _expected(0)
    with pytest.raises(wire.FrameError, match="without a sequence number"):
        wire.parse_checkpoint_response(frame)


def test_progress_frames_have_no_checkpoint() -> None:
    assert wire.parse_subscribe_response(bytes(v2.SubscribeCheckpointsResponse(cursor=5))) is None


def test_large_values_and_long_varints() -> None:
    seq = 2**40 + 3
    frame = bytes(v2.SubscribeCheckpointsResponse(cursor=seq, checkpoint=_message(seq)))
    parsed = wire.parse_subscribe_response(frame)
    assert parsed is not None and parsed.sequence_number == seq


@pytest.mark.parametrize("cut", [1, 5, 40, -1])
def test_truncated_frames_are_refused(cut: int) -> None:
    frame = bytes(v2.SubscribeCheckpointsResponse(cursor=77, checkpoint=_message()))
    with pytest.raises(wire.FrameError):
        wire.parse_subscribe_response(frame[:cut])


def test_invalid_utf8_is_refused() -> None:
    body = b"\x22\x02\xff\xfe"  # Event.event_type = b"\xff\xfe"
    tx = b"\x2a" + bytes([len(body) + 2]) + b"\x1a" + bytes([len(body)]) + body
    checkpoint = b"\x08\x01\x32" + bytes([len(tx)]) + tx
    frame = b"\x12" + bytes([len(checkpoint)]) + checkpoint
    with pytest.raises(wire.FrameError, match="UTF-8"):
        wire.parse_subscribe_response(frame)


def test_service_info() -> None:
    frame = bytes(
        v2.GetServiceInfoResponse(
            chain_id="ChainX",
            chain="testnet",
            epoch=9,
            checkpoint_height=1234,
            timestamp=WHEN,
            lowest_available_checkpoint=1000,
            server="sui-node/1",
        )
    )
    assert wire.parse_service_info(frame) == ServiceInfo(
        "ChainX", "testnet", 9, 1234, 1000, int(WHEN.timestamp() * 1000), "sui-node/1"
    )
    with pytest.raises(wire.FrameError, match="chain id"):
        wire.parse_service_info(b"")


def test_requests_are_what_pysui_sends() -> None:
    mask = ["sequence_number", "transactions.events.events.contents"]
    assert wire.subscribe_request(mask) == bytes(
        v2.SubscribeCheckpointsRequest(read_mask=FieldMask(paths=mask))
    )
    assert wire.checkpoint_request(300, mask) == bytes(
        v2.GetCheckpointRequest(sequence_number=300, read_mask=FieldMask(paths=mask))
    )
    assert wire.checkpoint_request(None, mask) == bytes(
        v2.GetCheckpointRequest(read_mask=FieldMask(paths=mask))
    )
