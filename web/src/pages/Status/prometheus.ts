/**
 * A small parser for the Prometheus text exposition format (0.0.4), enough for `/metrics` (api/metrics.py,
 * daas/metrics.py), and the status page's reading of it. Tested in prometheus.test.ts.
 */

export interface Sample {
  /** the series name as written (histograms give `_bucket`, `_sum`, `_count`) */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

export type Metrics = Map<string, MetricFamily>;

const SUFFIXES = ["_bucket", "_sum", "_count", "_total", "_created"] as const;

function parseValue(text: string): number {
  switch (text) {
    case "+Inf":
    case "Inf":
      return Infinity;
    case "-Inf":
      return -Infinity;
    case "NaN":
      return NaN;
    default:
      return Number(text);
  }
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(n|\\)/g, (_, c: string) => (c === "n" ? "\n" : "\\"));
}

/** `{a="x",b="y \" z"}` from position `start` (at `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } | null {
  const labels: Record<string, string> = {};
  let i = start + 1;
  while (i < line.length) {
    while (line[i] === " " || line[i] === ",") i += 1;
    if (line[i] === "}") return { labels, end: i + 1 };
    const eq = line.indexOf("=", i);
    if (eq < 0 || line[eq + 1] !== '"') return null;
    const key = line.slice(i, eq).trim();
    let value = "";
    let j = eq + 2;
    for (; j < line.length; j += 1) {
      const c = line[j];
      if (c === "\\") {
        const n = line[j + 1];
        value += n === "n" ? "\n" : (n ?? "");
        j += 1;
      } else if (c === '"') break;
      else value += c;
    }
    if (j >= line.length) return null;
    labels[key] = value;
    i = j + 1;
  }
  return null;
}

/** Metric families by name; samples without `# TYPE` get a family of their own (type `untyped`). */
export function parsePrometheus(text: string): Metrics {
  const families: Metrics = new Map();
  const family = (name: string): MetricFamily => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, help: "", type: "untyped", samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const owner = (series: string): MetricFamily => familyOf(families, series) ?? family(series);
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)\s?(.*)$/.exec(line);
      if (m) {
        const f = family(m[2]!);
        if (m[1] === "HELP") f.help = unescapeHelp(m[3] ?? "");
        else f.type = (m[3] ?? "untyped").trim() || "untyped";
      }
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) continue;
    const name = nameMatch[0];
    let rest = name.length;
    let labels: Record<string, string> = {};
    if (line[rest] === "{") {
      const parsed = parseLabels(line, rest);
      if (parsed === null) continue;
      labels = parsed.labels;
      rest = parsed.end;
    }
    const fields = line.slice(rest).trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === "") continue;
    const value = parseValue(fields[0]);
    if (Number.isNaN(value) && fields[0] !== "NaN") continue;
    owner(name).samples.push({ name, labels, value });
  }
  return families;
}

/** The family a series belongs to: `x_sum`, `x_count`, `x_bucket` are in `x`'s. */
function familyOf(metrics: Metrics, series: string): MetricFamily | undefined {
  const own = metrics.get(series);
  if (own !== undefined) return own;
  for (const suffix of SUFFIXES) {
    if (series.endsWith(suffix)) {
      const base = metrics.get(series.slice(0, -suffix.length));
      if (base !== undefined) return base;
    }
  }
  return undefined;
}

/** The value of one series (exact name and labels given), or null. */
export function sampleValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): number | null {
  const f = familyOf(metrics, name);
  const sample = f?.samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return sample?.value ?? null;
}

/** The sum of every series of `name` whose labels pass `filter` (0 when none does); null without the family. */
export function sumOf(
  metrics: Metrics,
  name: string,
  filter: (labels: Record<string, string>) => boolean = () => true,
): number | null {
  const f = familyOf(metrics, name);
  if (f === undefined) return null;
  const samples = f.samples.filter((s) => s.name === name && filter(s.labels));
  return samples.reduce((n, s) => n + s.value, 0);
}

/** Values of one label across a family: `daas_builds{status=...}` → `{pending: 1, failed: 2, ...}`. */
export function byLabel(metrics: Metrics, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of familyOf(metrics, name)?.samples ?? []) {
    if (s.name !== name) continue;
    const key = s.labels[label];
    if (key !== undefined) out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

export interface StatusSummary {
  buildsByStatus: Record<string, number>;
  /** builds waiting or running: the on-chain PENDING count */
  queueDepth: number | null;
  sseClients: number | null;
  eventsReplayed: number | null;
  eventsLive: number | null;
  feedTailEventId: number | null;
  /** mean seconds from an event's creation to its fan-out */
  feedDelayMeanS: number | null;
  feedErrors: number | null;
  httpRequests: number | null;
  http5xx: number | null;
  registryBytes: number | null;
  registryIntegrityFailures: number | null;
  watermarkCheckpoint: number | null;
  watermarkLagS: number | null;
  runnerHeartbeatAgeS: number | null;
}

export function summarize(metrics: Metrics): StatusSummary {
  const builds = byLabel(metrics, "daas_builds", "status");
  const delaySum = sampleValue(metrics, "daas_api_feed_delay_seconds_sum");
  const delayCount = sampleValue(metrics, "daas_api_feed_delay_seconds_count");
  const sse = byLabel(metrics, "daas_api_sse_events_total", "phase");
  return {
    buildsByStatus: builds,
    queueDepth: builds.pending ?? null,
    sseClients: sumOf(metrics, "daas_api_sse_clients"),
    eventsReplayed: sse.replay ?? null,
    eventsLive: sse.live ?? null,
    feedTailEventId: sampleValue(metrics, "daas_api_feed_tail_event_id"),
    feedDelayMeanS: delaySum !== null && delayCount ? delaySum / delayCount : null,
    feedErrors: sampleValue(metrics, "daas_api_feed_errors_total"),
    httpRequests: sumOf(metrics, "daas_api_http_requests_total"),
    http5xx: sumOf(metrics, "daas_api_http_requests_total", (l) => (l.status ?? "").startsWith("5")),
    registryBytes: sumOf(metrics, "daas_api_registry_bytes_total"),
    registryIntegrityFailures: sampleValue(metrics, "daas_api_registry_integrity_failures_total"),
    watermarkCheckpoint: sampleValue(metrics, "daas_indexer_watermark_checkpoint"),
    watermarkLagS: sampleValue(metrics, "daas_indexer_watermark_lag_seconds"),
    runnerHeartbeatAgeS: sampleValue(metrics, "daas_runner_heartbeat_age_seconds"),
  };
}
