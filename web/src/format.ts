/** Formatting shared by the pages: byte sizes, SUI amounts, shortened ids. */

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
