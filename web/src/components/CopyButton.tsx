/** Copy a value: the Clipboard API where allowed, else a hidden textarea and `execCommand("copy")`. */
import { useEffect, useState } from "react";

async function copyText(value: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(value);
      return;
    } catch {
      // permission refused or document not focused: try the old way
    }
  }
  const area = document.createElement("textarea");
  area.value = value;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.top = "-1000px";
  area.style.opacity = "0";
  const active = document.activeElement as HTMLElement | null;
  document.body.appendChild(area);
  area.select();
  try {
    if (!document.execCommand("copy")) throw new Error("copy refused");
  } finally {
    document.body.removeChild(area);
    active?.focus();
  }
}

/**
 * A button that copies `value`; "Copied" (or the failure) is announced through an aria-live region, shown
 * beside the button unless `quiet` (the header's account chip, where there is no room for it).
 */
export function CopyButton({ value, label, quiet = false }: { value: string; label: string; quiet?: boolean }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");

  useEffect(() => {
    if (state === "idle") return;
    const timer = window.setTimeout(() => setState("idle"), 2500);
    return () => window.clearTimeout(timer);
  }, [state]);

  const copy = () => {
    copyText(value).then(
      () => setState("copied"),
      () => setState("failed"),
    );
  };

  return (
    <span className="copy">
      <button type="button" className="copy-button small" onClick={copy} aria-label={`Copy ${label}`}>
        {state === "copied" ? "Copied" : "Copy"}
      </button>
      <span className={quiet ? "visually-hidden" : "copy-status"} role="status" aria-live="polite">
        {state === "copied" ? "Copied" : state === "failed" ? "Copy failed: select the text and copy it" : ""}
      </span>
    </span>
  );
}
