/**
 * Archives (`.tar`, `.tar.gz`, `.tgz`) read defensively and repacked through the canonical pipeline.
 *
 * The reader follows daas/bundle/tarstream.py and the runner's entry rules (docs/bundle.md section 6): POSIX
 * ustar/pax and GNU tar (`L`/`K` long names) are read; absolute names, `..`, hard links, devices, FIFOs, sparse
 * files, duplicates, entries below a link or a file, links leaving the tree, and archives that decompress to more
 * than the limits are refused with the entry's name. Execute bits (owner) and symbolic links are kept.
 */

import { BundleError, repr } from "./errors";
import { goClean } from "./ignore";
import { packTree } from "./pack";
import { EntryTree, UnsafeName, splitEntryName } from "./paths";
import { MemoryTree } from "./sources";
import type { ArchiveOptions, PackedBundle } from "./types";

const BLOCK = 512;
const MAX_META_BYTES = 64 * 1024;
const MAX_META_HEADERS = 8;
const DEFAULT_MAX_ENTRIES = 20000;
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const OVERHEAD_PER_ENTRY = 4096;
const TRAILING_ALLOWANCE = 1024 * 1024;

const KINDS: Record<string, string> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hard link",
  "2": "symlink",
  "3": "character device",
  "4": "block device",
  "5": "dir",
  "6": "FIFO",
};

const malformed = (message: string, path: string | null = null): BundleError => new BundleError("archive", message, path);

export function isArchiveName(name: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(name);
}

/** Reads exact byte counts from a stream, refusing to produce more than `cap` bytes in all. */
class ByteReader {
  private buffer: Uint8Array = new Uint8Array(0);
  private offset = 0;
  total = 0;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly cap: number,
  ) {}

  private async fill(): Promise<boolean> {
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.reader.read();
    } catch (err) {
      throw malformed(`the gzip stream is corrupt or truncated (${err instanceof Error ? err.message : String(err)})`);
    }
    if (result.done) return false;
    this.total += result.value.length;
    if (this.total > this.cap) {
      void this.reader.cancel().catch(() => undefined);
      throw new BundleError("limit", `the archive decompresses to more than ${this.cap} bytes`);
    }
    this.buffer = result.value;
    this.offset = 0;
    return true;
  }

  /** Exactly `n` bytes; null if the stream ends before the first byte and `orEnd`. */
  async read(n: number, what: string, orEnd = false): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      if (this.offset >= this.buffer.length && !(await this.fill())) {
        if (at === 0 && orEnd) return null;
        throw malformed(`the tar archive is truncated in ${what}`);
      }
      const take = Math.min(n - at, this.buffer.length - this.offset);
      out.set(this.buffer.subarray(this.offset, this.offset + take), at);
      this.offset += take;
      at += take;
    }
    return out;
  }

  async readExact(n: number, what: string): Promise<Uint8Array> {
    return (await this.read(n, what))!;
  }

  /** Whether only zero bytes remain. */
  async restIsZero(): Promise<boolean> {
    for (;;) {
      for (let i = this.offset; i < this.buffer.length; i++) if (this.buffer[i] !== 0) return false;
      this.offset = this.buffer.length;
      if (!(await this.fill())) return true;
    }
  }
}

const latin1 = (bytes: Uint8Array): string => String.fromCharCode(...bytes);
const utf8 = new TextDecoder("utf-8", { fatal: true });

function cString(field: Uint8Array): Uint8Array {
  const end = field.indexOf(0);
  return end < 0 ? field : field.subarray(0, end);
}

function number(field: Uint8Array, what: string, index: number): number {
  if (field[0] === 0xff) throw malformed(`entry #${index} has a negative ${what}`);
  if (field[0] === 0x80) {
    let value = 0;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw malformed(`entry #${index} has a ${what} that is too large`);
    return value;
  }
  const text = latin1(cString(field)).replace(/^ +| +$/g, "");
  if (!text) return 0;
  if (!/^[0-7]+$/.test(text)) throw malformed(`entry #${index} has a malformed ${what} field ${repr(latin1(field))}`);
  return parseInt(text, 8);
}

function text(data: Uint8Array, what: string, index: number): string {
  try {
    return utf8.decode(data);
  } catch {
    throw new BundleError("unsafe-path", `entry #${index} has a ${what} that is not valid UTF-8: ${repr(latin1(data))}`);
  }
}

function parsePax(data: Uint8Array, index: number): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  let pos = 0;
  while (pos < data.length) {
    let space = -1;
    for (let k = pos; k < Math.min(data.length, pos + 12); k++) {
      if (data[k] === 0x20) {
        space = k;
        break;
      }
    }
    const lengthText = space > pos ? latin1(data.subarray(pos, space)) : "";
    if (!/^[0-9]+$/.test(lengthText)) throw malformed(`entry #${index} has a malformed pax record at byte ${pos}`);
    const length = Number(lengthText);
    const record = data.subarray(pos, pos + length);
    if (record.length !== length || length <= space - pos + 1 || record[length - 1] !== 0x0a) {
      throw malformed(`entry #${index} has a malformed pax record at byte ${pos}`);
    }
    const body = record.subarray(space - pos + 1, length - 1);
    const equals = body.indexOf(0x3d);
    if (equals < 0) throw malformed(`entry #${index} has a pax record without '=' at byte ${pos}`);
    records.set(text(body.subarray(0, equals), "pax key", index), body.subarray(equals + 1));
    pos += length;
  }
  return records;
}

function checkHeader(block: Uint8Array, index: number): "posix" | "gnu" {
  const magic = latin1(block.subarray(257, 265));
  let flavour: "posix" | "gnu";
  if (magic.startsWith("ustar\0")) flavour = "posix";
  else if (magic === "ustar  \0") flavour = "gnu";
  else if (index === 1) throw malformed("not a tar archive: the first header has no ustar magic");
  else throw malformed(`entry #${index} is not a ustar header`);
  const stored = number(block.subarray(148, 156), "checksum", index);
  let unsigned = 8 * 32;
  let signed = 8 * 32;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const byte = block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw malformed(`entry #${index} has a bad header checksum`);
  return flavour;
}

function isZero(block: Uint8Array): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

async function tarStream(archive: Blob, onRead: (bytes: number) => void): Promise<ReadableStream<Uint8Array>> {
  const head = new Uint8Array(await archive.slice(0, 2).arrayBuffer());
  let read = 0;
  const counted = archive.stream().pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.length;
        onRead(read);
        controller.enqueue(chunk);
      },
    }),
  );
  if (head[0] === 0x1f && head[1] === 0x8b) {
    if (typeof DecompressionStream === "undefined") {
      throw malformed("this browser cannot decompress gzip (DecompressionStream): use an uncompressed .tar");
    }
    return counted.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
  }
  return counted;
}

/**
 * Read a tar or gzip'd tar into a `MemoryTree`, applying the runner's entry rules. Throws `BundleError`.
 */
export async function readArchive(archive: Blob, options: ArchiveOptions = {}): Promise<MemoryTree> {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const cap = maxBytes + (maxEntries + 16) * OVERHEAD_PER_ENTRY + TRAILING_ALLOWANCE;
  let entries = 0;
  const report = (bytes: number): void =>
    options.onProgress?.({ phase: "reading", bytesDone: bytes, bytesTotal: archive.size, filesDone: entries, filesTotal: 0 });
  if (archive.size === 0) throw malformed("the archive is empty");
  const stream = await tarStream(archive, report);
  const reader = new ByteReader(stream.getReader(), cap);
  const tree = new MemoryTree();
  const links = new EntryTree();
  const linkList: Array<[string, string]> = [];
  let dataBytes = 0;
  let index = 0;

  for (;;) {
    const overrides = new Map<string, Uint8Array>();
    let metas = 0;
    let block: Uint8Array | null;
    let flavour: "posix" | "gnu";
    let typeflag: string;
    let size: number;
    for (;;) {
      block = await reader.read(BLOCK, `header #${index + 1}`, true);
      index++;
      if (block === null || isZero(block)) {
        if (metas) throw malformed(`entry #${index} is an extended header with no entry after it`);
        break;
      }
      flavour = checkHeader(block, index);
      typeflag = String.fromCharCode(block[156]!);
      size = number(block.subarray(124, 136), "size", index);
      if (!"xgLK".includes(typeflag)) break;
      metas++;
      if (metas > MAX_META_HEADERS) throw malformed(`entry #${index}: more than ${MAX_META_HEADERS} extended headers in a row`);
      if (size > MAX_META_BYTES) throw malformed(`entry #${index} has an extended header larger than 64 KiB`);
      const data = await reader.readExact(size, `entry #${index}'s extended header`);
      await reader.readExact((BLOCK - (size % BLOCK)) % BLOCK, `entry #${index}'s padding`);
      if (typeflag === "L" || typeflag === "K") {
        let end = data.length;
        while (end > 0 && data[end - 1] === 0) end--;
        overrides.set(typeflag === "L" ? "path" : "linkpath", data.subarray(0, end));
        continue;
      }
      const records = parsePax(data, index);
      if (typeflag === "g") {
        const touched = ["linkpath", "path", "size"].filter((k) => records.has(k));
        if (touched.length) throw malformed(`entry #${index}: a global pax header sets ${touched.join(", ")}`);
        continue;
      }
      for (const key of records.keys()) {
        if (key.startsWith("GNU.sparse.")) {
          throw new BundleError("unsupported-entry", `entry #${index} is a sparse file, which bundles cannot hold`);
        }
      }
      for (const [key, value] of records) overrides.set(key, value);
    }
    if (block === null || isZero(block)) break;

    let rawName = overrides.get("path");
    if (rawName === undefined) {
      rawName = cString(block.subarray(0, 100));
      const prefix = cString(block.subarray(345, 500));
      if (flavour! === "posix" && prefix.length) {
        const joined = new Uint8Array(prefix.length + 1 + rawName.length);
        joined.set(prefix, 0);
        joined[prefix.length] = 0x2f;
        joined.set(rawName, prefix.length + 1);
        rawName = joined;
      }
    }
    const name = text(rawName, "name", index);
    const linkname = text(overrides.get("linkpath") ?? cString(block.subarray(157, 257)), "link target", index);
    if (!name) throw malformed(`entry #${index} has an empty name`);
    const sizeOverride = overrides.get("size");
    if (sizeOverride !== undefined) {
      const sizeText = latin1(sizeOverride);
      if (!/^[0-9]+$/.test(sizeText)) throw malformed(`entry #${index} has a malformed pax size ${repr(sizeText)}`, name);
      size = Number(sizeText);
    }
    let kind = KINDS[typeflag!] ?? `entry of type ${repr(typeflag!)}`;
    if (kind === "file" && typeflag! === "\0" && name.endsWith("/")) kind = "dir";
    if (size! && (kind === "dir" || kind === "symlink")) {
      throw malformed(`entry #${index} (${repr(name)}) is a ${kind} with ${size!} bytes of data`, name);
    }
    const mode = number(block.subarray(100, 108), "mode", index);

    if (kind !== "file" && kind !== "dir" && kind !== "symlink") {
      const what = kind.startsWith("entry of type") ? `an ${kind}` : `a ${kind}`;
      throw new BundleError(
        "unsupported-entry",
        `entry ${repr(name)} is ${what}; bundles hold only regular files, directories and symbolic links`,
        name,
      );
    }
    let parts: string[];
    try {
      parts = splitEntryName(name, "entry");
    } catch (err) {
      if (err instanceof UnsafeName) throw new BundleError("unsafe-path", err.message, name);
      throw err;
    }
    if (!parts.length && kind !== "dir") throw malformed(`entry ${repr(name)} names the context root`, name);
    if (parts.length) {
      entries++;
      if (entries > maxEntries) {
        throw new BundleError("limit", `the archive has more than ${maxEntries} entries (at ${repr(name)})`, name);
      }
    }
    const path = parts.join("/");
    if (kind === "file") {
      if (dataBytes + size! > maxBytes) {
        throw new BundleError("limit", `entry ${repr(name)} takes the unpacked size past ${maxBytes} bytes`, name);
      }
      dataBytes += size!;
      const data = await reader.readExact(size!, `entry ${repr(name)}'s data`);
      await reader.readExact((BLOCK - (size! % BLOCK)) % BLOCK, `entry ${repr(name)}'s padding`);
      tree.addBytes(name, data, (mode & 0o100) !== 0, "entry");
    } else if (kind === "dir") {
      tree.add(name, { kind: "dir" }, "entry");
    } else {
      if (!linkname) throw malformed(`symbolic link ${repr(name)} has an empty target`, name);
      if (linkname.includes("\0") || linkname.startsWith("/")) {
        throw new BundleError("unsafe-path", `symbolic link ${repr(name)} -> ${repr(linkname)} points to an absolute path`, name);
      }
      const lexical = goClean([...parts.slice(0, -1), linkname].join("/"));
      if (lexical === ".." || lexical.startsWith("../")) {
        throw new BundleError("unsafe-path", `symbolic link ${repr(name)} -> ${repr(linkname)} points outside the context`, name);
      }
      tree.add(name, { kind: "symlink", target: linkname }, "entry");
      linkList.push([path, linkname]);
    }
    if (kind !== "symlink" && parts.length) links.add(parts, kind === "file" ? "file" : "dir");
    else if (parts.length) links.add(parts, "symlink", linkname);
  }
  if (!(await reader.restIsZero())) throw malformed("data follows the end of the tar archive");
  for (const [path, target] of linkList) {
    try {
      links.resolve(path);
    } catch (err) {
      if (err instanceof UnsafeName) {
        throw new BundleError(
          "unsafe-path",
          `symbolic link ${repr(path)} -> ${repr(target)} does not stay inside the context: ${err.message}`,
          path,
        );
      }
      throw err;
    }
  }
  return tree;
}

/** Read an archive defensively and pack its contents canonically (`.dockerignore` applies as for a folder). */
export async function packArchive(archive: Blob, options: ArchiveOptions = {}): Promise<PackedBundle> {
  return packTree(await readArchive(archive, options), options);
}
