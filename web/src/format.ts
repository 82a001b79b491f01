/** Formatting shared by the pages: byte sizes, SUI amounts, shortened ids, durations and times. */

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"] as const;

/** `1536` → `1.5 KiB`; exact below 1 KiB (`512 bytes`, `1 byte`). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes < 1024) return bytes === 1 ? "1 byte" : `${bytes} bytes`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits).replace(/\.?0+$/, "")} ${UNITS[unit]}`;
}

export const MIST_PER_SUI = 1_000_000_000n;

/** MIST as SUI with up to 9 decimals, trailing zeros dropped: `1500000000` → `1.5 SUI`. */
export function formatSui(mist: number | bigint | string): string {
  let value: bigint;
  try {
    value = BigInt(mist);
  } catch {
    return "—";
  }
  const negative = value < 0n;
  if (negative) value = -value;
  const whole = value / MIST_PER_SUI;
  const fraction = (value % MIST_PER_SUI).toString().padStart(9, "0").replace(/0+$/, "");
  const grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${grouped}${fraction ? `.${fraction}` : ""} SUI`;
}

/** MIST with thousands separators: `10000000` → `10,000,000 MIST`. */
export function formatMist(mist: number | bigint | string): string {
  try {
    return `${BigInt(mist).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",")} MIST`;
  } catch {
    return "—";
  }
}

/** `0x1234…cdef`: enough to recognise an address or digest; the full value goes in `title`. */
export function shortId(id: string, head = 6, tail = 4): string {
  if (id.length <= head + tail + 1) return id;
  return `${id.slice(0, head)}…${id.slice(-tail)}`;
}

/** A percentage for progress text: `42%`. */
export function percent(done: number, total: number): string {
  if (total <= 0) return "0%";
  return `${Math.min(100, Math.floor((done / total) * 100))}%`;
}

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
