/**
 * In-memory source trees for the pipeline: built from browser files (paths + Blobs) or from an archive's entries.
 * No DOM API is used: `Blob` and `File` exist in Node 20 too.
 */

import { BundleError, repr } from "./errors";
import type { SourceNode, SourceTree } from "./pack";
import { UnsafeName, splitEntryName } from "./paths";
import type { SourceFile } from "./types";

const CHUNK = 4 * 1024 * 1024;

type MemNode =
  | { kind: "dir"; children: Map<string, MemNode> }
  | { kind: "file"; size: number; executable: boolean; read: () => AsyncIterable<Uint8Array> }
  | { kind: "symlink"; target: string };

export async function* blobChunks(blob: Blob): AsyncIterable<Uint8Array> {
  for (let at = 0; at < blob.size; at += CHUNK) {
    yield new Uint8Array(await blob.slice(at, Math.min(at + CHUNK, blob.size)).arrayBuffer());
  }
}

async function* bytesChunks(data: Uint8Array): AsyncIterable<Uint8Array> {
  for (let at = 0; at < data.length; at += CHUNK) yield data.subarray(at, at + CHUNK);
}

export type MemEntry =
  | { kind: "dir" }
  | { kind: "file"; size: number; executable: boolean; read: () => AsyncIterable<Uint8Array> }
  | { kind: "symlink"; target: string };

/** A tree of directories, files and links held in memory; `add` refuses duplicates and paths through files. */
export class MemoryTree implements SourceTree {
  private readonly root: MemNode & { kind: "dir" } = { kind: "dir", children: new Map() };

  /** Add an entry at a `/` path (`.` and empty components are dropped; absolute or `..` paths are refused). */
  add(path: string, entry: MemEntry, what = "file"): void {
    let parts: string[];
    try {
      parts = splitEntryName(path, what);
    } catch (err) {
      if (err instanceof UnsafeName) throw new BundleError("unsafe-path", err.message, path);
      throw err;
    }
    if (!parts.length) {
      if (entry.kind === "dir") return;
      throw new BundleError("unsafe-path", `${what} ${repr(path)} names the context root`, path);
    }
    let dir = this.root;
    for (let k = 0; k < parts.length - 1; k++) {
      const name = parts[k]!;
      let child = dir.children.get(name);
      if (child === undefined) {
        child = { kind: "dir", children: new Map() };
        dir.children.set(name, child);
      } else if (child.kind !== "dir") {
        const through = parts.slice(0, k + 1).join("/");
        const kind = child.kind === "file" ? "a regular file" : "a symbolic link";
        throw new BundleError("unsafe-path", `${what} ${repr(path)} goes through ${repr(through)}, ${kind}`, path);
      }
      dir = child;
    }
    const name = parts[parts.length - 1]!;
    const existing = dir.children.get(name);
    if (existing !== undefined) {
      if (existing.kind === "dir" && entry.kind === "dir") return;
      const message =
        existing.kind === "dir"
          ? `${what} ${repr(path)} would replace the directory holding earlier entries`
          : `${what} ${repr(path)} appears twice`;
      throw new BundleError("unsupported-entry", message, path);
    }
    dir.children.set(name, entry.kind === "dir" ? { kind: "dir", children: new Map() } : entry);
  }

  addBytes(path: string, data: Uint8Array, executable = false, what = "file"): void {
    this.add(path, { kind: "file", size: data.length, executable, read: () => bytesChunks(data) }, what);
  }

  async list(dir: string): Promise<SourceNode[]> {
    let node: MemNode = this.root;
    for (const part of dir ? dir.split("/") : []) {
      const child: MemNode | undefined = node.kind === "dir" ? node.children.get(part) : undefined;
      if (child === undefined || child.kind !== "dir") throw new BundleError("io", `cannot read directory ${dir}`, dir);
      node = child;
    }
    if (node.kind !== "dir") throw new BundleError("io", `cannot read directory ${dir || "."}`, dir);
    return [...node.children].map(([name, child]): SourceNode => {
      switch (child.kind) {
        case "dir":
          return { name, kind: "dir" };
        case "symlink":
          return { name, kind: "symlink", target: child.target };
        default:
          return { name, kind: "file", size: child.size, executable: child.executable, read: child.read };
      }
    });
  }

  static fromFiles(files: ArrayLike<File | SourceFile> | Iterable<File | SourceFile>): MemoryTree {
    const list = Array.from(files as Iterable<File | SourceFile>);
    const sources = list.every(isSourceFile)
      ? (list as SourceFile[])
      : filesFromInput(list.filter((f): f is File => !isSourceFile(f))).concat(list.filter(isSourceFile));
    const tree = new MemoryTree();
    for (const source of sources) {
      const blob = source.file;
      tree.add(source.path, {
        kind: "file",
        size: blob.size,
        executable: source.executable ?? false,
        read: () => blobChunks(blob),
      });
    }
    return tree;
  }
}

function isSourceFile(value: File | SourceFile): value is SourceFile {
  return typeof (value as SourceFile).path === "string" && (value as SourceFile).file !== undefined;
}

/**
 * Files from `<input type="file" webkitdirectory>`: paths from `webkitRelativePath` with the common top folder
 * (the chosen folder) stripped; files without one (a plain multiple-file input) are at the root by name.
 */
export function filesFromInput(files: ArrayLike<File> | Iterable<File>): SourceFile[] {
  const list = Array.from(files as Iterable<File>);
  const paths = list.map((f) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name);
  return stripCommonTop(paths).map((path, i) => ({ path, file: list[i]! }));
}

/** Remove the first component when every path has at least two and they all share it. */
export function stripCommonTop(paths: readonly string[]): string[] {
  const split = paths.map((p) => p.split("/").filter((part) => part !== ""));
  const top = split[0]?.[0];
  const common = top !== undefined && split.every((parts) => parts.length >= 2 && parts[0] === top);
  return split.map((parts) => (common ? parts.slice(1) : parts).join("/"));
}
