/** Errors of the bundle packer: one class, a machine-readable `code`, and the path at fault when there is one. */

export type BundleErrorCode =
  /** `.dockerignore` is malformed (a lone `!`, `[`, `\p{...}`, a line over 64 KiB, not UTF-8). */
  | "ignore"
  /** A name or link target that cannot be placed inside the context (absolute, `..`, too long, escaping link). */
  | "unsafe-path"
  /** Something a bundle cannot hold: FIFO, socket, device, hard link, sparse file, a duplicate entry. */
  | "unsupported-entry"
  /** The Dockerfile is missing or is a directory; or the Dockerfile path itself is invalid. */
  | "dockerfile"
  /** `daas.toml` is not a regular file, not UTF-8 or larger than 64 KiB. */
  | "config"
  /** Over a limit: entries, unpacked bytes, bundle bytes, or an archive that decompresses to too much. */
  | "limit"
  /** An archive that is not a (gzip'd) tar, truncated, corrupt or malformed. */
  | "archive"
  /** A file could not be read, or changed size while it was being packed. */
  | "io";

/** Every refusal of the packer; `message` is meant for people and names the path, `path` is it (or null). */
export class BundleError extends Error {
  readonly code: BundleErrorCode;
  readonly path: string | null;

  constructor(code: BundleErrorCode, message: string, path: string | null = null) {
    super(message);
    this.name = "BundleError";
    this.code = code;
    this.path = path;
  }
}

/** Python's repr() of a str, for messages that read like the CLI's (`'a/b'`, or `"it's"`). */
export function repr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += "\\x" + code.toString(16).padStart(2, "0");
    else out += ch;
  }
  return quote + out + quote;
}
