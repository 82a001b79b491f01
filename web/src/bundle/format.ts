/**
 * The canonical bundle encoding (docs/bundle.md sections 3 and 4), a port of daas/bundle/format.py: byte-exact
 * ustar headers, pax records for long names, and a gzip container of stored DEFLATE blocks of 65535 bytes.
 */

import { BundleError } from "./errors";
import type { EntryKind } from "./types";

export const BLOCK_SIZE = 512;
export const FILE_MODE = 0o644;
export const EXEC_MODE = 0o755;
export const DIR_MODE = 0o755;
export const SYMLINK_MODE = 0o777;
const NAME_FIELD = 100;
const LINK_FIELD = 100;
/** What an 11-digit octal size field holds (8 GiB - 1). */
export const MAX_USTAR_SIZE = 8 ** 11 - 1;
export const STORED_BLOCK_MAX = 0xffff;
/** magic 1f 8b, CM 8 (deflate), FLG 0, MTIME 0, XFL 0, OS 255 (unknown) */
export const GZIP_HEADER = Uint8Array.of(0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff);
export const END_OF_ARCHIVE_BYTES = 2 * BLOCK_SIZE;

const TYPEFLAGS: Record<EntryKind, number> = { file: 0x30, dir: 0x35, symlink: 0x32 };
const encoder = new TextEncoder();
const PAX_HEADER_NAME = encoder.encode("././@PaxHeader");

function putAscii(block: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) block[offset + i] = text.charCodeAt(i);
}

/** A zero-padded octal number of `width - 1` digits followed by NUL. */
function putOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  putAscii(block, offset, value.toString(8).padStart(width - 1, "0"));
  block[offset + width - 1] = 0;
}

function ustarBlock(name: Uint8Array, mode: number, size: number, typeflag: number, linkname: Uint8Array): Uint8Array {
  const header = new Uint8Array(BLOCK_SIZE);
  header.set(name, 0);
  putOctal(header, 100, 8, mode);
  putOctal(header, 108, 8, 0); // uid
  putOctal(header, 116, 8, 0); // gid
  putOctal(header, 124, 12, size);
  putOctal(header, 136, 12, 0); // mtime
  header.fill(0x20, 148, 156); // the checksum is computed over spaces in its own field
  header[156] = typeflag;
  header.set(linkname, 157);
  putAscii(header, 257, "ustar\0");
  putAscii(header, 263, "00");
  putOctal(header, 329, 8, 0); // devmajor
  putOctal(header, 337, 8, 0); // devminor
  let sum = 0;
  for (const byte of header) sum += byte;
  putAscii(header, 148, sum.toString(8).padStart(6, "0") + "\0 ");
  return header;
}

/** "<len> <key>=<value>\n" where the decimal length counts the whole record, itself included. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = key.length + value.length + 3;
  let length = body + String(body).length;
  while (length !== body + String(length).length) length = body + String(length).length;
  const head = encoder.encode(`${length} ${key}=`);
  const record = new Uint8Array(length);
  record.set(head, 0);
  record.set(value, head.length);
  record[length - 1] = 0x0a;
  return record;
}

export const padding = (size: number): number => (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;

/** The header block(s) of one entry: a pax extended header first when a name does not fit ustar. */
export function entryHeader(path: string, kind: EntryKind, mode: number, size: number, target?: string): Uint8Array {
  if (size > MAX_USTAR_SIZE) throw new RangeError(`${path} is larger than ${MAX_USTAR_SIZE} bytes`);
  const name = encoder.encode(kind === "dir" ? path + "/" : path);
  const linkname = encoder.encode(target ?? "");
  const records: Uint8Array[] = [];
  if (linkname.length > LINK_FIELD) records.push(paxRecord("linkpath", linkname));
  if (name.length > NAME_FIELD) records.push(paxRecord("path", name));
  const main = ustarBlock(name.subarray(0, NAME_FIELD), mode, size, TYPEFLAGS[kind], linkname.subarray(0, LINK_FIELD));
  if (!records.length) return main;
  const recordsLength = records.reduce((n, r) => n + r.length, 0);
  const out = new Uint8Array(BLOCK_SIZE + recordsLength + padding(recordsLength) + BLOCK_SIZE);
  out.set(ustarBlock(PAX_HEADER_NAME, 0, recordsLength, 0x78, new Uint8Array(0)), 0);
  let at = BLOCK_SIZE;
  for (const record of records) {
    out.set(record, at);
    at += record.length;
  }
  out.set(main, out.length - BLOCK_SIZE);
  return out;
}

/** The bundle's size for a tar stream of `tarBytes` bytes: `10 + T + 5·⌈T / 65535⌉ + 8`. */
export function bundleSize(tarBytes: number): number {
  return GZIP_HEADER.length + tarBytes + 5 * Math.ceil(tarBytes / STORED_BLOCK_MAX) + 8;
}

// CRC-32 (ISO 3309, zlib's crc32), slicing by 8.
const CRC_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const t0 = tables[0]!;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n]!;
    for (let k = 1; k < 8; k++) {
      c = t0[c & 0xff]! ^ (c >>> 8);
      tables[k]![n] = c >>> 0;
    }
  }
  return tables;
})();

/** Update a CRC-32 (start with 0) with `data`. */
export function crc32(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t7[a & 0xff]! ^
      t6[(a >>> 8) & 0xff]! ^
      t5[(a >>> 16) & 0xff]! ^
      t4[a >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
  }
  for (; i < n; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const ZEROS = new Uint8Array(END_OF_ARCHIVE_BYTES);

/**
 * Writes a tar stream of a known length `tarBytes` into a gzip file of stored DEFLATE blocks, in one
 * preallocated buffer: chunks of exactly 65535 bytes, the last (1 to 65535 bytes) marked final.
 */
export class StoredGzipWriter {
  readonly bytes: Uint8Array;
  private pos: number;
  private tarDone = 0;
  private crc = 0;

  constructor(private readonly tarBytes: number) {
    this.bytes = new Uint8Array(bundleSize(tarBytes));
    this.bytes.set(GZIP_HEADER, 0);
    this.pos = GZIP_HEADER.length;
  }

  write(data: Uint8Array): void {
    if (this.tarDone + data.length > this.tarBytes) throw new Error("more tar bytes than announced");
    this.crc = crc32(data, this.crc);
    let from = 0;
    while (from < data.length) {
      const inBlock = this.tarDone % STORED_BLOCK_MAX;
      if (inBlock === 0) {
        const length = Math.min(STORED_BLOCK_MAX, this.tarBytes - this.tarDone);
        const out = this.bytes;
        out[this.pos] = this.tarBytes - this.tarDone <= STORED_BLOCK_MAX ? 1 : 0;
        out[this.pos + 1] = length & 0xff;
        out[this.pos + 2] = length >>> 8;
        out[this.pos + 3] = ~length & 0xff;
        out[this.pos + 4] = (~length >>> 8) & 0xff;
        this.pos += 5;
      }
      const take = Math.min(data.length - from, STORED_BLOCK_MAX - inBlock);
      this.bytes.set(data.subarray(from, from + take), this.pos);
      this.pos += take;
      this.tarDone += take;
      from += take;
    }
  }

  writeZeros(count: number): void {
    while (count > 0) {
      const take = Math.min(count, ZEROS.length);
      this.write(ZEROS.subarray(0, take));
      count -= take;
    }
  }

  /** Write the trailer; returns the finished bytes. */
  finish(): Uint8Array {
    if (this.tarDone !== this.tarBytes) throw new Error("fewer tar bytes than announced");
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    view.setUint32(this.pos, this.crc, true);
    view.setUint32(this.pos + 4, this.tarBytes % 2 ** 32, true);
    this.pos += 8;
    if (this.pos !== this.bytes.length) throw new Error("bundle size mismatch");
    return this.bytes;
  }
}

/** Lower-case hex SHA-256 with WebCrypto (browsers in secure contexts, and Node 20's globalThis.crypto). */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new BundleError("io", "WebCrypto (crypto.subtle) is not available here: open the dashboard over https");
  }
  const digest = new Uint8Array(await subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
