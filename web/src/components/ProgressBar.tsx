/** A labelled progress bar (native `<progress>`): determinate with `value`/`max`, indeterminate without. */
import { useId } from "react";

export function ProgressBar({ label, value, max, text }: { label: string; value?: number; max?: number; text?: string }) {
  const id = useId();
  const determinate = value !== undefined && max !== undefined && max > 0;
  return (
    <div className="progress">
      <div className="progress-label">
        <span id={id}>{label}</span>
        {text && <span className="progress-text">{text}</span>}
      </div>
      {determinate ? (
        <progress aria-labelledby={id} value={Math.min(value, max)} max={max} />
      ) : (
        <progress aria-labelledby={id} />
      )}
    </div>
  );
}
