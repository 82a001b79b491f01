// The Node walker: execute bits, links and special files, as the CLI sees them.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { BundleError } from "./errors";
import { packDirectory } from "./node";

/** tests/bundle/_archives.py's golden tree; its bundle is pinned there (GOLDEN_SHA256). */
function goldenTree(): string {
  const root = mkdtempSync(join(tmpdir(), "daas-golden-"));
  for (const dir of ["src/pkg", "bin", "logs", "empty"]) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, "Dockerfile"), "FROM scratch\nCOPY . /app\n");
  writeFileSync(join(root, ".dockerignore"), "# local state\n*.log\nlogs\n!logs/keep.txt\n");
  writeFileSync(join(root, "daas.toml"), '[image]\nport = 8080\n[resources]\nmemory = "64Mi"\n');
  writeFileSync(join(root, "src/pkg/main.py"), "print('hello')\n");
  writeFileSync(join(root, "src/caf\u00e9.txt"), "caf\u00e9\n");
  writeFileSync(join(root, "bin/run"), "#!/bin/sh\nexec python3 /app/src/pkg/main.py\n");
  chmodSync(join(root, "bin/run"), 0o755);
  writeFileSync(join(root, "logs/keep.txt"), "kept by an exception\n");
  writeFileSync(join(root, "logs/debug.txt"), "ignored\n");
  writeFileSync(join(root, "build.log"), "ignored\n");
  writeFileSync(join(root, "long-" + "n".repeat(120) + ".txt"), "a name that needs a pax header\n");
  symlinkSync("src/pkg/main.py", join(root, "main"));
  return root;
}

describe("packDirectory (Node)", () => {
  it("packs the golden tree to the pinned bytes", async () => {
    const packed = await packDirectory(goldenTree());
    expect(packed.sha256).toBe("3747951c579ae61ecf9e1895c18d8d3d5681bb9af4251aa092b4c0655dc1c1d6");
    expect(packed.size).toBe(12823);
    expect(packed.files).toBe(8);
    expect(packed.list.find((e) => e.path === "main")).toEqual({ path: "main", kind: "symlink", mode: 0o777, size: 0, target: "src/pkg/main.py" });
  });

  it("refuses special files and names that are not UTF-8, unless excluded", async () => {
    const root = mkdtempSync(join(tmpdir(), "daas-special-"));
    writeFileSync(join(root, "Dockerfile"), "FROM scratch\n");
    execFileSync("mkfifo", [join(root, "pipe")]);
    await expect(packDirectory(root)).rejects.toThrow(
      "pipe is a named pipe (FIFO); a bundle holds only regular files, directories and symbolic links (add it to .dockerignore)",
    );
    writeFileSync(join(root, ".dockerignore"), "pipe\n");
    expect((await packDirectory(root)).entries).toBe(2);
    writeFileSync(Buffer.concat([Buffer.from(root + "/caf"), Buffer.of(0xe9)]), "x");
    const err = await packDirectory(root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as BundleError).message).toBe("b'caf\\xe9': file names must be valid UTF-8 (rename it or add it to .dockerignore)");
  });

  it("refuses a path that is not a directory", async () => {
    await expect(packDirectory("/nonexistent/daas")).rejects.toThrow("/nonexistent/daas is not a directory");
  });
});
