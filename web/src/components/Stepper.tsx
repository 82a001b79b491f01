/** The steps of a flow, in order, with each one's state; the current one is `aria-current="step"`. */
export type StepState = "todo" | "current" | "done" | "error";

export interface Step {
  label: string;
  state: StepState;
}

const STATE_TEXT: Record<StepState, string> = {
  todo: "not started",
  current: "current step",
  done: "done",
  error: "needs attention",
};

export function Stepper({ steps, label = "Progress" }: { steps: Step[]; label?: string }) {
  return (
    <div className="stepper">
      <ol aria-label={label}>
        {steps.map((step, index) => (
          <li key={step.label} className={`step step-${step.state}`} aria-current={step.state === "current" ? "step" : undefined}>
            <span className="step-marker" aria-hidden="true">
              {step.state === "done" ? "✓" : step.state === "error" ? "!" : index + 1}
            </span>
            <span className="step-label">
              {step.label}
              <span className="visually-hidden"> ({STATE_TEXT[step.state]})</span>
            </span>
          </li>
        ))}
      </ol>
    </div>
  );
}
