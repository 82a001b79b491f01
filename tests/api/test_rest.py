"""REST: builds (filters, keyset pages, detail), logs, Kubernetes, config, health, metrics, errors, CORS."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.deps import HealthPolicy
from daas.config import Settings
from daas.db.engine import session_scope
from daas.db.models import ArtifactKind, BuildStatus, BuildStep, EventKind, LogStream, now_ms
from daas.db.repos import artifacts, builds, heartbeats, logs, watermarks
from daas.image.kubernetes import kubernetes_manifest
from tests.api.support import (
    REQUEST,
    REQUESTER,
    add_events,
    insert_build,
    make_build,
    request_id,
    serve,
)

pytestmark = pytest.mark.anyio

OTHER = "0x" + "ee" * 32


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["instance"] == response.request.url.path
    return body


async def test_list_filters_and_pages_through_every_build_once(
    client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    # Several builds share a creation time: the cursor must order by (time, id), not time alone.
    for n in range(23):
        requester = REQUESTER if n % 3 else OTHER
        insert_build(
            engine, make_build(request_id(n + 1), created_at_ms=1_000 + n // 2, requester=requester)
        )
    with session_scope(engine) as session:
        builds.set_step(session, request_id(5), BuildStep.BUILDING)
        builds.advance_status(session, request_id(7), BuildStatus.FAILED, error_code=110)
        session.commit()

    seen: list[str] = []
    url: str | None = "/v1/builds?limit=5"
    pages = 0
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200
        page = response.json()
        seen += [item["request_id"] for item in page["items"]]
        url = page["next"]
        if url is not None:
            assert response.headers["link"] == f'<{url}>; rel="next"'
        pages += 1
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    created = {request_id(n + 1): 1_000 + n // 2 for n in range(23)}
    assert seen == sorted(seen, key=lambda rid: (created[rid], rid), reverse=True)

    mine = (await client.get("/v1/builds", params={"requester": OTHER, "limit": 200})).json()
    assert {i["requester"] for i in mine["items"]} == {OTHER} and len(mine["items"]) == 8
    # Short addresses are normalised as Sui prints them.
    short = (await client.get("/v1/builds", params={"requester": "0x" + "ee" * 32})).json()
    assert len(short["items"]) == 8
    failed = (await client.get("/v1/builds", params={"status": "failed"})).json()["items"]
    assert [i["request_id"] for i in failed] == [request_id(7)]
    building = (await client.get("/v1/builds", params={"step": "building"})).json()["items"]
    assert [i["request_id"] for i in building] == [request_id(5)]
    # Filters are kept in the next link.
    paged = (await client.get("/v1/builds", params={"requester": REQUESTER, "limit": 2})).json()
    assert "requester=" in paged["next"] and "cursor=" in paged["next"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "MTIzLjB4enp6"}, "cursor"),  # base64 of "123.0xzzz"
        ({"limit": "0"}, "limit"),
        ({"limit": "1000"}, "limit"),
        ({"status": "done"}, "status"),
        ({"step": "flying"}, "step"),
        ({"requester": "alice"}, "requester"),
    ],
)
async def test_bad_list_parameters_are_422_problems(
    client: httpx.AsyncClient, params: dict[str, str], param: str
) -> None:
    body = _problem(await client.get("/v1/builds", params=params), 422)
    assert body["errors"][0]["loc"][-1] == param
    assert param in body["detail"]


async def test_build_detail_has_spec_steps_and_result_links(
    client: httpx.AsyncClient, engine: sa.Engine, settings: Settings
) -> None:
    insert_build(engine, make_build(request_tx_digest="TxReq111"))
    add_events(
        engine,
        REQUEST,
        [
            (EventKind.STATUS, {"status": "pending"}),
            (EventKind.STEP, {"step": "fetching"}),
            (EventKind.LOG, {"line": 0}),
            (EventKind.STEP, {"step": "building"}),
            (EventKind.STEP, {"step": "building"}),  # repeated: not a new step
            (EventKind.STEP, {"step": "teleporting"}),  # unknown to this API: ignored
            (EventKind.STEP, {"step": "exporting"}),
        ],
    )
    pending = (await client.get(f"/v1/builds/{REQUEST}")).json()
    assert pending["status"] == "pending" and pending["result"] is None
    assert [s["step"] for s in pending["steps"]] == ["fetching", "building", "exporting"]
    assert pending["steps"][0]["ended_at_ms"] == pending["steps"][1]["started_at_ms"]
    assert pending["steps"][-1]["ended_at_ms"] is None
    assert pending["spec"]["source_url"].endswith(
        "/v1/blobs/M4hsZGQ1oCktdzegB6HnI6Mi28S2nqOPHxK-W7_4BUk"
    )
    assert pending["explorer_request_tx_url"] == settings.explorer_tx_url("TxReq111")
    assert pending["links"]["kubernetes"] is None

    index_blob = "A" * 43
    with session_scope(engine) as session:
        builds.advance_status(
            session, REQUEST, BuildStatus.SUCCEEDED, enclave_id=OTHER, image_digest="ab" * 32,
            image_index_blob_id=index_blob, log_digest="cd" * 32, log_blob_id="B" * 43,
            result_tx_digest="TxRes222", result_timestamp_ms=5, result_checkpoint=9,
        )  # fmt: skip
        session.commit()
    # Short ids work too.
    done = (await client.get(f"/v1/builds/0x{REQUEST[2:].upper()}")).json()
    result = done["result"]
    assert result["succeeded"] is True
    assert result["image_digest"] == "sha256:" + "ab" * 32
    assert result["image_reference"] == f"127.0.0.1:8080/daas/{REQUEST}@sha256:{'ab' * 32}"
    assert result["image_index_url"] == f"{settings.walrus_aggregator_url}/v1/blobs/{index_blob}"
    assert result["explorer_tx_url"] == settings.explorer_tx_url("TxRes222")
    assert result["explorer_enclave_url"] == settings.explorer_object_url(OTHER)
    assert done["links"]["kubernetes"] == f"/v1/builds/{REQUEST}/kubernetes"
    kube = await client.get(f"/v1/builds/{REQUEST}/kubernetes")
    assert kube.status_code == 200 and "kind: Deployment" in kube.text
    assert "kind: Service" not in kube.text and "x-walrus-blob-id" not in kube.headers
    # The runner's stored manifest (with the bundle's port) wins when it runs the same image.
    stored = kubernetes_manifest(
        registry_host="api.example:443",
        request_id=REQUEST,
        manifest_digest="sha256:" + "ab" * 32,
        port=8000,
    )
    with session_scope(engine) as session:
        artifacts.put(
            session, REQUEST, ArtifactKind.KUBERNETES, blob_id="K" * 43, sha256="00" * 32,
            size=len(stored), media_type="application/yaml", content=stored,
        )  # fmt: skip
        session.commit()
    kube = await client.get(f"/v1/builds/{REQUEST}/kubernetes")
    assert kube.text == stored and "kind: Service" in kube.text
    assert kube.headers["x-walrus-blob-id"] == "K" * 43


async def test_step_timings_follow_the_runners_attempts(
    client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    """Payloads as `runner.recorder` writes them: started/finished per step, attempts, requeue, done."""
    insert_build(engine, make_build())

    def step(
        name: str, phase: str | None, attempt: int, **more: Any
    ) -> tuple[EventKind, dict[str, Any]]:
        payload: dict[str, Any] = {"step": name, "attempt": attempt, "runner": "r1", **more}
        if phase is not None:
            payload["phase"] = phase
        return EventKind.STEP, payload

    add_events(
        engine,
        REQUEST,
        [
            step("fetching", "started", 1, started_ms=1000),
            step(
                "fetching",
                "finished",
                1,
                started_ms=1000,
                finished_ms=1500,
                duration_ms=500,
                ok=True,
            ),
            step("building", "started", 1, started_ms=1500),
            (EventKind.STEP, {"step": "queued", "reason": "lease expired", "runner": "r2"}),
            step("fetching", "started", 2, started_ms=9000),
            step(
                "fetching",
                "finished",
                2,
                started_ms=9000,
                finished_ms=9100,
                ok=False,
                error="bundle gone",
            ),
            step("done", None, 2, outcome="failed"),
        ],
    )
    steps = (await client.get(f"/v1/builds/{REQUEST}")).json()["steps"]
    summary = [(s["step"], s["attempt"], s["duration_ms"], s["ok"]) for s in steps]
    assert summary[0] == ("fetching", 1, 500, True)
    assert summary[1][:2] == ("building", 1) and summary[1][3] is False
    assert steps[1]["error"] == "lease expired"
    assert summary[2][0] == "queued"
    assert summary[3] == ("fetching", 2, 100, False) and steps[3]["error"] == "bundle gone"
    assert summary[4][:2] == ("done", 2)


async def test_unknown_and_malformed_build_ids(client: httpx.AsyncClient) -> None:
    for suffix in ["", "/logs", "/kubernetes"]:
        _problem(await client.get(f"/v1/builds/{request_id(404)}{suffix}"), 404)
        body = _problem(await client.get(f"/v1/builds/0xnothex{suffix}"), 422)
        assert body["errors"][0]["loc"] == ["path", "request_id"]
        _problem(await client.get(f"/v1/builds/{'0x' + 'a' * 65}{suffix}"), 422)
    _problem(await client.get("/v1/nothing"), 404)
    _problem(await client.post("/v1/builds"), 405)


async def test_logs_as_text_from_a_line(client: httpx.AsyncClient, engine: sa.Engine) -> None:
    insert_build(engine, make_build())
    with session_scope(engine) as session:
        logs.append_lines(
            session, REQUEST,
            [logs.LogLine(i, f"line {i}", LogStream.STDERR if i == 3 else LogStream.STDOUT) for i in range(6)],
        )  # fmt: skip
        session.commit()
    whole = await client.get(f"/v1/builds/{REQUEST}/logs")
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/plain")
    assert whole.text == "".join(f"line {i}\n" for i in range(6))
    assert whole.headers["x-next-line"] == "6"
    tail = await client.get(f"/v1/builds/{REQUEST}/logs", params={"from": 4})
    assert tail.text == "line 4\nline 5\n" and tail.headers["x-next-line"] == "6"
    some = await client.get(f"/v1/builds/{REQUEST}/logs", params={"from": 1, "limit": 2})
    assert some.text == "line 1\nline 2\n" and some.headers["x-next-line"] == "3"
    empty = await client.get(f"/v1/builds/{REQUEST}/logs", params={"from": 100})
    assert empty.text == "" and empty.headers["x-next-line"] == "100"
    _problem(await client.get(f"/v1/builds/{REQUEST}/logs", params={"from": -1}), 422)


async def test_config_for_the_front_end(client: httpx.AsyncClient, settings: Settings) -> None:
    body = (await client.get("/v1/config")).json()
    assert body["network"] == "localnet"
    assert body["explorer_object_url"] == settings.explorer_object_url("{id}")
    assert "{rpc}" not in body["explorer_object_url"] + body["explorer_tx_url"]
    assert "{id}" in body["explorer_object_url"] and "{digest}" in body["explorer_tx_url"]
    assert body["walrus_aggregator_url"] == settings.walrus_aggregator_url
    assert body["registry_host"] == "127.0.0.1:8080"


async def test_health_reports_each_check(settings: Settings, engine: sa.Engine) -> None:
    app = create_app(
        settings, engine=engine, health=HealthPolicy(max_watermark_lag_s=60, max_heartbeat_age_s=30)
    )
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        fresh = await http.get("/healthz")
        assert fresh.status_code == 503
        checks = fresh.json()["checks"]
        assert checks["database"]["ok"] is True
        assert checks["indexer"]["ok"] is False and checks["runner"]["ok"] is False

        now = now_ms()
        with session_scope(engine) as session:
            watermarks.advance(
                session, settings.indexer.pipeline, checkpoint_hi_inclusive=42, tx_hi=7,
                timestamp_ms_hi=now - 5_000, epoch_hi_inclusive=1,
            )  # fmt: skip
            heartbeats.beat(session, "r1", hostname="h", pid=1, version="1", started_at_ms=now)
            session.commit()
        healthy = await http.get("/healthz")
        assert healthy.status_code == 200, healthy.text
        body = healthy.json()
        assert body["status"] == "ok"
        assert 4 <= body["checks"]["indexer"]["value"] < 30
        assert body["checks"]["indexer"]["threshold"] == 60

        with session_scope(engine) as session:
            heartbeats.beat(
                session,
                "r1",
                hostname="h",
                pid=1,
                version="1",
                started_at_ms=now,
                now_ms=now - 60_000,
            )
            session.commit()
        stale = await http.get("/healthz")
        assert stale.status_code == 503
        assert stale.json()["checks"]["runner"]["ok"] is False
        metrics = (await http.get("/metrics")).text
        assert "daas_indexer_watermark_checkpoint 42" in metrics


async def test_metrics_read_progress_without_healthz(settings: Settings, engine: sa.Engine) -> None:
    """A scrape alone shows the indexer's watermark and lag and the runner heartbeat's age (a dashboard
    or Prometheus may never call /healthz)."""
    app = create_app(settings, engine=engine, health=HealthPolicy(None, None))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        now = now_ms()
        with session_scope(engine) as session:
            watermarks.advance(
                session, settings.indexer.pipeline, checkpoint_hi_inclusive=7, tx_hi=1,
                timestamp_ms_hi=now - 3_000, epoch_hi_inclusive=0,
            )  # fmt: skip
            heartbeats.beat(
                session, "r1", hostname="h", pid=1, version="1", started_at_ms=now,
                now_ms=now - 2_000,
            )  # fmt: skip
            session.commit()
        text = (await http.get("/metrics")).text
    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert samples["daas_indexer_watermark_checkpoint"] == "7"
    assert 2.0 <= float(samples["daas_runner_heartbeat_age_seconds"]) < 30
    assert 3.0 <= float(samples["daas_indexer_watermark_lag_seconds"]) < 30


async def test_health_without_a_database_is_503(settings: Settings, tmp_path: Any) -> None:
    from daas.db.engine import create_engine_for

    broken = create_engine_for("postgresql://nobody@127.0.0.1:1/none")
    app = create_app(
        settings, engine=broken, cross_process_events=False, health=HealthPolicy(None, None)
    )
    try:
        async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
            health = await http.get("/healthz")
            assert health.status_code == 503
            checks = health.json()["checks"]
            assert checks["database"]["ok"] is False and "127.0.0.1" in checks["database"]["detail"]
            _problem(await http.get(f"/v1/builds/{REQUEST}"), 503)
            assert (await http.get(f"/v1/builds/{REQUEST}")).headers["retry-after"] == "1"
            _problem(await http.get("/v1/events"), 503)
            assert (await http.get("/metrics")).status_code == 200
    finally:
        broken.dispose()


async def test_metrics_in_prometheus_text(client: httpx.AsyncClient, engine: sa.Engine) -> None:
    insert_build(engine, make_build())
    await client.get(f"/v1/builds/{REQUEST}")
    await client.get(f"/v1/builds/{request_id(9)}")
    response = await client.get("/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    assert (
        'daas_api_http_requests_total{method="GET",route="/v1/builds/{request_id}",status="200"} 1'
        in text
    )
    assert (
        'daas_api_http_requests_total{method="GET",route="/v1/builds/{request_id}",status="404"} 1'
        in text
    )
    assert 'daas_builds{status="pending"} 1' in text
    assert "# TYPE daas_api_feed_delay_seconds histogram" in text


async def test_cors_for_the_configured_origins(settings: Settings, engine: sa.Engine) -> None:
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"cors_origins": ["https://app.example"]})}
    )
    app = create_app(settings, engine=engine, health=HealthPolicy(None, None))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        allowed = await http.get("/v1/config", headers={"Origin": "https://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = await http.get("/v1/config", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = await http.options(
            "/v1/events",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "last-event-id",
            },
        )
        assert preflight.status_code == 200
        assert "last-event-id" in preflight.headers["access-control-allow-headers"].lower()


async def test_openapi_documents_every_route_and_model(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in [
        "/v1/builds", "/v1/builds/{request_id}", "/v1/builds/{request_id}/logs",
        "/v1/builds/{request_id}/kubernetes", "/v1/builds/{request_id}/events", "/v1/events",
        "/v1/config", "/healthz", "/metrics", "/v2/", "/v2/daas/{request_id}/manifests/{reference}",
        "/v2/daas/{request_id}/blobs/{digest}",
    ]:  # fmt: skip
        assert path in paths, path
    schemas = spec["components"]["schemas"]
    for name in [
        "BuildDetail",
        "BuildPage",
        "BuildResult",
        "StepTiming",
        "EventData",
        "Problem",
        "OciErrors",
        "Health",
        "ApiConfig",
    ]:
        assert name in schemas, name
    assert "HTTPValidationError" not in schemas  # our 422 is a problem, and documented as one
    assert (
        "application/problem+json"
        in paths["/v1/builds/{request_id}"]["get"]["responses"]["404"]["content"]
    )
