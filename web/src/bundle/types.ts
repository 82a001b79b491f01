/** The public types of the bundle packer (see index.ts). */

/**
 * What the packer reports while it works: `reading` an archive (bytes: of the archive file; files: entries read so
 * far, `filesTotal` 0 as it is not known yet), then `packing` (bytes: of file data; files: regular files).
 */
export interface PackProgress {
  phase: "reading" | "packing";
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

/** The runner's limits (`daas.bundle.BundleLimits`): checked before anything is encoded. */
export interface BundleLimits {
  maxBundleBytes: number;
  maxUnpackedBytes: number;
  maxFiles: number;
}

export interface PackOptions {
  /** The Dockerfile's path inside the context, as given to `daas submit --dockerfile`; default `Dockerfile`. */
  dockerfile?: string;
  /**
   * Regular files to pack with mode 0755 (browsers cannot see execute bits): context-relative paths, or a
   * predicate. Files that are already executable (archives, the Node walker) stay so.
   */
  executable?: Iterable<string> | ((path: string) => boolean);
  /** Called often while packing (at most once per 1 MiB of file data and once per file). */
  onProgress?: (progress: PackProgress) => void;
  /** Refuse, before encoding, a bundle the runner would refuse. */
  limits?: BundleLimits;
}

export interface ArchiveOptions extends PackOptions {
  /** At most this many entries in the archive (default 20000, the runner's `max_files`). */
  maxEntries?: number;
  /** At most this many bytes of file data (default 256 MiB, the runner's `max_bundle_bytes`). */
  maxBytes?: number;
}

export type EntryKind = "file" | "dir" | "symlink";

/** One entry of a packed bundle, in bundle order. */
export interface BundleEntry {
  path: string;
  kind: EntryKind;
  /** 0o644 or 0o755 for files, 0o755 for directories, 0o777 for links. */
  mode: number;
  /** File size in bytes (0 for directories and links). */
  size: number;
  /** Link target, for symbolic links. */
  target?: string;
}

export interface PackedBundle {
  /** The bundle: a gzip file, exactly the bytes `daas submit` would upload for the same files. */
  bytes: Uint8Array;
  /** Lower-case hex SHA-256 of `bytes`: the request's `source_sha256`. */
  sha256: string;
  /** `bytes.length`. */
  size: number;
  /** Number of entries (files, directories and links). */
  entries: number;
  /** Number of regular files. */
  files: number;
  /** Sum of the files' sizes. */
  unpackedBytes: number;
  /** The normalised Dockerfile path. */
  dockerfile: string;
  /** The entries, in bundle order. */
  list: readonly BundleEntry[];
}

/** One file chosen in the browser, with its context-relative `/` path. */
export interface SourceFile {
  path: string;
  file: Blob;
  /** Pack with mode 0755. */
  executable?: boolean;
}
