// The canonical pipeline over in-memory trees and browser files (the cases of tests/bundle/test_pack.py).
import { describe, expect, it } from "vitest";

import { filesFromDataTransfer } from "./dom";
import { BundleError } from "./errors";
import { bundleBlob, packFiles, packTree } from "./pack";
import { MemoryTree, filesFromInput, stripCommonTop } from "./sources";
import type { PackOptions, PackProgress, SourceFile } from "./types";

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);

function tree(files: Record<string, string>, links: Record<string, string> = {}, dirs: string[] = []): MemoryTree {
  const t = new MemoryTree();
  for (const [path, text] of Object.entries(files)) t.addBytes(path, enc(text));
  for (const [path, target] of Object.entries(links)) t.add(path, { kind: "symlink", target });
  for (const dir of dirs) t.add(dir, { kind: "dir" });
  return t;
}

/** Files named by path with their own path as content, plus a Dockerfile (test_pack.py's `make`). */
function make(paths: string[], ignore?: string): MemoryTree {
  const files: Record<string, string> = {};
  for (const p of ["Dockerfile", ...paths]) files[p] = p;
  if (ignore !== undefined) files[".dockerignore"] = ignore;
  return tree(files);
}

async function paths(t: MemoryTree, options: PackOptions = {}): Promise<string[]> {
  const packed = await packTree(t, options);
  return packed.list.map((e) => e.path + (e.kind === "dir" ? "/" : ""));
}

async function refused(t: MemoryTree, match: RegExp | string, options: PackOptions = {}): Promise<BundleError> {
  const err = await packTree(t, options).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BundleError);
  expect((err as BundleError).message).toMatch(match);
  return err as BundleError;
}

describe(".dockerignore, as docker build applies it", () => {
  it("excludes directories and honours exceptions", async () => {
    const t = make(
      ["docs/README.md", "docs/guide.md", "docs/img/a.png", "node_modules/x/index.js", "src/a.go", "src/a_test.go", "src/deep/b_test.go", "notes.md"],
      "docs\n!docs/README.md\nnode_modules\n**/*_test.go\n*.md\n",
    );
    expect(await paths(t)).toEqual([".dockerignore", "Dockerfile", "docs/", "docs/README.md", "src/", "src/a.go"]);
  });

  it("does not reach an exception inside an unrelated excluded directory", async () => {
    const t = make(["a/keep", "b/keep"], "a\nb\n!**/keep\n!b/other\n");
    expect(await paths(t)).toEqual([".dockerignore", "Dockerfile", "b/", "b/keep"]);
  });

  it("always sends the Dockerfile, .dockerignore and daas.toml", async () => {
    const t = make(["daas.toml", "build/app.Dockerfile", "other"], "*\n");
    expect(await paths(t, { dockerfile: "build/app.Dockerfile" })).toEqual([
      ".dockerignore",
      "build/",
      "build/app.Dockerfile",
      "daas.toml",
    ]);
    expect(await paths(t)).toEqual([".dockerignore", "Dockerfile", "daas.toml"]);
    expect(await paths(t, { dockerfile: "./build//app.Dockerfile" })).toContain("build/app.Dockerfile");
  });

  it("leaves out empty directories", async () => {
    const t = tree({ Dockerfile: "x", "a/b/c": "c" }, {}, ["empty/nested", "a/b/d"]);
    expect(await paths(t)).toEqual(["Dockerfile", "a/", "a/b/", "a/b/c"]);
  });

  it("keeps a link to an ignored file, dangling", async () => {
    const t = tree({ Dockerfile: "x", "secret.env": "s", ".dockerignore": "*.env\n" }, { env: "secret.env" });
    expect(await paths(t)).toEqual([".dockerignore", "Dockerfile", "env"]);
  });

  it("refuses an invalid .dockerignore", async () => {
    const e = await refused(make([], "!\n"), '.dockerignore: illegal exclusion pattern: "!"');
    expect(e.code).toBe("ignore");
    expect(e.path).toBe(".dockerignore");
    await refused(make([], "[\n"), /^\.dockerignore: syntax error in pattern '\['/);
    await refused(make([], "\\p{L}\n"), /not supported/);
    const t = tree({ Dockerfile: "x" });
    t.addBytes(".dockerignore", Uint8Array.of(0x61, 0x0a, 0xff));
    await refused(t, ".dockerignore: .dockerignore line 2 is not valid UTF-8");
  });
});

describe("order and modes", () => {
  it("sorts by UTF-8 bytes, not UTF-16 code units", async () => {
    // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16 (FF21 > D83D).
    const t = tree({ Dockerfile: "x", "\u{1f600}": "a", "\uff21": "b", "a-b": "c", "a/b": "d", "é": "e" });
    expect(await paths(t)).toEqual(["Dockerfile", "a/", "a-b", "a/b", "é", "\uff21", "\u{1f600}"].sort((x, y) =>
      Buffer.compare(Buffer.from(x.replace(/\/$/, "")), Buffer.from(y.replace(/\/$/, ""))),
    ));
    expect((await paths(t))[1]).toBe("a/");
    expect((await paths(t)).slice(-2)).toEqual(["\uff21", "\u{1f600}"]);
  });

  it("marks files executable by path or predicate", async () => {
    const t = tree({ Dockerfile: "x", "bin/run": "#!/bin/sh\n", other: "o" });
    const byPath = await packTree(t, { executable: ["./bin/run"] });
    expect(byPath.list.find((e) => e.path === "bin/run")?.mode).toBe(0o755);
    expect(byPath.list.find((e) => e.path === "other")?.mode).toBe(0o644);
    const byPredicate = await packTree(t, { executable: (p) => p.startsWith("bin/") });
    expect(byPredicate.sha256).toBe(byPath.sha256);
    expect(byPredicate.list.find((e) => e.path === "bin")?.mode).toBe(0o755);
  });
});

describe("refusals", () => {
  it("needs a Dockerfile", async () => {
    const e = await refused(tree({ "app.py": "x" }), "no Dockerfile at 'Dockerfile' in the directory");
    expect(e.path).toBe("Dockerfile");
    expect(e.code).toBe("dockerfile");
    await refused(tree({ "app.py": "x" }), "no Dockerfile at 'sub/Dockerfile'", { dockerfile: "sub/Dockerfile" });
    await refused(tree({ "Dockerfile/x": "x" }), "'Dockerfile' is a directory");
    await refused(tree({}, {}, ["Dockerfile"]), "'Dockerfile' is a directory");
    // through a link: to a file is the Dockerfile, to a directory is not
    expect((await packTree(tree({ real: "x" }, { Dockerfile: "real" }))).entries).toBe(2);
    await refused(tree({ "d/x": "x" }, { Dockerfile: "d" }), "'Dockerfile' is a directory");
  });

  it("refuses a Dockerfile path outside the context", async () => {
    const t = make([]);
    await refused(t, "has a '..' component", { dockerfile: "../Dockerfile" });
    await refused(t, "is absolute", { dockerfile: "/Dockerfile" });
    await refused(t, "names the context itself", { dockerfile: "." });
  });

  it.each<[Record<string, string>, RegExp]>([
    [{ l: "/etc/passwd" }, /points to an absolute path/],
    [{ l: "../outside" }, /does not stay inside the context/],
    [{ s: ".", t: "s/.." }, /t -> 's\/\.\.' does not stay inside/],
    [{ a: "b", b: "a" }, /follows more than 40 links/],
  ])("refuses links leaving the context: %j", async (links, match) => {
    const e = await refused(tree({ Dockerfile: "x" }, links), match);
    expect(e.code).toBe("unsafe-path");
  });

  it("accepts a link to the context root from a subdirectory", async () => {
    expect(await paths(tree({ Dockerfile: "x" }, { "sub/up": ".." }))).toEqual(["Dockerfile", "sub/", "sub/up"]);
  });

  it("checks daas.toml as far as it can without TOML", async () => {
    await refused(tree({ Dockerfile: "x" }, { "daas.toml": "Dockerfile" }), "daas.toml must be a regular file");
    await refused(tree({ Dockerfile: "x", "daas.toml": "x".repeat(65 * 1024) }), "larger than 64 KiB");
    const t = tree({ Dockerfile: "x" });
    t.addBytes("daas.toml", Uint8Array.of(0xff));
    await refused(t, "daas.toml is not valid UTF-8");
  });

  it("checks the runner's limits before encoding", async () => {
    const t = make(["a", "b/c"]);
    const packed = await packTree(t);
    const limits = { maxBundleBytes: packed.size, maxUnpackedBytes: 100, maxFiles: 4 };
    expect((await packTree(t, { limits })).sha256).toBe(packed.sha256);
    await refused(t, `would be ${packed.size} bytes; at most ${packed.size - 1}`, {
      limits: { ...limits, maxBundleBytes: packed.size - 1 },
    });
    await refused(t, "would have 4 entries; at most 3", { limits: { ...limits, maxFiles: 3 } });
    await refused(t, "files add up to 14 bytes; at most 13", { limits: { ...limits, maxUnpackedBytes: 13 } });
  });

  it("refuses unsafe or duplicate browser paths", async () => {
    const file = new File(["x"], "x");
    await expect(packFiles([{ path: "../x", file }])).rejects.toThrow("has a '..' component");
    await expect(packFiles([{ path: "/x", file }])).rejects.toThrow("is absolute");
    await expect(packFiles([{ path: "a", file }, { path: "./a", file }])).rejects.toThrow("'./a' appears twice");
    await expect(packFiles([{ path: "a", file }, { path: "a/b", file }])).rejects.toThrow(
      "goes through 'a', a regular file",
    );
    await expect(packFiles([{ path: "a/b", file }, { path: "a", file }])).rejects.toThrow("would replace the directory");
    await expect(packFiles([{ path: "x".repeat(256), file }])).rejects.toThrow("component longer than 255 bytes");
  });

  it("notices a file that changed size", async () => {
    const t = new MemoryTree();
    t.addBytes("Dockerfile", enc("x"));
    t.add("grows", {
      kind: "file",
      size: 1,
      executable: false,
      async *read() {
        yield enc("ab");
      },
    });
    const e = await refused(t, "grows grew while it was being packed");
    expect(e.code).toBe("io");
  });
});

describe("browser files", () => {
  const withRelativePath = (file: File, path: string): File =>
    Object.defineProperty(file, "webkitRelativePath", { value: path });

  it("strips the chosen folder from webkitRelativePath", () => {
    const files = [
      withRelativePath(new File(["FROM scratch\n"], "Dockerfile"), "proj/Dockerfile"),
      withRelativePath(new File(["x"], "a.txt"), "proj/src/a.txt"),
    ];
    expect(filesFromInput(files).map((f) => f.path)).toEqual(["Dockerfile", "src/a.txt"]);
    expect(filesFromInput([new File(["x"], "loose.txt")]).map((f) => f.path)).toEqual(["loose.txt"]);
    expect(stripCommonTop(["a/x", "b/y"])).toEqual(["a/x", "b/y"]);
    expect(stripCommonTop(["a/x", "a"])).toEqual(["a/x", "a"]);
  });

  it("packs File objects like the same tree in memory, with progress", async () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
    const files = [
      withRelativePath(new File(["FROM scratch\n"], "Dockerfile"), "proj/Dockerfile"),
      withRelativePath(new File([big], "big.bin"), "proj/data/big.bin"),
      withRelativePath(new File(["*.log\n"], ".dockerignore"), "proj/.dockerignore"),
      withRelativePath(new File(["ignored"], "x.log"), "proj/x.log"),
    ];
    const seen: PackProgress[] = [];
    const packed = await packFiles(files, { onProgress: (p) => seen.push(p) });
    const t = tree({ Dockerfile: "FROM scratch\n", ".dockerignore": "*.log\n" });
    t.addBytes("data/big.bin", big);
    expect(packed.sha256).toBe((await packTree(t)).sha256);
    expect(packed.files).toBe(3);
    expect(packed.entries).toBe(4);
    expect(packed.unpackedBytes).toBe(big.length + 13 + 6);
    const last = seen[seen.length - 1]!;
    expect(last).toEqual({ phase: "packing", bytesDone: packed.unpackedBytes, bytesTotal: packed.unpackedBytes, filesDone: 3, filesTotal: 3 });
    expect(seen.length).toBeGreaterThan(4); // several reports inside the 3 MiB file
    expect(seen.map((p) => p.bytesDone)).toEqual([...seen.map((p) => p.bytesDone)].sort((a, b) => a - b));
    const blob = bundleBlob(packed);
    expect(blob.size).toBe(packed.size);
    expect(blob.type).toBe("application/gzip");
  });

  it("takes SourceFiles with their executable flag", async () => {
    const sources: SourceFile[] = [
      { path: "Dockerfile", file: new File(["FROM scratch\n"], "Dockerfile") },
      { path: "run.sh", file: new File(["#!/bin/sh\n"], "run.sh"), executable: true },
    ];
    const packed = await packFiles(sources);
    expect(packed.list.map((e) => e.mode)).toEqual([0o644, 0o755]);
  });
});

describe("filesFromDataTransfer", () => {
  type Fake = { isFile: boolean; isDirectory: boolean; name: string; fullPath: string; [k: string]: unknown };
  const fileEntry = (name: string, text: string): Fake => ({
    isFile: true,
    isDirectory: false,
    name,
    fullPath: "/" + name,
    file: (ok: (f: File) => void) => ok(new File([text], name)),
  });
  const dirEntry = (name: string, children: Fake[]): Fake => ({
    isFile: false,
    isDirectory: true,
    name,
    fullPath: "/" + name,
    createReader: () => {
      // two batches then an empty one, as Chromium returns at most 100 entries per call
      const batches = [children.slice(0, 1), children.slice(1), []];
      return { readEntries: (ok: (e: Fake[]) => void) => ok(batches.shift() ?? []) };
    },
  });
  const transfer = (entries: Fake[]) =>
    ({
      items: entries.map((e) => ({ kind: "file", webkitGetAsEntry: () => e })),
      files: [],
    }) as unknown as DataTransfer;

  it("makes one dropped folder the context root", async () => {
    const dropped = dirEntry("proj", [fileEntry("Dockerfile", "FROM scratch\n"), dirEntry("src", [fileEntry("a", "a"), fileEntry("b", "b")])]);
    const files = await filesFromDataTransfer(transfer([dropped]));
    expect(files.map((f) => f.path)).toEqual(["Dockerfile", "src/a", "src/b"]);
    expect((await packFiles(files)).entries).toBe(4);
  });

  it("keeps several dropped items at the top level", async () => {
    const files = await filesFromDataTransfer(transfer([fileEntry("Dockerfile", "x"), dirEntry("src", [fileEntry("a", "a")])]));
    expect(files.map((f) => f.path)).toEqual(["Dockerfile", "src/a"]);
  });

  it("reports an unreadable entry with its path", async () => {
    const broken = { ...fileEntry("bad", ""), file: (_ok: unknown, fail: (e: Error) => void) => fail(new Error("gone")) };
    await expect(filesFromDataTransfer(transfer([dirEntry("p", [broken])]))).rejects.toThrow("cannot read bad: gone");
  });
});
