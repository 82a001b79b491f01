/**
 * The build view's live state, folded from SSE events by a pure reducer (tested in model.test.ts).
 *
 * Nothing is shown twice: events at or below the last event id are ignored, and log lines at or below the
 * last line number too (line numbers run on across attempts). Log lines are kept in chunks of `LOG_CHUNK`
 * lines; a full chunk is never copied again, so appending is cheap and the view re-renders only the last one.
 */
import type { BuildStatus, BuildStep, StepTiming } from "../../api/builds";
import type { BuildEvent, LogLinePayload } from "../../api/events";

export const LOG_CHUNK = 250;

export interface LogLine {
  /** from 0, as the server numbers them */
  line: number;
  stream: string;
  text: string;
}

export interface StepEvent {
  created_at_ms: number;
  payload: Record<string, unknown>;
}

export interface LiveState {
  lastEventId: number;
  /** on-chain status from `status` / `result` events; null until one arrives */
  status: BuildStatus | null;
  final: boolean;
  step: BuildStep | null;
  stepEvents: StepEvent[];
  chunks: LogLine[][];
  lineCount: number;
  /** the next line number expected; lower ones are repeats */
  nextLine: number;
  /** the payload of the final `result` (or `status`) event */
  result: Record<string, unknown> | null;
}

export const initialLiveState: LiveState = {
  lastEventId: 0,
  status: null,
  final: false,
  step: null,
  stepEvents: [],
  chunks: [],
  lineCount: 0,
  nextLine: 0,
  result: null,
};

const STATUSES = new Set<string>(["pending", "succeeded", "failed", "cancelled"]);
const STEPS = new Set<string>(["queued", "fetching", "building", "exporting", "attesting", "submitting", "done"]);

function isLogLine(value: unknown): value is LogLinePayload {
  const v = value as LogLinePayload;
  return typeof v === "object" && v !== null && typeof v.line === "number" && typeof v.text === "string";
}

/** Append lines to chunked storage, skipping any line number below `nextLine`. */
export function appendLines(
  chunks: LogLine[][],
  nextLine: number,
  lines: readonly LogLine[],
): { chunks: LogLine[][]; nextLine: number; added: number } {
  const fresh = lines.filter((l) => l.line >= nextLine).sort((a, b) => a.line - b.line);
  if (fresh.length === 0) return { chunks, nextLine, added: 0 };
  const out = chunks.slice();
  let last = out.length > 0 && out[out.length - 1]!.length < LOG_CHUNK ? out.pop()!.slice() : [];
  let next = nextLine;
  let added = 0;
  for (const line of fresh) {
    if (line.line < next) continue; // a repeat inside the batch itself
    if (last.length === LOG_CHUNK) {
      out.push(last);
      last = [];
    }
    last.push(line);
    next = line.line + 1;
    added += 1;
  }
  out.push(last);
  return { chunks: out, nextLine: next, added };
}

export function reduceEvents(state: LiveState, events: readonly BuildEvent[]): LiveState {
  let s = state;
  for (const event of events) {
    if (event.id <= s.lastEventId) continue;
    s = { ...s, lastEventId: event.id };
    const p = event.payload;
    if (event.kind === "log") {
      const lines = Array.isArray(p.lines) ? p.lines.filter(isLogLine) : [];
      const appended = appendLines(
        s.chunks,
        s.nextLine,
        lines.map((l) => ({ line: l.line, stream: String(l.stream ?? "stdout"), text: l.text })),
      );
      if (appended.added > 0) {
        s = { ...s, chunks: appended.chunks, nextLine: appended.nextLine, lineCount: s.lineCount + appended.added };
      }
    } else if (event.kind === "step") {
      const step = typeof p.step === "string" && STEPS.has(p.step) ? (p.step as BuildStep) : null;
      if (step !== null) {
        s = { ...s, step, stepEvents: [...s.stepEvents, { created_at_ms: event.created_at_ms, payload: p }] };
      }
    } else if (event.kind === "status" || event.kind === "result") {
      const status = typeof p.status === "string" && STATUSES.has(p.status) ? (p.status as BuildStatus) : s.status;
      s = { ...s, status };
      if (event.final || event.kind === "result") s = { ...s, result: p };
    }
    if (event.final) s = { ...s, final: true };
  }
  return s;
}

function int(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isInteger(value) ? value : fallback;
}

interface Timing {
  step: BuildStep;
  attempt: number | null;
  started_at_ms: number;
  ended_at_ms?: number;
  ok?: boolean | null;
  error?: string | null;
  phase?: string | null;
}

/**
 * Step timings from step events: the same rules as the API's `step_timings` (api/views.py), so the live view
 * and `GET /v1/builds/{id}` agree. `started`/`finished` pairs per step and attempt; `queued` and `done` are
 * instants; a `queued` without a phase (a requeue) ends the steps still open as failed.
 */
export function stepTimings(events: readonly StepEvent[]): StepTiming[] {
  const timings: Timing[] = [];
  const running = new Map<string, Timing>();
  for (const { created_at_ms, payload } of events) {
    const raw = payload.step;
    if (typeof raw !== "string" || !STEPS.has(raw)) continue;
    const step = raw as BuildStep;
    const attempt = typeof payload.attempt === "number" ? payload.attempt : null;
    const phase = typeof payload.phase === "string" ? payload.phase : null;
    const started = int(payload.started_ms, created_at_ms);
    const key = `${step}/${attempt}`;
    if (phase === "finished") {
      let timing = running.get(key);
      running.delete(key);
      if (timing === undefined) {
        timing = { step, attempt, started_at_ms: started };
        timings.push(timing);
      }
      timing.ended_at_ms = int(payload.finished_ms, created_at_ms);
      timing.ok = typeof payload.ok === "boolean" ? payload.ok : null;
      timing.error = payload.error !== undefined && payload.error !== null ? String(payload.error) : null;
      continue;
    }
    const previous = timings[timings.length - 1];
    if (phase === null && previous !== undefined && (previous.phase ?? null) === null) {
      if (previous.step === step) continue; // the same step announced twice
      previous.ended_at_ms ??= started;
    }
    if (phase === null && step === "queued") {
      for (const abandoned of running.values()) {
        abandoned.ended_at_ms = started;
        abandoned.ok = false;
        abandoned.error = String(payload.reason ?? "abandoned");
      }
      running.clear();
    }
    const timing: Timing = { step, attempt, started_at_ms: started, phase };
    if (phase === null && (step === "queued" || step === "done")) timing.ended_at_ms = started;
    timings.push(timing);
    if (phase === "started") running.set(key, timing);
  }
  return timings.map((t) => ({
    step: t.step,
    attempt: t.attempt,
    started_at_ms: t.started_at_ms,
    ended_at_ms: t.ended_at_ms ?? null,
    duration_ms: t.ended_at_ms === undefined ? null : Math.max(0, t.ended_at_ms - t.started_at_ms),
    ok: t.ok ?? null,
    error: t.error ?? null,
  }));
}

export const STAGES = ["fetching", "building", "exporting", "attesting", "submitting", "final"] as const;
export type Stage = (typeof STAGES)[number];
export type StageState = "waiting" | "running" | "done" | "failed" | "cancelled";

export interface StageView {
  stage: Stage;
  state: StageState;
  started_at_ms: number | null;
  duration_ms: number | null;
  error: string | null;
}

/**
 * The six stages the page shows, for the latest attempt: the runner's five steps, then the on-chain result.
 * A failed build usually shows one failed step (say `building`) and the later steps done: the runner still
 * stores the log and posts the signed failure.
 */
export function stageViews(timings: readonly StepTiming[], status: BuildStatus): StageView[] {
  const attempts = timings.map((t) => t.attempt).filter((a): a is number => a !== null);
  const latest = attempts.length > 0 ? Math.max(...attempts) : null;
  // The latest attempt's steps, after its last requeue.
  let current = timings.filter((t) => latest === null || t.attempt === latest || t.attempt === null);
  const requeue = current.map((t) => t.step).lastIndexOf("queued");
  if (requeue >= 0) current = current.slice(requeue + 1);
  const views: StageView[] = [];
  for (const stage of STAGES) {
    if (stage === "final") {
      const submitted = views.some((v) => v.stage === "submitting" && v.state === "done");
      const state: StageState =
        status === "succeeded"
          ? "done"
          : status === "failed"
            ? "failed"
            : status === "cancelled"
              ? "cancelled"
              : submitted
                ? "running"
                : "waiting";
      views.push({ stage, state, started_at_ms: null, duration_ms: null, error: null });
      continue;
    }
    const timing = [...current].reverse().find((t) => t.step === stage);
    if (timing === undefined) {
      views.push({ stage, state: status === "cancelled" ? "cancelled" : "waiting", started_at_ms: null, duration_ms: null, error: null });
      continue;
    }
    const state: StageState = timing.ended_at_ms === null ? "running" : timing.ok === false ? "failed" : "done";
    views.push({
      stage,
      state: state === "running" && status !== "pending" ? "cancelled" : state,
      started_at_ms: timing.started_at_ms,
      duration_ms: timing.duration_ms,
      error: timing.error,
    });
  }
  return views;
}

/** Stages completed (done or failed), with a half for the one running: what the progress bar shows. */
export function progressOf(stages: readonly StageView[]): number {
  let value = 0;
  for (const s of stages) {
    if (s.state === "done" || s.state === "failed") value += 1;
    else if (s.state === "running") value += 0.5;
  }
  return value;
}

/** Who is at fault for a failure code posted on chain (docs/protocol.md). */
export function describeErrorCode(code: number | null | undefined): string | null {
  if (code === null || code === undefined) return null;
  if (code >= 100 && code < 200) return "a problem with the build request or its source (the fee goes to the payee)";
  if (code >= 200 && code < 300) return "an infrastructure failure (the fee is refunded)";
  return null;
}

/** `BuildFailureCode` names (daas/errors.py), for the failure panel. */
export const FAILURE_CODES: Readonly<Record<number, string>> = {
  100: "BUNDLE_DIGEST_MISMATCH",
  101: "BUNDLE_TOO_LARGE",
  102: "BUNDLE_MALFORMED",
  103: "BUNDLE_UNSAFE_PATH",
  104: "BUNDLE_UNSAFE_ENTRY",
  105: "BUNDLE_TOO_MANY_FILES",
  106: "DOCKERFILE_NOT_FOUND",
  107: "INVALID_BUILD_CONFIG",
  110: "BUILD_STEP_FAILED",
  111: "BUILD_TIMEOUT",
  112: "BUILD_OUT_OF_MEMORY",
  113: "UNSUPPORTED_PLATFORM",
  114: "IMAGE_TOO_LARGE",
  115: "BUNDLE_NOT_FOUND",
  200: "INTERNAL",
  201: "BLOB_STORE_UNAVAILABLE",
  202: "DOCKER_UNAVAILABLE",
  203: "ATTEMPTS_EXHAUSTED",
  204: "CHAIN_UNAVAILABLE",
};
