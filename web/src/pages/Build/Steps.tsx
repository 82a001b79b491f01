/** The six stages with their state and duration, and a progress bar driven by the step events. */
import { useEffect, useState } from "react";

import { formatDuration } from "../../format";
import { type Stage, type StageState, type StageView, progressOf, STAGES } from "./model";

const NAMES: Record<Stage, string> = {
  fetching: "Fetching the source",
  building: "Building the image",
  exporting: "Storing on Walrus",
  attesting: "Signing in the enclave",
  submitting: "Posting the result on chain",
  final: "Settled on chain",
};

const STATE_TEXT: Record<StageState, string> = {
  waiting: "waiting",
  running: "running",
  done: "done",
  failed: "failed",
  cancelled: "cancelled",
};

/** Re-renders every second while `active` (the running step's elapsed time), not otherwise. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [active]);
  return now;
}

function finalText(view: StageView): string {
  switch (view.state) {
    case "done":
      return "succeeded";
    case "failed":
      return "failed";
    case "cancelled":
      return "cancelled";
    case "running":
      return "waiting for the chain";
    default:
      return "waiting";
  }
}

export function Steps({ stages, settled }: { stages: readonly StageView[]; settled: boolean }) {
  const running = stages.find((s) => s.state === "running" && s.stage !== "final");
  const now = useNow(running !== undefined);
  const value = progressOf(stages);
  const current = running ?? stages.find((s) => s.state === "waiting");
  const label = settled
    ? "Finished"
    : current === undefined
      ? "Waiting"
      : `${current.state === "running" ? "Now" : "Next"}: ${NAMES[current.stage].toLowerCase()}`;

  return (
    <div className="steps">
      <div className="stage-progress-row">
        <progress
          className="build-progress"
          max={STAGES.length}
          value={value}
          aria-label="Build progress"
          aria-valuetext={`${Math.floor(value)} of ${STAGES.length} steps done`}
        />
        <span className="stage-progress-text">
          {Math.floor(value)}/{STAGES.length} · {label}
        </span>
      </div>
      <ol className="stage-list">
        {stages.map((s) => {
          const elapsed = s.state === "running" && s.started_at_ms !== null ? Math.max(0, now - s.started_at_ms) : null;
          return (
            <li key={s.stage} className={`stage stage-${s.state}`} data-stage={s.stage} data-state={s.state}>
              <span className="stage-icon" aria-hidden="true" />
              <span className="stage-name">{NAMES[s.stage]}</span>
              <span className="stage-state">{s.stage === "final" ? finalText(s) : STATE_TEXT[s.state]}</span>
              <span className="stage-duration">
                {s.duration_ms !== null ? formatDuration(s.duration_ms) : elapsed !== null ? formatDuration(elapsed) : ""}
              </span>
              {s.error && <p className="stage-error">{s.error}</p>}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
