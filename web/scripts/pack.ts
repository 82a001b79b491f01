/**
 * Pack a directory (or an archive) with the browser's packer, from Node; prints `{"sha256", "size", ...}` as JSON.
 *
 *   npx tsx scripts/pack.ts <dir> [--dockerfile PATH] [--out FILE] [--executable PATH]...
 *   npx tsx scripts/pack.ts --archive FILE [--dockerfile PATH] [--out FILE] [--max-entries N] [--max-bytes N]
 *   npx tsx scripts/pack.ts --serve      (one JSON array of arguments per stdin line -> one JSON result per line)
 *
 * A refusal prints `{"error": {"code", "message", "path"}}` on stdout, the message on stderr, and exits with 1.
 * tests/web/test_bundle_parity.py compares its output with the Python packer's (`daas submit`); `--serve` lets it
 * run many packs in one process.
 */

import { writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

import { BundleError } from "../src/bundle/errors";
import { packArchiveFile, packDirectory } from "../src/bundle/node";

interface Outcome {
  code: number;
  report: Record<string, unknown> | null;
  stderr: string;
}

const USAGE = "usage: pack.ts <dir> | --archive FILE [--dockerfile PATH] [--out FILE] | --serve\n";

async function run(args: string[]): Promise<Outcome> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
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
  } catch (err) {
    return { code: 2, report: null, stderr: `${(err as Error).message}\n${USAGE}` };
  }
  const { values, positionals } = parsed;
  if ((values.archive === undefined) === (positionals.length !== 1)) return { code: 2, report: null, stderr: USAGE };
  const options = {
    ...(values.dockerfile !== undefined ? { dockerfile: values.dockerfile } : {}),
    ...(values.executable !== undefined ? { executable: values.executable } : {}),
    ...(values["max-entries"] !== undefined ? { maxEntries: Number(values["max-entries"]) } : {}),
    ...(values["max-bytes"] !== undefined ? { maxBytes: Number(values["max-bytes"]) } : {}),
  };
  try {
    const packed =
      values.archive !== undefined
        ? await packArchiveFile(values.archive, options)
        : await packDirectory(positionals[0]!, options);
    if (values.out !== undefined) await writeFile(values.out, packed.bytes);
    const { sha256, size, entries, files } = packed;
    return { code: 0, report: { sha256, size, entries, files }, stderr: "" };
  } catch (err) {
    if (!(err instanceof BundleError)) throw err;
    return {
      code: 1,
      report: { error: { code: err.code, message: err.message, path: err.path } },
      stderr: `pack: ${err.message}\n`,
    };
  }
}

async function serve(): Promise<number> {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    let outcome: Outcome;
    try {
      outcome = await run(JSON.parse(line) as string[]);
    } catch (err) {
      outcome = { code: 3, report: null, stderr: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    }
    process.stdout.write(JSON.stringify(outcome) + "\n");
  }
  return 0;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.length === 1 && args[0] === "--serve") return serve();
  const { code, report, stderr } = await run(args);
  if (report !== null) process.stdout.write(JSON.stringify(report) + "\n");
  process.stderr.write(stderr);
  return code;
}

process.exitCode = await main();
