import { describe, expect, it } from "vitest";

import type { BuildEvent } from "../../api/events";
import {
  appendLines,
  describeErrorCode,
  initialLiveState,
  LOG_CHUNK,
  type LiveState,
  progressOf,
  reduceEvents,
  stageViews,
  stepTimings,
} from "./model";

const BUILD = "0x" + "ea".repeat(32);
let t = 1_795_861_912_690;

function ev(id: number, kind: BuildEvent["kind"], payload: Record<string, unknown>, final = false): BuildEvent {
  t += 5;
  return { id, build_id: BUILD, kind, created_at_ms: t, final, payload };
}

function log(id: number, first: number, count: number): BuildEvent {
  const lines = Array.from({ length: count }, (_, i) => ({ line: first + i, stream: "stdout", text: `line ${first + i}` }));
  return ev(id, "log", { first_line: first, last_line: first + count - 1, lines });
}

const step = (id: number, name: string, phase: "started" | "finished" | null, extra: Record<string, unknown> = {}) =>
  ev(id, "step", { step: name, ...(phase ? { phase } : {}), attempt: 1, started_ms: t, ...(phase === "finished" ? { finished_ms: t + 10 } : {}), ...extra });

// The sequence a failing build (`RUN false`) really produces: failed build step, then export, attest, submit.
function failingBuild(): BuildEvent[] {
  return [
    ev(23, "status", { status: "pending", source: "chain", tx_digest: "UVc", final: false }),
    step(24, "fetching", "started"),
    step(25, "fetching", "finished", { ok: true }),
    step(26, "building", "started"),
    log(27, 0, 6),
    log(28, 6, 4),
    step(29, "building", "finished", { ok: false, error: "Step 2/2 : RUN false failed with exit code 1" }),
    step(30, "exporting", "started"),
    log(31, 10, 3),
    step(32, "exporting", "finished", { ok: true }),
    step(33, "attesting", "started"),
    step(34, "attesting", "finished", { ok: true, error_code: 110 }),
    step(35, "submitting", "started"),
    step(36, "submitting", "finished", { ok: true, outcome: "failed" }),
    log(37, 13, 2),
    ev(38, "step", { step: "done", outcome: "failed", attempt: 1 }),
    ev(39, "result", { status: "failed", error_code: 110, error_message: "build step failed", final: true }, true),
  ];
}

function lines(state: LiveState): number[] {
  return state.chunks.flat().map((l) => l.line);
}

describe("reduceEvents", () => {
  it("folds a whole failing build", () => {
    const s = reduceEvents(initialLiveState, failingBuild());
    expect(s.lastEventId).toBe(39);
    expect(s.status).toBe("failed");
    expect(s.final).toBe(true);
    expect(s.step).toBe("done");
    expect(s.lineCount).toBe(15);
    expect(lines(s)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(s.result).toMatchObject({ error_code: 110, error_message: "build step failed" });
  });

  it("gives the same state however the events are split into batches", () => {
    const events = failingBuild();
    const whole = reduceEvents(initialLiveState, events);
    let split = initialLiveState;
    for (const e of events) split = reduceEvents(split, [e]);
    expect(split).toEqual(whole);
  });

  it("ignores repeated events and repeated log lines (a resumed stream)", () => {
    const events = failingBuild();
    let s = reduceEvents(initialLiveState, events.slice(0, 6));
    // The connection drops; the replay overlaps what we had.
    s = reduceEvents(s, events.slice(3));
    expect(lines(s)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(s.stepEvents).toHaveLength(events.filter((e) => e.kind === "step").length);
    // A log event with a new id but old lines (another attempt re-sending) adds only the new ones.
    s = reduceEvents(s, [log(40, 12, 5)]);
    expect(s.lineCount).toBe(17);
    expect(lines(s).slice(-3)).toEqual([14, 15, 16]);
  });

  it("keeps earlier log chunks by reference and splits at LOG_CHUNK lines", () => {
    let s = reduceEvents(initialLiveState, [log(1, 0, LOG_CHUNK + 10)]);
    expect(s.chunks.map((c) => c.length)).toEqual([LOG_CHUNK, 10]);
    const first = s.chunks[0];
    s = reduceEvents(s, [log(2, LOG_CHUNK + 10, 5)]);
    expect(s.chunks[0]).toBe(first);
    expect(s.chunks.map((c) => c.length)).toEqual([LOG_CHUNK, 15]);
  });

  it("handles thousands of lines quickly", () => {
    let s = initialLiveState;
    const start = performance.now();
    for (let i = 0; i < 2000; i += 1) s = reduceEvents(s, [log(i + 1, i * 50, 50)]);
    expect(s.lineCount).toBe(100_000);
    expect(performance.now() - start).toBeLessThan(2000);
  });

  it("ignores unknown kinds of payloads without failing", () => {
    const s = reduceEvents(initialLiveState, [
      ev(1, "step", { step: "teleporting" }),
      ev(2, "log", { lines: [{ nope: true }, { line: 0, stream: "stdout", text: "ok" }] }),
      ev(3, "status", { status: "weird" }),
    ]);
    expect(s.step).toBeNull();
    expect(s.lineCount).toBe(1);
    expect(s.status).toBeNull();
    expect(s.lastEventId).toBe(3);
  });
});

describe("appendLines", () => {
  it("sorts a batch and drops lines below the next expected one", () => {
    const r = appendLines([], 2, [
      { line: 3, stream: "stdout", text: "d" },
      { line: 1, stream: "stdout", text: "b" },
      { line: 2, stream: "stdout", text: "c" },
      { line: 3, stream: "stdout", text: "d again" },
    ]);
    expect(r.chunks.flat().map((l) => l.text)).toEqual(["c", "d"]);
    expect(r.nextLine).toBe(4);
    expect(r.added).toBe(2);
  });
});

describe("stepTimings and stages", () => {
  it("pairs started and finished events, like the API", () => {
    const events = failingBuild();
    const s = reduceEvents(initialLiveState, events);
    const timings = stepTimings(s.stepEvents);
    expect(timings.map((x) => x.step)).toEqual(["fetching", "building", "exporting", "attesting", "submitting", "done"]);
    const building = timings[1]!;
    expect(building).toMatchObject({ ok: false, error: "Step 2/2 : RUN false failed with exit code 1" });
    // started at the `started` event's started_ms, ended at the `finished` event's finished_ms
    expect(building.started_at_ms).toBe(events[3]!.payload.started_ms);
    expect(building.ended_at_ms).toBe(events[6]!.payload.finished_ms);
    expect(building.duration_ms).toBe(building.ended_at_ms! - building.started_at_ms);
    expect(timings[5]).toMatchObject({ duration_ms: 0, ok: null });
  });

  it("shows a failed step, the later ones done, and a failed result", () => {
    const s = reduceEvents(initialLiveState, failingBuild());
    const stages = stageViews(stepTimings(s.stepEvents), "failed");
    expect(stages.map((x) => `${x.stage}:${x.state}`)).toEqual([
      "fetching:done",
      "building:failed",
      "exporting:done",
      "attesting:done",
      "submitting:done",
      "final:failed",
    ]);
    expect(progressOf(stages)).toBe(6);
  });

  it("progresses with step events while running", () => {
    const events = failingBuild();
    const running = reduceEvents(initialLiveState, events.slice(0, 5)); // building started
    const stages = stageViews(stepTimings(running.stepEvents), "pending");
    expect(stages.map((x) => x.state)).toEqual(["done", "running", "waiting", "waiting", "waiting", "waiting"]);
    expect(progressOf(stages)).toBe(1.5);
    expect(progressOf(stageViews([], "pending"))).toBe(0);
  });

  it("shows the latest attempt after a requeue", () => {
    const events = [
      step(1, "fetching", "started"),
      step(2, "fetching", "finished", { ok: true }),
      step(3, "building", "started"),
      ev(4, "step", { step: "queued", reason: "lease expired" }),
      ev(5, "step", { step: "fetching", phase: "started", attempt: 2, started_ms: t }),
    ];
    const s = reduceEvents(initialLiveState, events);
    const timings = stepTimings(s.stepEvents);
    expect(timings[1]).toMatchObject({ step: "building", ok: false, error: "lease expired" });
    const stages = stageViews(timings, "pending");
    expect(stages.map((x) => x.state)).toEqual(["running", "waiting", "waiting", "waiting", "waiting", "waiting"]);
  });

  it("names who is at fault for a failure code", () => {
    expect(describeErrorCode(110)).toMatch(/request/);
    expect(describeErrorCode(203)).toMatch(/refunded/);
    expect(describeErrorCode(null)).toBeNull();
  });
});
