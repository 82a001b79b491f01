/**
 * Path rules shared with daas/bundle/paths.py: entry names, and symbolic links resolved inside the context
 * (docs/bundle.md section 5).
 */

import { repr } from "./errors";
import type { EntryKind } from "./types";

export const MAX_PATH_BYTES = 4095;
export const MAX_COMPONENT_BYTES = 255;
const MAX_SYMLINK_HOPS = 40;

const encoder = new TextEncoder();
export const utf8Length = (text: string): number => encoder.encode(text).length;

/** A name or link target that cannot be placed inside the context; `escape` when it leads outside. */
export class UnsafeName extends Error {
  readonly reason: "name" | "escape" | "loop";
  constructor(message: string, reason: "name" | "escape" | "loop" = "name") {
    super(message);
    this.reason = reason;
  }
}

/** The components of a relative slash path; `.` and empty components are dropped, `..` is refused. */
export function splitEntryName(name: string, what = "path"): string[] {
  if (name.includes("\0")) throw new UnsafeName(`${what} ${repr(name)} contains a NUL byte`);
  if (name.startsWith("/")) throw new UnsafeName(`${what} ${repr(name)} is absolute`);
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw new UnsafeName(`${what} ${repr(name)} has a '..' component`);
  if (utf8Length(name) > MAX_PATH_BYTES) {
    throw new UnsafeName(`${what} ${repr(Array.from(name).slice(0, 64).join(""))}... is longer than ${MAX_PATH_BYTES} bytes`);
  }
  for (const part of parts) {
    if (utf8Length(part) > MAX_COMPONENT_BYTES) {
      throw new UnsafeName(`${what} ${repr(name)} has a component longer than ${MAX_COMPONENT_BYTES} bytes`);
    }
  }
  return parts;
}

interface Node {
  kind: EntryKind;
  target?: string;
}

/** The entries of a bundle by path; parent directories are implied. */
export class EntryTree {
  private readonly nodes = new Map<string, Node>();

  get(path: string): EntryKind | undefined {
    if (path === "") return "dir";
    return this.nodes.get(path)?.kind;
  }

  add(parts: readonly string[], kind: EntryKind, target?: string): void {
    for (let depth = 1; depth < parts.length; depth++) {
      const parent = parts.slice(0, depth).join("/");
      if (!this.nodes.has(parent)) this.nodes.set(parent, { kind: "dir" });
    }
    this.nodes.set(parts.join("/"), target === undefined ? { kind } : { kind, target });
  }

  symlinks(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [path, node] of this.nodes) {
      if (node.kind === "symlink" && node.target !== undefined) out.push([path, node.target]);
    }
    return out;
  }

  /** Follow `path` through the tree's links: [kind of what it names or undefined if missing, resolved path]. */
  resolve(path: string): [EntryKind | undefined, string] {
    const stack: string[] = [];
    const pending = path.split("/");
    let hops = 0;
    let missing = false; // past a missing component the rest is applied lexically
    let kind: EntryKind | undefined = "dir";
    let via = "";
    while (pending.length) {
      const part = pending.shift()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (!stack.length) throw new UnsafeName(`${repr(path)} leads above the context root${via}`, "escape");
        stack.pop();
        if (!missing) kind = "dir";
        continue;
      }
      if (missing) {
        stack.push(part);
        continue;
      }
      const node = this.nodes.get([...stack, part].join("/"));
      if (node === undefined) {
        missing = true;
        kind = undefined;
        stack.push(part);
      } else if (node.kind === "symlink") {
        hops++;
        if (hops > MAX_SYMLINK_HOPS) {
          throw new UnsafeName(`${repr(path)} follows more than ${MAX_SYMLINK_HOPS} links`, "loop");
        }
        const target = node.target ?? "";
        const link = [...stack, part].join("/");
        if (target.startsWith("/")) {
          throw new UnsafeName(`${repr(path)} goes through ${repr(link)} -> ${repr(target)}, an absolute path`, "escape");
        }
        via = ` (through ${repr(link)} -> ${repr(target)})`;
        pending.unshift(...target.split("/"));
      } else if (node.kind === "file" && pending.some((p) => p !== "" && p !== ".")) {
        return [undefined, [...stack, part, ...pending].join("/")];
      } else {
        kind = node.kind;
        stack.push(part);
      }
    }
    return [kind, stack.join("/")];
  }
}
