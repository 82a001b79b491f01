/**
 * The browser's bundle packer: the same bytes as `daas submit` (daas/bundle/pack.py) for the same files.
 * The format is docs/bundle.md; parity with the Python packer is checked by tests/web/test_bundle_parity.py.
 *
 *   filesFromInput(input.files): SourceFile[]
 *       Files from `<input type="file" webkitdirectory>` (their `webkitRelativePath`, the common top folder
 *       stripped) or a plain multiple-file input (their names).
 *   filesFromDataTransfer(event.dataTransfer): Promise<SourceFile[]>
 *       A drop: one dropped folder becomes the context root, otherwise the dropped items are its top level.
 *       Call it synchronously in the `drop` handler (the browser empties the DataTransfer afterwards).
 *   packFiles(files, {dockerfile?, executable?, onProgress?, limits?}): Promise<PackedBundle>
 *       Applies `.dockerignore` (Docker's semantics), always keeps `.dockerignore`, the Dockerfile and
 *       `daas.toml`, and encodes the canonical bundle. Browsers see no execute bits: name the executable files in
 *       `executable` to match the CLI. Accepts `SourceFile`s or `File`s (a FileList).
 *   isArchiveName(name): boolean — `.tar`, `.tar.gz`, `.tgz`.
 *   packArchive(blob, {..., maxEntries?, maxBytes?}): Promise<PackedBundle>
 *       A `.tar` / `.tar.gz` / `.tgz` (detected by content), read defensively (absolute names, `..`, hard links,
 *       devices, FIFOs, links leaving the tree and decompression bombs are refused) and repacked canonically;
 *       execute bits and symbolic links in the archive are kept.
 *   bundleBlob(packed): Blob — the bytes as an `application/gzip` Blob, for upload.
 *
 * `PackedBundle` is `{bytes, sha256 (hex), size, entries, files, unpackedBytes, dockerfile, list}`. Progress is
 * `{phase: "reading" | "packing", bytesDone, bytesTotal, filesDone, filesTotal}`. Every refusal is a
 * `BundleError` with a `code` (see errors.ts), a message naming the path and `path` (or null).
 *
 * The core (everything but dom.ts and node.ts) uses no DOM API: it runs in Node 20 as well (web/scripts/pack.ts).
 */

export { BundleError, type BundleErrorCode } from "./errors";
export type {
  ArchiveOptions,
  BundleEntry,
  BundleLimits,
  EntryKind,
  PackedBundle,
  PackOptions,
  PackProgress,
  SourceFile,
} from "./types";
export { filesFromDataTransfer, filesFromInput } from "./dom";
export { isArchiveName, packArchive } from "./archive";
export { bundleBlob, packFiles } from "./pack";
