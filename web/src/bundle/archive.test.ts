// Archives read defensively and repacked canonically.
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

import { isArchiveName, packArchive, readArchive } from "./archive";
import { BundleError } from "./errors";
import { packTree } from "./pack";
import { MemoryTree } from "./sources";
import type { ArchiveOptions, PackProgress } from "./types";

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);

interface RawEntry {
  name: string;
  type?: string;
  data?: Uint8Array | string;
  mode?: number;
  link?: string;
  /** pax records (an `x` header first), or a GNU `L` long name */
  pax?: Record<string, string>;
  gnuLongName?: boolean;
  magic?: "posix" | "gnu";
  size?: number;
  checksumDelta?: number;
}

function octal(block: Uint8Array, at: number, width: number, value: number): void {
  block.set(enc(value.toString(8).padStart(width - 1, "0") + "\0"), at);
}

function header(name: Uint8Array, type: string, size: number, mode: number, link: Uint8Array, magic: "posix" | "gnu", delta = 0): Uint8Array {
  const block = new Uint8Array(512);
  block.set(name.subarray(0, 100), 0);
  octal(block, 100, 8, mode);
  octal(block, 108, 8, 1000);
  octal(block, 116, 8, 1000);
  octal(block, 124, 12, size);
  octal(block, 136, 12, 1_700_000_000);
  block.fill(0x20, 148, 156);
  block[156] = type.charCodeAt(0);
  block.set(link.subarray(0, 100), 157);
  block.set(enc(magic === "gnu" ? "ustar  \0" : "ustar\x0000"), 257);
  let sum = 0;
  for (const b of block) sum += b;
  block.set(enc((sum + delta).toString(8).padStart(6, "0") + "\0 "), 148);
  return block;
}

const pad = (n: number): Uint8Array => new Uint8Array((512 - (n % 512)) % 512);

function record(key: string, value: string): string {
  const body = enc(key).length + enc(value).length + 3;
  let length = body + String(body).length;
  while (length !== body + String(length).length) length = body + String(length).length;
  return `${length} ${key}=${value}\n`;
}

/** A tar archive of raw entries (with uid, mtime etc. set, as real tools write them), ended by 1024 zeros. */
function tar(entries: RawEntry[], trailer: Uint8Array = new Uint8Array(1024)): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = typeof e.data === "string" ? enc(e.data) : (e.data ?? new Uint8Array(0));
    const magic = e.magic ?? "posix";
    if (e.pax) {
      const records = enc(Object.entries(e.pax).map(([k, v]) => record(k, v)).join(""));
      parts.push(header(enc("PaxHeaders/x"), e.type === "g" ? "g" : "x", records.length, 0o644, new Uint8Array(0), magic), records, pad(records.length));
      if (e.type === "g") continue;
    }
    if (e.gnuLongName) {
      const long = enc(e.name + "\0");
      parts.push(header(enc("././@LongLink"), "L", long.length, 0, new Uint8Array(0), "gnu"), long, pad(long.length));
    }
    const size = e.size ?? data.length;
    parts.push(header(enc(e.name), e.type ?? "0", size, e.mode ?? 0o644, enc(e.link ?? ""), magic, e.checksumDelta), data, pad(data.length));
  }
  parts.push(trailer);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const DOCKERFILE: RawEntry = { name: "Dockerfile", data: "FROM scratch\n" };

async function refused(archive: Uint8Array, match: RegExp | string, options: ArchiveOptions = {}): Promise<BundleError> {
  const err = await packArchive(new Blob([archive as Uint8Array<ArrayBuffer>]), options).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BundleError);
  expect((err as BundleError).message).toMatch(match);
  return err as BundleError;
}

const pack = (archive: Uint8Array, options: ArchiveOptions = {}) =>
  packArchive(new Blob([archive as Uint8Array<ArrayBuffer>]), options);

describe("archives", () => {
  it("recognises archive names", () => {
    expect(["a.tar", "a.TAR.GZ", "b.tgz"].map(isArchiveName)).toEqual([true, true, true]);
    expect(["a.zip", "a.gz", "tar"].map(isArchiveName)).toEqual([false, false, false]);
  });

  it("repacks a canonical bundle to itself, compressed or not", async () => {
    const t = new MemoryTree();
    t.addBytes("Dockerfile", enc("FROM scratch\n"));
    t.addBytes("bin/run", enc("#!/bin/sh\n"), true);
    t.addBytes("n".repeat(150), enc("long"));
    t.add("link", { kind: "symlink", target: "bin/" + "r".repeat(120) });
    const packed = await packTree(t);
    expect((await pack(packed.bytes)).sha256).toBe(packed.sha256);
    expect((await pack(new Uint8Array(gunzipSync(packed.bytes)))).sha256).toBe(packed.sha256);
  });

  it("reads what tar tools write: ./ prefixes, a root entry, owners and times, GNU long names, pax, gzip", async () => {
    const name = "deep/" + "x".repeat(120);
    const archive = tar([
      { name: "comment", type: "g", pax: { comment: "git archive" } },
      { name: "./", type: "5", mode: 0o775 },
      { name: "./Dockerfile", data: "FROM scratch\n", mode: 0o600 },
      { name: "./bin/", type: "5" },
      { name: "./bin/run", data: "#!/bin/sh\n", mode: 0o750 },
      { name: "./bin/grp", data: "g", mode: 0o654 },
      { name: "./" + name, data: "long", gnuLongName: true, magic: "gnu" },
      { name: "ignored", data: "pax", pax: { path: "caf\u00e9/" + "y".repeat(110), mtime: "1.5" } },
      { name: "./up", type: "2", link: "bin/../Dockerfile" },
    ]);
    const t = new MemoryTree();
    t.addBytes("Dockerfile", enc("FROM scratch\n"));
    t.addBytes("bin/run", enc("#!/bin/sh\n"), true);
    t.addBytes("bin/grp", enc("g")); // only the owner's execute bit counts, as for `daas submit`
    t.addBytes(name, enc("long"));
    t.addBytes("caf\u00e9/" + "y".repeat(110), enc("pax"));
    t.add("up", { kind: "symlink", target: "bin/../Dockerfile" });
    const expected = (await packTree(t)).sha256;
    expect((await pack(archive)).sha256).toBe(expected);
    const seen: PackProgress[] = [];
    const fromGzip = await pack(new Uint8Array(gzipSync(archive)), { onProgress: (p) => seen.push(p) });
    expect(fromGzip.sha256).toBe(expected);
    expect(seen.some((p) => p.phase === "reading")).toBe(true);
    expect(seen[seen.length - 1]!.phase).toBe("packing");
  });

  it("applies .dockerignore and the Dockerfile option like a folder", async () => {
    const archive = tar([
      { name: "docker/app.Dockerfile", data: "FROM scratch\n" },
      { name: ".dockerignore", data: "*\n" },
      { name: "src/a", data: "a" },
    ]);
    const packed = await pack(archive, { dockerfile: "docker/app.Dockerfile" });
    expect(packed.list.map((e) => e.path)).toEqual([".dockerignore", "docker", "docker/app.Dockerfile"]);
    await refused(archive, "no Dockerfile at 'Dockerfile'");
  });

  it.each<[string, RawEntry[], RegExp | string, string]>([
    ["an absolute name", [{ name: "/etc/passwd", data: "x" }], "entry '/etc/passwd' is absolute", "unsafe-path"],
    ["a .. component", [{ name: "a/../../x", data: "x" }], "entry 'a/../../x' has a '..' component", "unsafe-path"],
    ["a hard link", [{ name: "h", type: "1", link: "Dockerfile" }], "entry 'h' is a hard link", "unsupported-entry"],
    ["a character device", [{ name: "null", type: "3" }], "entry 'null' is a character device", "unsupported-entry"],
    ["a block device", [{ name: "sda", type: "4" }], "entry 'sda' is a block device", "unsupported-entry"],
    ["a FIFO", [{ name: "pipe", type: "6" }], "entry 'pipe' is a FIFO", "unsupported-entry"],
    ["an unknown type", [{ name: "what", type: "Z" }], "entry 'what' is an entry of type 'Z'", "unsupported-entry"],
    ["a sparse file", [{ name: "s", data: "x", pax: { "GNU.sparse.map": "0,1" } }], "sparse file", "unsupported-entry"],
    ["an absolute link", [{ name: "l", type: "2", link: "/etc/passwd" }], "'l' -> '/etc/passwd' points to an absolute path", "unsafe-path"],
    ["a link out", [{ name: "a/l", type: "2", link: "../../x" }], "'a/l' -> '../../x' points outside the context", "unsafe-path"],
    [
      "a chain of links out",
      [
        { name: "s", type: "2", link: "." },
        { name: "t", type: "2", link: "s/.." },
      ],
      "symbolic link 't' -> 's/..' does not stay inside the context",
      "unsafe-path",
    ],
    [
      "an entry below a link",
      [
        { name: "a", type: "2", link: "." },
        { name: "a/passwd", data: "x" },
      ],
      "entry 'a/passwd' goes through 'a', a symbolic link",
      "unsafe-path",
    ],
    ["a duplicate", [{ name: "Dockerfile", data: "again" }], "entry 'Dockerfile' appears twice", "unsupported-entry"],
    ["a directory with data", [{ name: "d", type: "5", data: "x" }], "is a dir with 1 bytes of data", "archive"],
    ["a bad checksum", [{ name: "c", data: "x", checksumDelta: 1 }], "entry #2 has a bad header checksum", "archive"],
    ["a global header renaming entries", [{ name: "g", type: "g", pax: { path: "x" } }], "a global pax header sets path", "archive"],
    ["a NUL in a link target", [{ name: "l", type: "2", link: "a", pax: { linkpath: "a\0b" } }], "points to an absolute path", "unsafe-path"],
  ])("refuses %s", async (_what, entries, match, code) => {
    const err = await refused(tar([DOCKERFILE, ...entries]), match);
    expect(err.code).toBe(code);
  });

  it("names the entry in every refusal that has one", async () => {
    const err = await refused(tar([DOCKERFILE, { name: "dev/null", type: "3" }]), "dev/null");
    expect(err.path).toBe("dev/null");
  });

  it("refuses too many entries and too many bytes, declared or decompressed", async () => {
    const many = tar([DOCKERFILE, ...Array.from({ length: 10 }, (_, i) => ({ name: `f${i}`, data: "x" }))]);
    const e = await refused(many, "the archive has more than 5 entries (at 'f4')", { maxEntries: 5 });
    expect(e.code).toBe("limit");
    await refused(tar([DOCKERFILE, { name: "big", data: new Uint8Array(2000) }]), "entry 'big' takes the unpacked size past 1000 bytes", {
      maxBytes: 1000,
    });
    // a declared size that lies: the limit applies before reading
    await refused(tar([DOCKERFILE, { name: "liar", data: "x", size: 10 ** 9 }]), "entry 'liar' takes the unpacked size past", {});
    // a gzip bomb: 64 MiB of zeros after the end marker compress to a few KiB and are never buffered
    const bomb = new Uint8Array(gzipSync(tar([DOCKERFILE], new Uint8Array(64 * 1024 * 1024))));
    expect(bomb.length).toBeLessThan(100_000);
    const b = await refused(bomb, /the archive decompresses to more than \d+ bytes/, { maxBytes: 1024 * 1024, maxEntries: 100 });
    expect(b.code).toBe("limit");
  });

  it("refuses what is not a complete tar archive", async () => {
    await refused(enc("hello, world".repeat(100)), "not a tar archive");
    await refused(new Uint8Array(0), "the archive is empty");
    const whole = tar([DOCKERFILE, { name: "a", data: "x".repeat(1000) }]);
    await refused(whole.subarray(0, 1200), /truncated in header #2/);
    await refused(whole.subarray(0, 1700), /truncated in entry 'a'/);
    const gz = new Uint8Array(gzipSync(whole));
    await refused(gz.subarray(0, gz.length >> 1), "the gzip stream is corrupt or truncated");
    await refused(Uint8Array.of(...gz.subarray(0, 20), ...new Uint8Array(20).fill(0xff), ...gz.subarray(40)), "corrupt");
    await refused(tar([DOCKERFILE], Uint8Array.of(...new Uint8Array(1024), 1)), "data follows the end of the tar archive");
    await refused(tar([DOCKERFILE, { name: "g", type: "g", pax: { comment: "c" } }]), "extended header with no entry after it");
  });

  it("keeps execute bits and links for the tree it reads", async () => {
    const t = await readArchive(new Blob([tar([DOCKERFILE, { name: "run", data: "x", mode: 0o700 }, { name: "l", type: "2", link: "run" }]) as Uint8Array<ArrayBuffer>]));
    const nodes = await t.list("");
    expect(nodes.map((n) => [n.name, n.kind, n.kind === "file" ? n.executable : n.kind === "symlink" ? n.target : null])).toEqual([
      ["Dockerfile", "file", false],
      ["run", "file", true],
      ["l", "symlink", "run"],
    ]);
  });
});
