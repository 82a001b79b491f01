/**
 * The canonical pipeline, a port of daas/bundle/pack.py: walk a source tree with `.dockerignore` (Docker's walk),
 * keep the always-included files, list parent directories, sort by UTF-8 bytes, check links and the Dockerfile,
 * then encode (format.ts). The source is abstract (`SourceTree`): a list of browser files, an archive, or a
 * Node directory (node.ts) all go through here.
 */

import { BundleError, repr } from "./errors";
import {
  DIR_MODE,
  END_OF_ARCHIVE_BYTES,
  EXEC_MODE,
  FILE_MODE,
  MAX_USTAR_SIZE,
  STORED_BLOCK_MAX,
  StoredGzipWriter,
  SYMLINK_MODE,
  bundleSize,
  entryHeader,
  padding,
  sha256Hex,
} from "./format";
import { IgnorePatternError, type MatchInfo, PatternMatcher, readIgnorePatterns } from "./ignore";
import { EntryTree, UnsafeName, splitEntryName } from "./paths";
import { MemoryTree } from "./sources";
import type { BundleEntry, BundleLimits, PackedBundle, PackOptions, PackProgress, SourceFile } from "./types";

export const DOCKERIGNORE = ".dockerignore";
export const CONFIG_FILE_NAME = "daas.toml";
const MAX_IGNORE_BYTES = 1024 * 1024;
const MAX_CONFIG_BYTES = 64 * 1024;
const PROGRESS_STEP = 1024 * 1024;

interface NodeBase {
  /** The name as the source gives it (a replacement-character decoding when `rawName` is set). */
  name: string;
  /** The raw bytes of a name that is not valid UTF-8 (Node only): such an entry is refused unless excluded. */
  rawName?: Uint8Array;
}

export interface SourceFileNode extends NodeBase {
  kind: "file";
  size: number;
  executable: boolean;
  /** The file's bytes, in chunks; the pipeline checks that they add up to `size`. */
  read(): AsyncIterable<Uint8Array>;
}

export type SourceNode =
  | SourceFileNode
  | (NodeBase & { kind: "dir" })
  /** `target` is null when the link's target is not valid UTF-8. */
  | (NodeBase & { kind: "symlink"; target: string | null })
  /** FIFO, socket, device: refused unless excluded. `description` is e.g. "a named pipe (FIFO)". */
  | (NodeBase & { kind: "special"; description: string });

/** A directory tree to pack: the children of a directory ("" is the root). */
export interface SourceTree {
  list(dir: string): Promise<SourceNode[]>;
}

interface Leaf extends BundleEntry {
  node?: SourceFileNode;
}

function relative(name: string, what = "path", code: "unsafe-path" | "dockerfile" = "unsafe-path"): string[] {
  try {
    return splitEntryName(name, what);
  } catch (err) {
    if (err instanceof UnsafeName) throw new BundleError(code, err.message, name);
    throw err;
  }
}

function pyBytes(raw: Uint8Array): string {
  let out = "b'";
  for (const byte of raw) {
    if (byte === 0x5c) out += "\\\\";
    else if (byte === 0x27) out += "\\'";
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += "\\x" + byte.toString(16).padStart(2, "0");
  }
  return out + "'";
}

const encoder = new TextEncoder();

function checkUtf8(rel: string, node: SourceNode, parentRaw: Uint8Array | null): void {
  if (node.rawName === undefined && parentRaw === null) return;
  const prefix = parentRaw ?? new Uint8Array(0);
  const name = node.rawName ?? encoder.encode(node.name);
  const raw = new Uint8Array(prefix.length + (prefix.length ? 1 : 0) + name.length);
  raw.set(prefix, 0);
  if (prefix.length) raw[prefix.length] = 0x2f;
  raw.set(name, raw.length - name.length);
  throw new BundleError(
    "unsafe-path",
    `${pyBytes(raw)}: file names must be valid UTF-8 (rename it or add it to .dockerignore)`,
    rel,
  );
}

function ancestors(path: string): string[] {
  const parts = path.split("/");
  const out: string[] = [];
  for (let k = 1; k < parts.length; k++) out.push(parts.slice(0, k).join("/"));
  return out;
}

/** Compare by the bytes of the UTF-8 encoding (= code point order), not UTF-16 code units. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

async function readAll(node: SourceFileNode, path: string): Promise<Uint8Array> {
  const out = new Uint8Array(node.size);
  let at = 0;
  for await (const chunk of node.read()) {
    if (at + chunk.length > node.size) throw new BundleError("io", `${path} grew while it was being packed`, path);
    out.set(chunk, at);
    at += chunk.length;
  }
  if (at !== node.size) throw new BundleError("io", `${path} shrank while it was being packed`, path);
  return out;
}

async function readDockerignore(root: SourceNode[]): Promise<PatternMatcher> {
  const node = root.find((n) => n.name === DOCKERIGNORE && n.rawName === undefined);
  if (node === undefined) return new PatternMatcher([]);
  if (node.kind !== "file") throw new BundleError("ignore", `${DOCKERIGNORE} must be a regular file`, DOCKERIGNORE);
  if (node.size > MAX_IGNORE_BYTES) throw new BundleError("ignore", `${DOCKERIGNORE} is larger than 1 MiB`, DOCKERIGNORE);
  const data = await readAll(node, DOCKERIGNORE);
  try {
    return new PatternMatcher(readIgnorePatterns(data));
  } catch (err) {
    if (err instanceof IgnorePatternError) {
      throw new BundleError("ignore", `${DOCKERIGNORE}: ${err.message}`, DOCKERIGNORE);
    }
    throw err;
  }
}

export interface Collected {
  entries: Leaf[];
  dockerfile: string;
  /** Directories seen by the walk (even empty ones): to tell "no Dockerfile" from "the Dockerfile is a directory". */
  seenDirs: Set<string>;
}

/**
 * The entries a bundle of `tree` holds (sorted) and the normalised Dockerfile path, as `collect_entries`:
 * the walk honours `.dockerignore` and always keeps `.dockerignore`, the Dockerfile and `daas.toml`.
 */
export async function collectEntries(
  tree: SourceTree,
  dockerfile = "Dockerfile",
  executable?: (path: string) => boolean,
): Promise<Collected> {
  const dockerfilePath = relative(dockerfile, "Dockerfile path", "dockerfile").join("/");
  if (!dockerfilePath) throw new BundleError("dockerfile", "the Dockerfile path names the context itself", dockerfile);
  const rootListing = await tree.list("");
  const matcher = await readDockerignore(rootListing);
  const forced = new Set([DOCKERIGNORE, CONFIG_FILE_NAME, dockerfilePath]);
  const forcedDirs = new Set([...forced].flatMap(ancestors));
  const seenDirs = new Set<string>();

  const leaves: Leaf[] = [];
  const pending: Array<[string, MatchInfo | null, Uint8Array | null]> = [["", null, null]];
  let listing: SourceNode[] | null = rootListing;
  while (pending.length) {
    const [relDir, info, rawDir] = pending.pop()!;
    const children = [...(listing ?? (await tree.list(relDir)))].sort((a, b) => compareUtf8(a.name, b.name));
    listing = null;
    for (const child of children) {
      const rel = relDir ? `${relDir}/${child.name}` : child.name;
      const childRaw =
        rawDir === null && child.rawName === undefined
          ? null
          : joinRaw(rawDir, child.rawName ?? encoder.encode(child.name));
      let [excluded, childInfo] = matcher.matchesUsingParentResults(rel, info);
      if (forced.has(rel)) excluded = false;
      if (child.kind === "dir") {
        // Like Docker's walk: an excluded directory is entered only if an exception may apply inside.
        if (!excluded || matcher.mayIncludeUnder(rel) || forcedDirs.has(rel)) {
          checkUtf8(rel, child, rawDir);
          seenDirs.add(rel);
          pending.push([rel, childInfo, childRaw]);
        }
        continue;
      }
      if (excluded) continue;
      checkUtf8(rel, child, rawDir);
      relative(rel);
      leaves.push(leaf(rel, child, executable));
    }
  }
  return { entries: withDirectories(leaves), dockerfile: dockerfilePath, seenDirs };
}

function joinRaw(parent: Uint8Array | null, name: Uint8Array): Uint8Array {
  if (parent === null) return name;
  const out = new Uint8Array(parent.length + 1 + name.length);
  out.set(parent, 0);
  out[parent.length] = 0x2f;
  out.set(name, parent.length + 1);
  return out;
}

function leaf(rel: string, node: SourceNode, executable?: (path: string) => boolean): Leaf {
  switch (node.kind) {
    case "file": {
      const exec = node.executable || (executable?.(rel) ?? false);
      return { path: rel, kind: "file", mode: exec ? EXEC_MODE : FILE_MODE, size: node.size, node };
    }
    case "symlink": {
      const target = node.target;
      if (target === null) {
        throw new BundleError("unsafe-path", `symbolic link ${rel} has a target that is not UTF-8`, rel);
      }
      if (!target || target.startsWith("/")) {
        throw new BundleError(
          "unsafe-path",
          `symbolic link ${rel} -> ${repr(target)} points to an absolute path; the runner refuses ` +
            "links that leave the context (make it relative or add it to .dockerignore)",
          rel,
        );
      }
      return { path: rel, kind: "symlink", mode: SYMLINK_MODE, size: 0, target };
    }
    case "special":
      throw new BundleError(
        "unsupported-entry",
        `${rel} is ${node.description}; a bundle holds only regular files, directories ` +
          "and symbolic links (add it to .dockerignore)",
        rel,
      );
    default:
      throw new Error(`unexpected ${node.kind}`);
  }
}

function withDirectories(leaves: Leaf[]): Leaf[] {
  // Directories are the parents of what is packed: an empty directory is not part of a bundle.
  const dirs = new Set(leaves.flatMap((l) => ancestors(l.path)));
  const entries: Leaf[] = [...leaves, ...[...dirs].map((path): Leaf => ({ path, kind: "dir", mode: DIR_MODE, size: 0 }))];
  return entries.sort((a, b) => compareUtf8(a.path, b.path));
}

function checkTree(collected: Collected): EntryTree {
  const tree = new EntryTree();
  for (const entry of collected.entries) tree.add(entry.path.split("/"), entry.kind, entry.target);
  for (const [path, target] of tree.symlinks()) {
    try {
      tree.resolve(path);
    } catch (err) {
      if (err instanceof UnsafeName) {
        throw new BundleError(
          "unsafe-path",
          `symbolic link ${path} -> ${repr(target)} does not stay inside the context: ${err.message}`,
          path,
        );
      }
      throw err;
    }
  }
  const dockerfile = collected.dockerfile;
  const [kind] = tree.resolve(dockerfile);
  if (kind === undefined && !collected.seenDirs.has(dockerfile)) {
    throw new BundleError("dockerfile", `no Dockerfile at ${repr(dockerfile)} in the directory`, dockerfile);
  }
  if (kind !== "file") {
    throw new BundleError("dockerfile", `the Dockerfile path ${repr(dockerfile)} is a directory`, dockerfile);
  }
  return tree;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** What the packer can check of `daas.toml` without a TOML parser: a regular file, at most 64 KiB, UTF-8. */
async function checkConfig(entries: Leaf[], tree: EntryTree): Promise<Map<Leaf, Uint8Array>> {
  const cache = new Map<Leaf, Uint8Array>();
  const kind = tree.get(CONFIG_FILE_NAME);
  if (kind === undefined) return cache;
  if (kind !== "file") throw new BundleError("config", `${CONFIG_FILE_NAME} must be a regular file`, CONFIG_FILE_NAME);
  const entry = entries.find((e) => e.path === CONFIG_FILE_NAME)!;
  if (entry.size > MAX_CONFIG_BYTES) {
    throw new BundleError("config", `${CONFIG_FILE_NAME} is larger than 64 KiB`, CONFIG_FILE_NAME);
  }
  const data = await readAll(entry.node!, CONFIG_FILE_NAME);
  try {
    strictUtf8.decode(data);
  } catch {
    throw new BundleError("config", `${CONFIG_FILE_NAME} is not valid UTF-8`, CONFIG_FILE_NAME);
  }
  cache.set(entry, data);
  return cache;
}

function tarLength(entries: readonly BundleEntry[]): number {
  let tar = END_OF_ARCHIVE_BYTES;
  for (const e of entries) {
    if (e.size > MAX_USTAR_SIZE) {
      throw new BundleError("limit", `${e.path} is larger than ${MAX_USTAR_SIZE} bytes`, e.path);
    }
    tar += entryHeader(e.path, e.kind, e.mode, 0, e.target).length + e.size + padding(e.size);
  }
  return tar;
}

function checkLimits(entries: readonly BundleEntry[], size: number, limits: BundleLimits): void {
  if (entries.length > limits.maxFiles) {
    throw new BundleError("limit", `the bundle would have ${entries.length} entries; at most ${limits.maxFiles} are accepted`);
  }
  const unpacked = entries.reduce((n, e) => n + e.size, 0);
  if (unpacked > limits.maxUnpackedBytes) {
    throw new BundleError("limit", `the files add up to ${unpacked} bytes; at most ${limits.maxUnpackedBytes} are accepted`);
  }
  if (size > limits.maxBundleBytes) {
    throw new BundleError("limit", `the bundle would be ${size} bytes; at most ${limits.maxBundleBytes} are accepted`);
  }
}

/** JavaScript's typed arrays stop somewhere between 2 and 4 GiB; refuse clearly before trying. */
const MAX_IN_MEMORY = 2 ** 31 - 1;

export function executablePredicate(option: PackOptions["executable"]): ((path: string) => boolean) | undefined {
  if (option === undefined) return undefined;
  if (typeof option === "function") return option;
  const set = new Set<string>();
  for (const path of option) set.add(relative(path, "executable path").join("/"));
  return (path) => set.has(path);
}

/** Pack a source tree into a canonical bundle. Raises `BundleError`. */
export async function packTree(tree: SourceTree, options: PackOptions = {}): Promise<PackedBundle> {
  const collected = await collectEntries(tree, options.dockerfile, executablePredicate(options.executable));
  const { entries } = collected;
  const entryTree = checkTree(collected);
  const cache = await checkConfig(entries, entryTree);
  const tar = tarLength(entries);
  const size = bundleSize(tar);
  if (options.limits) checkLimits(entries, size, options.limits);
  if (size > MAX_IN_MEMORY) {
    throw new BundleError("limit", `the bundle would be ${size} bytes, more than a browser can hold in memory`);
  }

  const files = entries.filter((e) => e.kind === "file");
  const progress: PackProgress = {
    phase: "packing",
    bytesDone: 0,
    bytesTotal: files.reduce((n, e) => n + e.size, 0),
    filesDone: 0,
    filesTotal: files.length,
  };
  const report = (): void => options.onProgress?.({ ...progress });
  report();
  const writer = new StoredGzipWriter(tar);
  for (const entry of entries) {
    writer.write(entryHeader(entry.path, entry.kind, entry.mode, entry.size, entry.target));
    if (entry.kind !== "file") continue;
    const cached = cache.get(entry);
    let written = 0;
    let reported = 0;
    const chunks: AsyncIterable<Uint8Array> = cached ? single(cached) : entry.node!.read();
    for await (const chunk of chunks) {
      if (written + chunk.length > entry.size) {
        throw new BundleError("io", `${entry.path} grew while it was being packed`, entry.path);
      }
      writer.write(chunk);
      written += chunk.length;
      progress.bytesDone += chunk.length;
      if (written - reported >= PROGRESS_STEP) {
        reported = written;
        report();
      }
    }
    if (written !== entry.size) throw new BundleError("io", `${entry.path} shrank while it was being packed`, entry.path);
    writer.writeZeros(padding(entry.size));
    progress.filesDone++;
    report();
  }
  writer.writeZeros(END_OF_ARCHIVE_BYTES);
  const bytes = writer.finish();
  return {
    bytes,
    sha256: await sha256Hex(bytes),
    size: bytes.length,
    entries: entries.length,
    files: files.length,
    unpackedBytes: progress.bytesTotal,
    dockerfile: collected.dockerfile,
    list: entries.map(({ path, kind, mode, size, target }) =>
      target === undefined ? { path, kind, mode, size } : { path, kind, mode, size, target },
    ),
  };
}

async function* single(data: Uint8Array): AsyncIterable<Uint8Array> {
  yield data;
}

/** Pack browser files (`SourceFile`s, or `File`s with their `webkitRelativePath`). */
export async function packFiles(
  files: ArrayLike<File | SourceFile> | Iterable<File | SourceFile>,
  options: PackOptions = {},
): Promise<PackedBundle> {
  return packTree(MemoryTree.fromFiles(files), options);
}

/** The bundle as a Blob, for an upload. */
export function bundleBlob(packed: PackedBundle): Blob {
  return new Blob([packed.bytes as Uint8Array<ArrayBuffer>], { type: "application/gzip" });
}

export { STORED_BLOCK_MAX };
