"""Database rows turned into response models (plain functions; routes call them in worker threads).

The SQL lives in `daas.db.repos`; this module only adds the one read the repositories lack (a build's step
events, for step timings) and the links a client needs: explorer pages, Walrus URLs, API paths.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.errors import InvalidParameter
from api.models import (
    BuildDetail,
    BuildLinks,
    BuildResult,
    BuildSpec,
    BuildSummary,
    StepTiming,
)
from daas.config import Settings
from daas.db.models import Build, BuildEvent, BuildStatus, BuildStep, EventKind
from daas.db.repos.builds import BuildCursor
from daas.image.kubernetes import image_reference

__all__ = [
    "CURSOR_PATTERN",
    "build_counts",
    "build_detail",
    "build_summary",
    "decode_cursor",
    "encode_cursor",
    "normalize_object_id",
    "step_timings",
]

MAX_STEP_EVENTS = 1000


def normalize_object_id(value: str, *, param: str, location: str = "path") -> str:
    """`0x` + 64 lower-case hex digits (short forms are zero-padded, as Sui prints them)."""
    digits = value[2:] if value[:2] in ("0x", "0X") else ""
    if not 1 <= len(digits) <= 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise InvalidParameter(
            f"{param} must be a Sui object id: 0x and up to 64 hex digits, not {value[:80]!r}",
            param=param,
            location=location,
        )
    return "0x" + digits.lower().rjust(64, "0")


# A cursor is the last build of a page: 8 bytes of creation time and the 32-byte id, base64url.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{54}$"
_MAX_MS = 2**63 - 1


def encode_cursor(cursor: BuildCursor) -> str:
    raw = cursor.created_at_ms.to_bytes(8, "big") + bytes.fromhex(cursor.request_id[2:])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> BuildCursor:
    """The position a `next` link names; `InvalidParameter` for a string of the wrong shape.

    Every string of the documented shape names some position (an id and a time), so any such cursor
    gives a page, possibly empty.
    """
    try:
        if len(text) != 54:
            raise ValueError(text)
        raw = base64.urlsafe_b64decode(text + "==")
    except (ValueError, binascii.Error):
        raise InvalidParameter(
            "cursor is not one this API issued: pass the `next` link of the previous page",
            param="cursor",
        ) from None
    created = int.from_bytes(raw[:8], "big") & _MAX_MS
    return BuildCursor(created, "0x" + raw[8:40].hex())


def _walrus_url(settings: Settings, blob_id: str | None) -> str | None:
    return f"{settings.walrus_aggregator_url}/v1/blobs/{blob_id}" if blob_id else None


def _links(build: Build, settings: Settings) -> BuildLinks:
    base = f"/v1/builds/{build.request_id}"
    return BuildLinks(
        self=base,
        events=f"{base}/events",
        logs=f"{base}/logs",
        kubernetes=f"{base}/kubernetes" if _has_image(build) else None,
        explorer=settings.explorer_object_url(build.request_id),
    )


def _has_image(build: Build) -> bool:
    return (
        build.status is BuildStatus.SUCCEEDED
        and bool(build.image_digest)
        and bool(build.image_index_blob_id)
    )


def _summary_fields(build: Build, settings: Settings) -> dict[str, Any]:
    return {
        "request_id": build.request_id,
        "requester": build.requester,
        "status": build.status,
        "step": build.step,
        "platform": build.platform,
        "fee": build.fee,
        "created_at_ms": build.created_at_ms,
        "deadline_ms": build.deadline_ms,
        "updated_at_ms": build.updated_at_ms,
        "links": _links(build, settings),
    }


def build_summary(build: Build, settings: Settings) -> BuildSummary:
    return BuildSummary(**_summary_fields(build, settings))


_EVENTS: sa.Table = BuildEvent.__table__  # type: ignore[attr-defined]
# Built once: the statement is the hot part of GET /v1/builds/{id}, and building it per call costs more
# than running it.
_STEP_EVENTS = (
    sa.select(_EVENTS.c.created_at_ms, _EVENTS.c.payload)
    .where(_EVENTS.c.build_id == sa.bindparam("build_id"))
    .where(_EVENTS.c.kind == EventKind.STEP.value)
    .order_by(_EVENTS.c.id)
    .limit(MAX_STEP_EVENTS)
)


def step_timings(session: Session, build_id: str) -> list[StepTiming]:
    """The runner's steps, attempt by attempt, from the build's step events.

    The runner writes a `started` and a `finished` event per step (with `started_ms`, `finished_ms`, `ok`,
    `error`, `attempt`), and plain events for `queued` and `done`. A step event without a phase lasts
    until the next step starts (`queued` and `done` are instants).
    """
    rows = session.connection().execute(_STEP_EVENTS, {"build_id": build_id})
    timings: list[dict[str, Any]] = []
    running: dict[tuple[BuildStep, int | None], dict[str, Any]] = {}
    for created_at_ms, payload in rows:
        try:
            step = BuildStep(str(payload.get("step")))
        except ValueError:
            continue  # a step this API does not know: newer runner, older API
        attempt = payload.get("attempt")
        attempt = attempt if isinstance(attempt, int) else None
        phase = payload.get("phase")
        started = _int(payload.get("started_ms"), created_at_ms)
        if phase == "finished":
            timing = running.pop((step, attempt), None)
            if timing is None:
                timing = {"step": step, "attempt": attempt, "started_at_ms": started}
                timings.append(timing)
            timing["ended_at_ms"] = _int(payload.get("finished_ms"), created_at_ms)
            timing["ok"] = payload.get("ok") if isinstance(payload.get("ok"), bool) else None
            error = payload.get("error")
            timing["error"] = str(error) if error is not None else None
            continue
        if phase is None and timings and timings[-1].get("phase") is None:
            previous = timings[-1]
            if previous["step"] is step:
                continue  # the same step announced twice
            previous.setdefault("ended_at_ms", started)
        if phase is None and step is BuildStep.QUEUED:
            # Requeued (a lease expired, no result on chain): steps still open were abandoned.
            for abandoned in running.values():
                abandoned.update(ended_at_ms=started, ok=False)
                abandoned["error"] = str(payload.get("reason") or "abandoned")
            running.clear()
        timing = {"step": step, "attempt": attempt, "started_at_ms": started, "phase": phase}
        if phase is None and step in (BuildStep.QUEUED, BuildStep.DONE):
            timing["ended_at_ms"] = started
        timings.append(timing)
        if phase == "started":
            running[(step, attempt)] = timing
    out = []
    for timing in timings:
        timing.pop("phase", None)
        ended = timing.get("ended_at_ms")
        duration = None if ended is None else max(0, ended - timing["started_at_ms"])
        out.append(StepTiming(**timing, duration_ms=duration))
    return out


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _result(build: Build, settings: Settings, registry_host: str) -> BuildResult | None:
    if not build.status.is_final:
        return None
    image_digest = f"sha256:{build.image_digest}" if build.image_digest else None
    reference = None
    if _has_image(build) and image_digest is not None:
        reference = image_reference(registry_host, build.request_id, image_digest)
    return BuildResult(
        succeeded=build.status is BuildStatus.SUCCEEDED,
        enclave_id=build.enclave_id,
        image_digest=image_digest,
        image_index_blob_id=build.image_index_blob_id or None,
        image_reference=reference,
        log_digest=build.log_digest,
        log_blob_id=build.log_blob_id or None,
        error_code=build.error_code,
        error_message=build.error_message,
        timestamp_ms=build.result_timestamp_ms,
        tx_digest=build.result_tx_digest,
        checkpoint=build.result_checkpoint,
        explorer_tx_url=(
            settings.explorer_tx_url(build.result_tx_digest) if build.result_tx_digest else None
        ),
        explorer_enclave_url=(
            settings.explorer_object_url(build.enclave_id) if build.enclave_id else None
        ),
        image_index_url=_walrus_url(settings, build.image_index_blob_id),
        log_url=_walrus_url(settings, build.log_blob_id),
    )


def build_detail(
    session: Session, build: Build, settings: Settings, *, registry_host: str
) -> BuildDetail:
    return BuildDetail(
        **_summary_fields(build, settings),
        spec=BuildSpec(
            source_blob_id=build.source_blob_id,
            source_sha256=build.source_sha256,
            dockerfile_path=build.dockerfile_path,
            platform=build.platform,
            spec_digest=build.spec_digest,
            source_url=f"{settings.walrus_aggregator_url}/v1/blobs/{build.source_blob_id}",
        ),
        attempts=build.attempts,
        request_tx_digest=build.request_tx_digest,
        request_checkpoint=build.request_checkpoint,
        explorer_request_tx_url=(
            settings.explorer_tx_url(build.request_tx_digest) if build.request_tx_digest else None
        ),
        steps=step_timings(session, build.request_id),
        result=_result(build, settings, registry_host),
    )


def build_counts(session: Session) -> dict[BuildStatus, int]:
    """How many builds have each on-chain status."""
    stmt = select(col(Build.status), sa.func.count()).group_by(col(Build.status))
    return {BuildStatus(status): int(count) for status, count in session.exec(stmt)}
