import { describe, expect, it } from "vitest";

import { byLabel, parsePrometheus, sampleValue, sumOf, summarize } from "./prometheus";

// Shaped like the API's real /metrics (api/metrics.py, rendered by daas/metrics.py).
const TEXT = `# HELP daas_api_http_requests_total HTTP requests answered, by method, route template and status code
# TYPE daas_api_http_requests_total counter
daas_api_http_requests_total{method="GET",route="/healthz",status="200"} 4
daas_api_http_requests_total{method="GET",route="/healthz",status="503"} 2
daas_api_http_requests_total{method="GET",route="/v1/builds/{request_id}",status="500"} 1
# HELP daas_api_http_response_start_seconds Seconds from request to response headers
# TYPE daas_api_http_response_start_seconds histogram
daas_api_http_response_start_seconds_bucket{route="/healthz",le="0.005"} 1
daas_api_http_response_start_seconds_bucket{route="/healthz",le="+Inf"} 6
daas_api_http_response_start_seconds_sum{route="/healthz"} 0.0030270229999587173
daas_api_http_response_start_seconds_count{route="/healthz"} 6
# HELP daas_api_sse_clients Open SSE streams, by feed (build or global)
# TYPE daas_api_sse_clients gauge
daas_api_sse_clients{feed="build"} 2
daas_api_sse_clients{feed="global"} 1
# HELP daas_api_sse_events_total Events handed to SSE streams: replayed from the database, or pushed live
# TYPE daas_api_sse_events_total counter
daas_api_sse_events_total{phase="live"} 14
daas_api_sse_events_total{phase="replay"} 43
# HELP daas_api_feed_tail_event_id Highest build event id fanned out to clients
# TYPE daas_api_feed_tail_event_id gauge
daas_api_feed_tail_event_id 39
# TYPE daas_api_feed_delay_seconds histogram
daas_api_feed_delay_seconds_sum 1.2
daas_api_feed_delay_seconds_count 40
# HELP daas_api_registry_bytes_total Bytes of image blobs and manifests served by /v2
# TYPE daas_api_registry_bytes_total counter
# HELP daas_builds Builds in the database, by on-chain status
# TYPE daas_builds gauge
daas_builds{status="cancelled"} 0
daas_builds{status="failed"} 1
daas_builds{status="pending"} 3
daas_builds{status="succeeded"} 7
# TYPE daas_indexer_watermark_lag_seconds gauge
daas_indexer_watermark_lag_seconds 0.179
daas_runner_heartbeat_age_seconds 3.697
`;

describe("parsePrometheus", () => {
  const metrics = parsePrometheus(TEXT);

  it("reads HELP, TYPE and samples into families", () => {
    const f = metrics.get("daas_api_http_requests_total");
    expect(f?.type).toBe("counter");
    expect(f?.help).toMatch(/^HTTP requests answered/);
    expect(f?.samples).toHaveLength(3);
    expect(f?.samples[0]).toEqual({
      name: "daas_api_http_requests_total",
      labels: { method: "GET", route: "/healthz", status: "200" },
      value: 4,
    });
  });

  it("puts histogram series under their family and reads +Inf", () => {
    const f = metrics.get("daas_api_http_response_start_seconds");
    expect(f?.type).toBe("histogram");
    expect(f?.samples.map((s) => s.name)).toEqual([
      "daas_api_http_response_start_seconds_bucket",
      "daas_api_http_response_start_seconds_bucket",
      "daas_api_http_response_start_seconds_sum",
      "daas_api_http_response_start_seconds_count",
    ]);
    expect(f?.samples[1]?.labels.le).toBe("+Inf");
    expect(metrics.has("daas_api_http_response_start_seconds_bucket")).toBe(false);
  });

  it("keeps an untyped sample and an empty family", () => {
    expect(metrics.get("daas_runner_heartbeat_age_seconds")?.type).toBe("untyped");
    expect(metrics.get("daas_api_registry_bytes_total")?.samples).toEqual([]);
  });

  it("handles escapes, timestamps, special values and junk", () => {
    const m = parsePrometheus(
      [
        'x{path="a \\"quoted\\" \\\\ b",nl="1\\n2"} 5 1700000000000',
        "y +Inf",
        "z NaN",
        "w{broken 3",
        "not a metric line",
        "v -Inf",
        "u 1e3",
      ].join("\n"),
    );
    expect(m.get("x")?.samples[0]?.labels).toEqual({ path: 'a "quoted" \\ b', nl: "1\n2" });
    expect(sampleValue(m, "x")).toBe(5);
    expect(sampleValue(m, "y")).toBe(Infinity);
    expect(Number.isNaN(sampleValue(m, "z"))).toBe(true);
    expect(m.has("w")).toBe(false);
    expect(sampleValue(m, "v")).toBe(-Infinity);
    expect(sampleValue(m, "u")).toBe(1000);
  });

  it("looks values up by labels", () => {
    expect(sampleValue(metrics, "daas_builds", { status: "failed" })).toBe(1);
    expect(sampleValue(metrics, "daas_builds", { status: "nope" })).toBeNull();
    expect(sumOf(metrics, "daas_api_sse_clients")).toBe(3);
    expect(sumOf(metrics, "daas_api_registry_bytes_total")).toBe(0);
    expect(sumOf(metrics, "missing")).toBeNull();
    expect(byLabel(metrics, "daas_builds", "status")).toEqual({ cancelled: 0, failed: 1, pending: 3, succeeded: 7 });
  });
});

describe("summarize", () => {
  it("reads what the status page shows", () => {
    const s = summarize(parsePrometheus(TEXT));
    expect(s.queueDepth).toBe(3);
    expect(s.buildsByStatus.succeeded).toBe(7);
    expect(s.sseClients).toBe(3);
    expect(s.eventsLive).toBe(14);
    expect(s.eventsReplayed).toBe(43);
    expect(s.feedTailEventId).toBe(39);
    expect(s.feedDelayMeanS).toBeCloseTo(0.03);
    expect(s.httpRequests).toBe(7);
    expect(s.http5xx).toBe(3);
    expect(s.registryBytes).toBe(0);
    expect(s.watermarkLagS).toBe(0.179);
    expect(s.runnerHeartbeatAgeS).toBe(3.697);
    expect(s.watermarkCheckpoint).toBeNull();
  });

  it("is all nulls for an empty scrape", () => {
    const s = summarize(parsePrometheus(""));
    expect(s.queueDepth).toBeNull();
    expect(s.httpRequests).toBeNull();
    expect(s.buildsByStatus).toEqual({});
  });
});
