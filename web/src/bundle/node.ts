/**
 * A real directory as a source tree (Node only: not imported by index.ts). Unlike a browser, Node sees execute
 * bits, symbolic links (never followed) and special files, so its bundles match `daas submit` for any tree.
 */

import { constants, promises as fs } from "node:fs";
import { join } from "node:path";

import { BundleError } from "./errors";
import { type SourceNode, type SourceTree, packTree } from "./pack";
import { readArchive } from "./archive";
import type { ArchiveOptions, PackedBundle, PackOptions } from "./types";

const CHUNK = 1024 * 1024;
const strict = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder("utf-8");

function strerror(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const messages: Record<string, string> = {
    EACCES: "Permission denied",
    ENOENT: "No such file or directory",
    ENOTDIR: "Not a directory",
    ELOOP: "Too many levels of symbolic links",
  };
  return (code && messages[code]) || (err instanceof Error ? err.message : String(err));
}

function describeMode(mode: number): string {
  const type = mode & constants.S_IFMT;
  if (type === constants.S_IFIFO) return "a named pipe (FIFO)";
  if (type === constants.S_IFSOCK) return "a socket";
  if (type === constants.S_IFCHR) return "a character device";
  if (type === constants.S_IFBLK) return "a block device";
  return "a special file";
}

export class NodeDirectoryTree implements SourceTree {
  constructor(private readonly root: string) {}

  async list(dir: string): Promise<SourceNode[]> {
    const absolute = dir ? join(this.root, dir) : this.root;
    let names: Buffer[];
    try {
      names = await fs.readdir(absolute, { encoding: "buffer" });
    } catch (err) {
      throw new BundleError("io", `cannot read directory ${dir || "."}: ${strerror(err)}`, dir);
    }
    const nodes: SourceNode[] = [];
    for (const raw of names) {
      let name: string;
      let rawName: Uint8Array | undefined;
      try {
        name = strict.decode(raw);
      } catch {
        name = lossy.decode(raw);
        rawName = new Uint8Array(raw);
      }
      const rel = dir ? `${dir}/${name}` : name;
      const path = Buffer.concat([Buffer.from(absolute), Buffer.from("/"), raw]);
      let info;
      try {
        info = await fs.lstat(path);
      } catch (err) {
        throw new BundleError("io", `cannot stat ${rel}: ${strerror(err)}`, rel);
      }
      const base = rawName === undefined ? { name } : { name, rawName };
      if (info.isDirectory()) nodes.push({ ...base, kind: "dir" });
      else if (info.isFile()) {
        const size = info.size;
        nodes.push({
          ...base,
          kind: "file",
          size,
          executable: (info.mode & 0o100) !== 0,
          read: () => readFile(path, rel, size),
        });
      } else if (info.isSymbolicLink()) {
        const target = await fs.readlink(path, { encoding: "buffer" });
        let text: string | null;
        try {
          text = strict.decode(target);
        } catch {
          text = null;
        }
        nodes.push({ ...base, kind: "symlink", target: text });
      } else {
        nodes.push({ ...base, kind: "special", description: describeMode(info.mode) });
      }
    }
    return nodes;
  }
}

async function* readFile(path: Buffer, rel: string, size: number): AsyncIterable<Uint8Array> {
  let handle;
  try {
    handle = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw new BundleError("io", `cannot read ${rel}: ${strerror(err)}`, rel);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size !== size) throw new BundleError("io", `${rel} changed while it was being packed`, rel);
    let remaining = size;
    while (remaining > 0) {
      const buffer = new Uint8Array(Math.min(remaining, CHUNK));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) throw new BundleError("io", `${rel} shrank while it was being packed`, rel);
      remaining -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
    const extra = await handle.read(new Uint8Array(1), 0, 1, null);
    if (extra.bytesRead) throw new BundleError("io", `${rel} grew while it was being packed`, rel);
  } finally {
    await handle.close();
  }
}

/** Pack a directory on disk, as `daas submit PATH` does. */
export async function packDirectory(root: string, options: PackOptions = {}): Promise<PackedBundle> {
  let info;
  try {
    info = await fs.stat(root);
  } catch {
    info = null;
  }
  if (!info?.isDirectory()) throw new BundleError("io", `${root} is not a directory`, null);
  return packTree(new NodeDirectoryTree(root), options);
}

/** Pack an archive file on disk (`.tar`, `.tar.gz`, `.tgz`). */
export async function packArchiveFile(path: string, options: ArchiveOptions = {}): Promise<PackedBundle> {
  const data = await fs.readFile(path);
  return packTree(await readArchive(new Blob([data]), options), options);
}
