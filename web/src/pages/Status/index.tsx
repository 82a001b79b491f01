/**
 * `/status`: can the service build right now? `/healthz` (checks with values and thresholds; a 503 is a
 * verdict to show, not an error), `/metrics` (parsed by `parsePrometheus`), and the latest failed builds.
 * Refreshes every few seconds while the tab is visible.
 */
import { useQueries } from "@tanstack/react-query";
import { useMemo } from "react";

import { type BuildDetail, buildPath, useBuildList } from "../../api/builds";
import { type HealthCheck, useHealth, useMetricsText } from "../../api/health";
import { getJson } from "../../api/http";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Link } from "../../router";
import { formatRelative, formatSeconds, formatTime, shortId } from "../../format";
import { parsePrometheus, summarize } from "./prometheus";
import "./status.css";

const REFRESH_MS = 5000;
const FAILURES_SHOWN = 5;

const CHECK_NAMES: Record<string, string> = {
  database: "Database",
  indexer: "Indexer (chain → database)",
  runner: "Runners",
  events: "Live events",
};

function checkValue(name: string, check: HealthCheck): string | null {
  if (check.value === null) return null;
  const what = name === "indexer" ? "lag" : name === "runner" ? "heartbeat age" : "value";
  const limit = check.threshold === null ? "" : ` (limit ${formatSeconds(check.threshold)})`;
  return `${what} ${formatSeconds(check.value)}${limit}`;
}

function count(n: number | null | undefined): string {
  return n === null || n === undefined ? "—" : n.toLocaleString();
}

function bytes(n: number | null): string {
  if (n === null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export default function StatusPage() {
  const health = useHealth(REFRESH_MS);
  const metricsText = useMetricsText(REFRESH_MS);
  const summary = useMemo(
    () => (metricsText.data === undefined ? null : summarize(parsePrometheus(metricsText.data))),
    [metricsText.data],
  );
  const failures = useBuildList({ status: "failed", limit: FAILURES_SHOWN }, REFRESH_MS);
  const failed = failures.data?.pages[0]?.items ?? [];
  // A failed build never changes: its details (the error code) are read once.
  const details = useQueries({
    queries: failed.map((b) => ({
      queryKey: ["build", b.request_id],
      queryFn: ({ signal }: { signal: AbortSignal }) => getJson<BuildDetail>(buildPath(b.request_id), signal),
      staleTime: Infinity,
    })),
  });

  const updated = Math.max(health.dataUpdatedAt, metricsText.dataUpdatedAt);
  const ok = health.data?.status === "ok";

  return (
    <section className="status-page" aria-labelledby="status-title">
      <div className="status-head">
        <h1 id="status-title">Status</h1>
        <p className="muted status-updated">
          {updated ? <>Updated {new Date(updated).toLocaleTimeString()}; </> : null}refreshes every{" "}
          {REFRESH_MS / 1000} s while this tab is visible
        </p>
      </div>

      <section className="card" aria-labelledby="health-title">
        <h2 id="health-title">Health</h2>
        {health.error && !health.data ? (
          <ErrorBanner error={health.error} title="The health check could not be read" onRetry={() => void health.refetch()} />
        ) : health.data === undefined ? (
          <p className="muted">Checking…</p>
        ) : (
          <>
            <p className={`verdict-line ${ok ? "is-ok" : "is-bad"}`} role="status" aria-live="polite" data-testid="health-verdict">
              <span className="verdict-dot" aria-hidden="true" />
              {ok ? "All systems operational" : "Degraded: at least one check fails"}
            </p>
            <ul className="health-checks">
              {Object.entries(health.data.checks).map(([name, check]) => (
                <li key={name} className={`health-check ${check.ok ? "is-ok" : "is-bad"}`} data-check={name}>
                  <span className="health-mark" aria-hidden="true">
                    {check.ok ? "✓" : "✗"}
                  </span>
                  <span className="health-name">{CHECK_NAMES[name] ?? name}</span>
                  <span className="health-result">{check.ok ? "ok" : "failing"}</span>
                  <span className="health-detail">
                    {check.detail}
                    {checkValue(name, check) && <span className="muted"> · {checkValue(name, check)}</span>}
                  </span>
                </li>
              ))}
            </ul>
            {health.error && <p className="muted">The last refresh failed: {health.error.message}</p>}
          </>
        )}
      </section>

      <section className="card" aria-labelledby="metrics-title">
        <h2 id="metrics-title">Metrics</h2>
        {metricsText.error && !summary ? (
          <ErrorBanner error={metricsText.error} title="The metrics could not be read" onRetry={() => void metricsText.refetch()} />
        ) : summary === null ? (
          <p className="muted">Reading…</p>
        ) : (
          <>
            <dl className="stat-grid" data-testid="metrics">
              <Stat label="Queue (pending builds)" value={count(summary.queueDepth)} />
              <Stat label="Succeeded" value={count(summary.buildsByStatus.succeeded)} />
              <Stat label="Failed" value={count(summary.buildsByStatus.failed)} />
              <Stat label="Cancelled" value={count(summary.buildsByStatus.cancelled)} />
              <Stat label="Indexer lag" value={formatSeconds(summary.watermarkLagS)} />
              <Stat label="Indexed checkpoint" value={count(summary.watermarkCheckpoint)} />
              <Stat label="Runner heartbeat" value={summary.runnerHeartbeatAgeS === null ? "—" : `${formatSeconds(summary.runnerHeartbeatAgeS)} ago`} />
              <Stat label="Live streams open" value={count(summary.sseClients)} />
              <Stat label="Events sent (live / replayed)" value={`${count(summary.eventsLive)} / ${count(summary.eventsReplayed)}`} />
              <Stat
                label="Event fan-out delay (mean)"
                value={summary.feedDelayMeanS === null ? "—" : formatSeconds(summary.feedDelayMeanS)}
              />
              <Stat label="HTTP requests (5xx)" value={`${count(summary.httpRequests)} (${count(summary.http5xx)})`} />
              <Stat label="Registry bytes served" value={bytes(summary.registryBytes)} />
              <Stat
                label="Registry integrity failures"
                value={count(summary.registryIntegrityFailures)}
                bad={(summary.registryIntegrityFailures ?? 0) > 0}
              />
              <Stat label="Event feed read errors" value={count(summary.feedErrors)} bad={(summary.feedErrors ?? 0) > 0} />
            </dl>
            <p className="muted small-print">
              Counters since the API started. Raw: <a href="/metrics">/metrics</a>.
            </p>
          </>
        )}
      </section>

      <section className="card" aria-labelledby="failures-title">
        <h2 id="failures-title">Recent failures</h2>
        {failures.error && !failures.data ? (
          <ErrorBanner error={failures.error} title="Failed builds could not be listed" onRetry={() => void failures.refetch()} />
        ) : failures.isPending ? (
          <p className="muted">Loading…</p>
        ) : failed.length === 0 ? (
          <p>No failed builds.</p>
        ) : (
          <>
            <ul className="failure-list">
              {failed.map((b, i) => {
                const result = details[i]?.data?.result;
                return (
                  <li key={b.request_id} className="failure-row">
                    <Link href={`/builds/${b.request_id}`} title={b.request_id} className="long-id">
                      {shortId(b.request_id, 10, 6)}
                    </Link>
                    <span className="failure-time" title={formatTime(b.created_at_ms)}>
                      {formatRelative(b.updated_at_ms)}
                    </span>
                    <span className="failure-why">
                      {result?.error_code != null
                        ? `code ${result.error_code}${result.error_message ? `: ${result.error_message}` : ""}`
                        : "…"}
                    </span>
                  </li>
                );
              })}
            </ul>
            <p>
              <Link href="/builds?status=failed">All failed builds</Link>
            </p>
          </>
        )}
      </section>
    </section>
  );
}

function Stat({ label, value, bad = false }: { label: string; value: string; bad?: boolean }) {
  return (
    <div className={`stat ${bad ? "is-bad" : ""}`}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}
