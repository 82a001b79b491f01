import type { BuildStatus, BuildStep } from "../../api/builds";
import "./badge.css";

const LABELS: Record<BuildStatus, string> = {
  pending: "Pending",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
};

/** The on-chain status in words (and an icon that is not the only signal); a pending build shows its step. */
export function StatusBadge({ status, step }: { status: BuildStatus; step?: BuildStep | null | undefined }) {
  const running = status === "pending" && step && step !== "queued" && step !== "done";
  const text = running ? `Running: ${step}` : status === "pending" && step === "queued" ? "Queued" : LABELS[status];
  return (
    <span className={`status-badge status-${running ? "running" : status}`} data-status={status}>
      <span aria-hidden="true" className="status-icon" />
      {text}
    </span>
  );
}
