// The encoding of docs/bundle.md sections 3 and 4, checked against the document's own vectors.
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

import { StoredGzipWriter, bundleSize, crc32, entryHeader, sha256Hex } from "./format";
import { MemoryTree } from "./sources";
import { packTree } from "./pack";

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
const ascii = (bytes: Uint8Array): string => String.fromCharCode(...bytes);
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Parse a canonical bundle by hand: the tar bytes and the stored block layout. */
function storedBlocks(data: Uint8Array): { tar: Uint8Array; layout: Array<[boolean, number]> } {
  expect(Array.from(data.subarray(0, 10))).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const parts: Uint8Array[] = [];
  const layout: Array<[boolean, number]> = [];
  let pos = 10;
  for (;;) {
    const final = data[pos] === 1;
    expect([0, 1]).toContain(data[pos]);
    const length = view.getUint16(pos + 1, true);
    expect(length ^ 0xffff).toBe(view.getUint16(pos + 3, true));
    parts.push(data.subarray(pos + 5, pos + 5 + length));
    layout.push([final, length]);
    pos += 5 + length;
    if (final) break;
  }
  const tar = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    tar.set(p, at);
    at += p.length;
  }
  expect(pos + 8).toBe(data.length);
  expect(view.getUint32(pos, true)).toBe(crc32(tar));
  expect(view.getUint32(pos + 4, true)).toBe(tar.length);
  return { tar, layout };
}

describe("crc32", () => {
  it("is zlib's", () => {
    expect(crc32(enc("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const data = enc("The quick brown fox jumps over the lazy dog, again and again");
    expect(crc32(data.subarray(13), crc32(data.subarray(0, 13)))).toBe(crc32(data));
  });
});

describe("the worked example (docs/bundle.md 4.1)", () => {
  it("packs a lone Dockerfile to the documented bytes", async () => {
    const tree = new MemoryTree();
    tree.addBytes("Dockerfile", enc("FROM scratch\n"));
    const packed = await packTree(tree);
    expect(packed.size).toBe(2071);
    expect(packed.bytes.length).toBe(2071);
    expect(Array.from(packed.bytes.subarray(10, 15))).toEqual([0x01, 0x00, 0x08, 0xff, 0xf7]);
    expect(Array.from(packed.bytes.subarray(-8))).toEqual([0x3c, 0x94, 0x55, 0x05, 0x00, 0x08, 0x00, 0x00]);
    expect(ascii(packed.bytes.subarray(15 + 148, 15 + 156))).toBe("011173\0 ");
    expect(packed.sha256).toBe("bb8c26b288af8d5974fa6e5099d11a7e7d8665aaa0fba590b0acb454b8c4ae28");
    expect(await sha256Hex(packed.bytes)).toBe(packed.sha256);
    expect(packed.entries).toBe(1);
    expect(packed.list).toEqual([{ path: "Dockerfile", kind: "file", mode: 0o644, size: 13 }]);
  });
});

describe("tar headers", () => {
  it("writes every field of a ustar block", () => {
    const header = entryHeader("Dockerfile", "file", 0o644, 13);
    expect(header.length).toBe(512);
    expect(ascii(header.subarray(0, 10))).toBe("Dockerfile");
    expect(ascii(header.subarray(100, 148))).toBe("0000644\0" + "0000000\0" + "0000000\0" + "00000000015\0" + "00000000000\0");
    expect(ascii(header.subarray(156, 157))).toBe("0");
    expect(ascii(header.subarray(257, 265))).toBe("ustar\x0000");
    expect(ascii(header.subarray(329, 345))).toBe("0000000\0" + "0000000\0");
    expect(header.subarray(345).every((b) => b === 0)).toBe(true);
  });

  it("writes a directory with a slash and a link with its target", () => {
    const dir = entryHeader("a/b", "dir", 0o755, 0);
    expect(ascii(dir.subarray(0, 4))).toBe("a/b/");
    expect(ascii(dir.subarray(156, 157))).toBe("5");
    const link = entryHeader("l", "symlink", 0o777, 0, "../x");
    expect(ascii(link.subarray(100, 108))).toBe("0000777\0");
    expect(ascii(link.subarray(156, 161))).toBe("2../x");
  });

  it("uses a pax header for long names and targets, linkpath first", () => {
    const name = "d".repeat(60) + "/" + "e".repeat(60);
    const target = "t".repeat(150);
    const header = entryHeader(name, "symlink", 0o777, 0, target);
    expect(header.length).toBe(512 * 3);
    expect(ascii(header.subarray(0, 14))).toBe("././@PaxHeader");
    expect(ascii(header.subarray(100, 108))).toBe("0000000\0");
    expect(ascii(header.subarray(156, 157))).toBe("x");
    const records = `164 linkpath=${target}\n131 path=${name}\n`;
    expect(ascii(header.subarray(124, 135))).toBe(records.length.toString(8).padStart(11, "0"));
    expect(ascii(header.subarray(512, 512 + records.length))).toBe(records);
    expect(ascii(header.subarray(1024, 1124))).toBe(name.slice(0, 100));
    expect(ascii(header.subarray(1024 + 157, 1024 + 257))).toBe(target.slice(0, 100));
  });

  it("does not use pax for non-ASCII names of at most 100 bytes", () => {
    const name = "é".repeat(50); // 100 bytes
    expect(entryHeader(name, "file", 0o644, 0).length).toBe(512);
    expect(entryHeader(name + "x", "file", 0o644, 0).length).toBe(512 * 3);
  });

  it("refuses files of 8 GiB", () => {
    expect(() => entryHeader("big", "file", 0o644, 8 ** 11)).toThrow(RangeError);
  });
});

describe("the gzip container", () => {
  it("cuts the tar stream into stored blocks of exactly 65535 bytes", () => {
    for (const length of [1024, 65535, 65536, 131070, 200_704]) {
      const tar = new Uint8Array(length).map((_, i) => (i * 7) & 0xff);
      const writer = new StoredGzipWriter(length);
      // written in odd pieces: the block layout does not depend on them
      for (let at = 0; at < length; at += 1000) writer.write(tar.subarray(at, at + 1000));
      const bytes = writer.finish();
      expect(bytes.length).toBe(bundleSize(length));
      const { tar: back, layout } = storedBlocks(bytes);
      expect(same(back, tar)).toBe(true);
      const full = Math.ceil(length / 65535) - 1;
      expect(layout).toEqual([...Array(full).fill([false, 65535]), [true, length - full * 65535]]);
      expect(same(gunzipSync(bytes), tar)).toBe(true);
    }
  });

  it("refuses more or fewer bytes than announced", () => {
    const writer = new StoredGzipWriter(10);
    expect(() => writer.write(new Uint8Array(11))).toThrow();
    writer.write(new Uint8Array(9));
    expect(() => writer.finish()).toThrow();
  });

  it("packs 200 000 random bytes like the Python packer's layout test", async () => {
    const tree = new MemoryTree();
    tree.addBytes("Dockerfile", enc("FROM scratch\n"));
    const blob = new Uint8Array(200_000);
    for (let i = 0; i < blob.length; i += 65536) globalThis.crypto.getRandomValues(blob.subarray(i, i + 65536));
    tree.addBytes("blob", blob);
    const { bytes } = await packTree(tree);
    const { tar, layout } = storedBlocks(bytes);
    expect(tar.length).toBe(512 + 512 + 512 + 200_192 + 1024);
    expect(layout).toEqual([[false, 65535], [false, 65535], [false, 65535], [true, tar.length - 3 * 65535]]);
  });
});
