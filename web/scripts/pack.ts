/**
 * Pack a directory (or an archive) with the browser's packer, from Node; prints `{"sha256", "size", ...}` as JSON.
 *
 *   npx tsx scripts/pack.ts <dir> [--dockerfile PATH] [--out FILE] [--executable PATH]...
 *   npx tsx scripts/pack.ts --archive FILE [--dockerfile PATH] [--out FILE] [--max-entries N] [--max-bytes N]
 *
 * A refusal prints `{"error": {"code", "message", "path"}}` on stdout, the message on stderr, and exits with 1.
 * tests/web/test_bundle_parity.py compares its output with the Python packer's (`daas submit`).
 */

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { BundleError } from "../src/bundle/errors";
import { packArchiveFile, packDirectory } from "../src/bundle/node";

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      dockerfile: { type: "string" },
      out: { type: "string" },
      archive: { type: "string" },
      executable: { type: "string", multiple: true },
      "max-entries": { type: "string" },
      "max-bytes": { type: "string" },
    },
  });
  const options = {
    ...(values.dockerfile !== undefined ? { dockerfile: values.dockerfile } : {}),
    ...(values.executable !== undefined ? { executable: values.executable } : {}),
    ...(values["max-entries"] !== undefined ? { maxEntries: Number(values["max-entries"]) } : {}),
    ...(values["max-bytes"] !== undefined ? { maxBytes: Number(values["max-bytes"]) } : {}),
  };
  if ((values.archive === undefined) === (positionals.length !== 1)) {
    process.stderr.write("usage: pack.ts <dir> | --archive FILE [--dockerfile PATH] [--out FILE]\n");
    return 2;
  }
  try {
    const packed =
      values.archive !== undefined
        ? await packArchiveFile(values.archive, options)
        : await packDirectory(positionals[0]!, options);
    if (values.out !== undefined) await writeFile(values.out, packed.bytes);
    const { sha256, size, entries, files } = packed;
    process.stdout.write(JSON.stringify({ sha256, size, entries, files }) + "\n");
    return 0;
  } catch (err) {
    if (!(err instanceof BundleError)) throw err;
    process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message, path: err.path } }) + "\n");
    process.stderr.write(`pack: ${err.message}\n`);
    return 1;
  }
}

process.exitCode = await main();
