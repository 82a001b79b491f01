/** Browser adapters: files from a directory `<input>` and from a drag-and-drop (`webkitGetAsEntry`). */

import { BundleError } from "./errors";
import { filesFromInput } from "./sources";
import type { SourceFile } from "./types";

export { filesFromInput };

/** The minimal shape of the File and Directory Entries API used here (also easy to fake in tests). */
interface EntryLike {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly name: string;
  readonly fullPath: string;
}
interface FileEntryLike extends EntryLike {
  file(success: (file: File) => void, failure?: (err: unknown) => void): void;
}
interface DirectoryEntryLike extends EntryLike {
  createReader(): { readEntries(success: (entries: EntryLike[]) => void, failure?: (err: unknown) => void): void };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fileOf(entry: FileEntryLike, path: string): Promise<File> {
  return new Promise((resolve, reject) =>
    entry.file(resolve, (err) => reject(new BundleError("io", `cannot read ${path}: ${describe(err)}`, path))),
  );
}

async function readDirectory(entry: DirectoryEntryLike, path: string): Promise<EntryLike[]> {
  const reader = entry.createReader();
  const all: EntryLike[] = [];
  // readEntries returns batches (100 at a time in Chromium) until an empty one.
  for (;;) {
    const batch = await new Promise<EntryLike[]>((resolve, reject) =>
      reader.readEntries(resolve, (err) =>
        reject(new BundleError("io", `cannot read directory ${path || "."}: ${describe(err)}`, path)),
      ),
    );
    if (!batch.length) return all;
    all.push(...batch);
  }
}

async function walk(entry: EntryLike, path: string, out: Array<{ path: string; file: File }>): Promise<void> {
  if (entry.isFile) {
    out.push({ path, file: await fileOf(entry as FileEntryLike, path) });
  } else if (entry.isDirectory) {
    for (const child of await readDirectory(entry as DirectoryEntryLike, path)) {
      await walk(child, path ? `${path}/${child.name}` : child.name, out);
    }
  }
}

/**
 * The files of a drop. One dropped folder becomes the context root (its name is stripped); several items, or
 * loose files, form the top level. Call synchronously from the `drop` handler: the entries are taken before the
 * first `await`, as browsers empty the DataTransfer when the handler returns.
 */
export async function filesFromDataTransfer(
  dataTransfer: Pick<DataTransfer, "items" | "files">,
): Promise<SourceFile[]> {
  const entries: EntryLike[] = [];
  for (const item of Array.from(dataTransfer.items)) {
    if (item.kind !== "file") continue;
    const entry = (item as DataTransferItem & { webkitGetAsEntry?: () => EntryLike | null }).webkitGetAsEntry?.();
    if (entry) entries.push(entry);
  }
  if (!entries.length) return filesFromInput(dataTransfer.files);
  const found: Array<{ path: string; file: File }> = [];
  if (entries.length === 1 && entries[0]!.isDirectory) {
    await walk(entries[0]!, "", found); // the dropped folder is the context root
  } else {
    for (const entry of entries) await walk(entry, entry.name, found);
  }
  return found;
}
