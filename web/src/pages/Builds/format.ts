/** Small formatting helpers shared by the builds list, the build view and the status page (tested). */

/** `850 ms`, `4.2 s`, `3 min 05 s`, `1 h 02 min`; an em dash for nothing. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) {
    const rounded = Math.round(seconds * 10) / 10;
    return rounded < 60 ? `${rounded.toFixed(1)} s` : "1 min 00 s";
  }
  const total = Math.floor(seconds);
  if (total < 3600) {
    const m = Math.floor(total / 60);
    const s = total % 60;
    return `${m} min ${String(s).padStart(2, "0")} s`;
  }
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  return `${h} h ${String(m).padStart(2, "0")} min`;
}

/** Seconds (as `/healthz` and `/metrics` give them) in the same style. */
export function formatSeconds(seconds: number | null | undefined): string {
  return seconds === null || seconds === undefined ? "—" : formatDuration(seconds * 1000);
}

/** `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago` (and `in …` for the future). */
export function formatRelative(ms: number, now: number = Date.now()): string {
  const delta = now - ms;
  const abs = Math.abs(delta);
  let text: string;
  if (abs < 5_000) return "just now";
  if (abs < 60_000) text = `${Math.round(abs / 1000)} s`;
  else if (abs < 3_600_000) text = `${Math.round(abs / 60_000)} min`;
  else if (abs < 86_400_000) text = `${Math.round(abs / 3_600_000)} h`;
  else text = `${Math.round(abs / 86_400_000)} d`;
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

/** Local date and time, to the second (for `title` attributes and tables). */
export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** `0x1234…cdef`: a long hex id shortened for narrow places (the full id goes in a `title`). */
export function shortId(id: string, head = 6, tail = 4): string {
  return id.length <= head + tail + 3 ? id : `${id.slice(0, head)}…${id.slice(-tail)}`;
}

/** MIST as SUI, trimmed: 10000000 → `0.01 SUI`. */
export function formatSui(mist: number): string {
  const sui = mist / 1e9;
  return `${sui.toLocaleString(undefined, { maximumFractionDigits: 9 })} SUI`;
}
