/**
 * The page's one seam to the bundle packer (web/src/bundle): what the user picked, packed canonically, with
 * progress. Every refusal is a `BundleError` whose message names the path at fault.
 */
import {
  BundleError,
  filesFromDataTransfer,
  filesFromInput,
  isArchiveName,
  packArchive,
  packFiles,
  type PackedBundle,
  type PackProgress,
  type SourceFile,
} from "../../bundle";

export { BundleError, type PackedBundle, type PackProgress };

/** What the user chose: a folder (its files, context-relative) or one archive. */
export type Source =
  | { kind: "folder"; name: string; files: SourceFile[] }
  | { kind: "archive"; name: string; file: File };

export interface PackRequest {
  dockerfile: string;
  /** context-relative paths to pack as executable (browsers cannot see execute bits) */
  executable: string[];
  onProgress: (progress: PackProgress) => void;
}

export function packSource(source: Source, { dockerfile, executable, onProgress }: PackRequest): Promise<PackedBundle> {
  const options = { dockerfile: dockerfile || "Dockerfile", executable, onProgress };
  return source.kind === "archive" ? packArchive(source.file, options) : packFiles(source.files, options);
}

/** A folder from `<input webkitdirectory>`; its name is the common top folder. */
export function sourceFromFolderInput(files: FileList): Source | null {
  if (!files.length) return null;
  const top = (files[0]?.webkitRelativePath ?? "").split("/")[0] || "folder";
  return { kind: "folder", name: top, files: filesFromInput(files) };
}

export function sourceFromArchiveInput(files: FileList): Source | null {
  const file = files[0];
  return file ? { kind: "archive", name: file.name, file } : null;
}

/** A drop: one archive file is an archive; anything else is a folder. Call synchronously in `drop`. */
export function sourceFromDrop(dataTransfer: DataTransfer): Promise<Source | null> {
  const items = Array.from(dataTransfer.items).filter((item) => item.kind === "file");
  const entries = items.map((item) => item.webkitGetAsEntry?.() ?? null);
  const single = dataTransfer.files.length === 1 ? dataTransfer.files[0] : undefined;
  if (single && entries.length <= 1 && !entries[0]?.isDirectory && isArchiveName(single.name)) {
    return Promise.resolve({ kind: "archive", name: single.name, file: single });
  }
  const name = entries.length === 1 && entries[0]?.isDirectory ? entries[0].name : "dropped files";
  return filesFromDataTransfer(dataTransfer).then((files) => (files.length ? { kind: "folder", name, files } : null));
}

/** Whether an error is the packer's refusal (its message is for the user as it is). */
export function isBundleError(error: unknown): error is BundleError {
  return error instanceof BundleError;
}
