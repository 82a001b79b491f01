/**
 * `.dockerignore` with Docker's own semantics: a port of daas/bundle/ignore.py, itself a port of
 * moby/patternmatcher (`PatternMatcher`, `MatchesUsingParentResults`) and `ignorefile.ReadAll`.
 */

import { BundleError, repr } from "./errors";
import { compileGoRegex } from "./re2";

/** Go's unicode.IsSpace, which strings.TrimSpace uses. */
const GO_SPACE = new Set(
  "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
);
/** bufio.Scanner's default token limit: a longer line makes `docker build` fail reading the file. */
const MAX_LINE_BYTES = 64 * 1024;
/** Characters Docker escapes because they are regexp syntax without meaning in a glob. */
const REGEX_ONLY = new Set(".+()|{}$");

/** Per-pattern results for a directory, handed down to its children (patternmatcher's `MatchInfo`). */
export type MatchInfo = readonly boolean[];

export class IgnorePatternError extends BundleError {
  constructor(message: string) {
    super("ignore", message, ".dockerignore");
    this.name = "IgnorePatternError";
  }
}

export function goTrimSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && GO_SPACE.has(text[start]!)) start++;
  while (end > start && GO_SPACE.has(text[end - 1]!)) end--;
  return text.slice(start, end);
}

/** Go's `path.Clean`: the shortest equivalent slash path, lexically. */
export function goClean(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length && parts[parts.length - 1] !== "..") parts.pop();
      else if (!rooted) parts.push("..");
      continue;
    }
    parts.push(part);
  }
  const cleaned = parts.join("/");
  if (rooted) return "/" + cleaned;
  return cleaned || ".";
}

/** Go's `filepath.Dir` for slash paths. */
export function goDir(path: string): string {
  return goClean(path.slice(0, path.lastIndexOf("/") + 1));
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The patterns of a `.dockerignore` file, as `ignorefile.ReadAll` returns them. */
export function readIgnorePatterns(data: Uint8Array): string[] {
  const patterns: string[] = [];
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0a) {
      lines.push(data.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < data.length) lines.push(data.subarray(start));
  lines.forEach((raw, index) => {
    const number = index + 1;
    let line = raw.length && raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw;
    if (line.length >= MAX_LINE_BYTES) {
      throw new IgnorePatternError(`.dockerignore line ${number} is longer than 64 KiB`);
    }
    if (number === 1 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) line = line.subarray(3);
    let pattern: string;
    try {
      pattern = utf8.decode(line);
    } catch {
      throw new IgnorePatternError(`.dockerignore line ${number} is not valid UTF-8`);
    }
    if (pattern.startsWith("#")) return;
    pattern = goTrimSpace(pattern);
    if (!pattern) return;
    const invert = pattern.startsWith("!");
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    patterns.push(invert ? "!" + pattern : pattern);
  });
  return patterns;
}

export type MatchType = "exact" | "prefix" | "suffix" | "regexp";

function syntaxError(pattern: string, why: string): IgnorePatternError {
  return new IgnorePatternError(`syntax error in pattern ${repr(pattern)}: ${why}`);
}

/** Reject what Go's `filepath.Match` rejects (Docker's `New` calls it for this purpose only). */
function checkGlobSyntax(text: string): void {
  const p = Array.from(text);
  const n = p.length;
  const charEnd = (i: number): number => {
    if (i >= n || p[i] === "-" || p[i] === "]") throw syntaxError(text, "malformed character class");
    if (p[i] === "\\") i++;
    if (i + 1 >= n) throw syntaxError(text, "unterminated class");
    return i + 1;
  };
  const checkClass = (i: number): number => {
    if (i < n && p[i] === "^") i++;
    let ranges = 0;
    for (;;) {
      if (i < n && p[i] === "]" && ranges > 0) return i + 1;
      i = charEnd(i);
      if (p[i] === "-") i = charEnd(i + 1);
      ranges++;
    }
  };
  let i = 0;
  while (i < n) {
    const ch = p[i];
    if (ch === "\\") {
      if (i + 1 >= n) throw syntaxError(text, "trailing backslash");
      i += 2;
    } else if (ch === "[") {
      i = checkClass(i + 1);
    } else {
      i++;
    }
  }
}

/** patternmatcher's `compile`: the match type and, for regexp matches, Docker's Go regexp string. */
export function compileGo(pattern: string): [MatchType, string | null] {
  const p = Array.from(pattern);
  const n = p.length;
  let out = "^";
  let kind: MatchType = "exact";
  let i = 0;
  let step = 0;
  while (i < n) {
    const ch = p[i]!;
    i++;
    if (ch === "*") {
      if (i < n && p[i] === "*") {
        i++;
        if (i < n && p[i] === "/") i++; // "**/" is "**"
        if (i >= n) {
          // "**" at the end matches everything, as in .gitignore
          if (kind === "exact") kind = "prefix";
          else {
            out += ".*";
            kind = "regexp";
          }
        } else {
          out += "(.*/)?"; // any number of directories, even none
          kind = "regexp";
        }
        if (step === 0) kind = "suffix";
      } else {
        out += "[^/]*";
        kind = "regexp";
      }
    } else if (ch === "?") {
      out += "[^/]";
      kind = "regexp";
    } else if (REGEX_ONLY.has(ch)) {
      out += "\\" + ch;
    } else if (ch === "\\") {
      if (i < n) {
        out += "\\" + p[i];
        i++;
        kind = "regexp";
      } else {
        out += "\\";
      }
    } else if (ch === "[" || ch === "]") {
      out += ch;
      kind = "regexp";
    } else {
      out += ch;
    }
    step++;
  }
  return kind === "regexp" ? [kind, out + "$"] : [kind, null];
}

/** One cleaned pattern; `exclusion` is true for `!pattern` exceptions. */
export class Pattern {
  readonly cleaned: string;
  readonly exclusion: boolean;
  readonly matchType: MatchType;
  readonly goRegex: string | null;
  private readonly regex: RegExp | null;

  constructor(cleaned: string, exclusion: boolean) {
    this.cleaned = cleaned;
    this.exclusion = exclusion;
    [this.matchType, this.goRegex] = compileGo(cleaned);
    this.regex = null;
    if (this.goRegex !== null) {
      try {
        this.regex = compileGoRegex(this.goRegex);
      } catch (err) {
        throw syntaxError(cleaned, err instanceof Error ? err.message : String(err));
      }
    }
  }

  match(path: string): boolean {
    switch (this.matchType) {
      case "exact":
        return path === this.cleaned;
      case "prefix":
        return path.startsWith(this.cleaned.slice(0, -2));
      case "suffix": {
        const suffix = this.cleaned.slice(2);
        if (path.endsWith(suffix)) return true;
        return suffix.startsWith("/") && path === suffix.slice(1); // "**/foo" matches "foo"
      }
      default:
        return this.regex!.test(path);
    }
  }
}

/** patternmatcher's `PatternMatcher`: decides whether a slash path is excluded. */
export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  readonly exclusions: boolean;

  constructor(patterns: readonly string[]) {
    const compiled: Pattern[] = [];
    for (const raw of patterns) {
      let text = goTrimSpace(raw);
      if (!text) continue;
      text = goClean(text);
      const exclusion = text.startsWith("!");
      if (exclusion) {
        if (text.length === 1) throw new IgnorePatternError('illegal exclusion pattern: "!"');
        text = text.slice(1);
      }
      checkGlobSyntax(text);
      compiled.push(new Pattern(text, exclusion));
    }
    this.patterns = compiled;
    this.exclusions = compiled.some((p) => p.exclusion);
  }

  /** True if `path` or one of its parents is excluded (and not re-included by a later exception). */
  matchesOrParentMatches(path: string): boolean {
    let matched = false;
    const parent = goDir(path);
    const parentDirs = parent.split("/");
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(path);
      if (!match && parent !== ".") {
        for (let k = 0; k < parentDirs.length && !match; k++) {
          match = pattern.match(parentDirs.slice(0, k + 1).join("/"));
        }
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /** The walk's matcher: uses the results of `path`'s parent directory, and returns `path`'s own. */
  matchesUsingParentResults(path: string, parent: MatchInfo | null = null): [boolean, MatchInfo] {
    if (parent !== null && parent.length !== this.patterns.length) {
      throw new Error("wrong number of values in parent match info");
    }
    const hasParent = parent !== null && parent.length > 0;
    let matched = false;
    const results = new Array<boolean>(this.patterns.length).fill(false);
    this.patterns.forEach((pattern, index) => {
      let match = hasParent && parent[index] === true;
      if (!match) {
        if (pattern.exclusion !== matched) return;
        match = pattern.match(path);
        if (!match && !hasParent) {
          const dirPath = goDir(path);
          if (dirPath !== ".") {
            const dirs = dirPath.split("/");
            for (let k = 0; k < dirs.length && !match; k++) match = pattern.match(dirs.slice(0, k + 1).join("/"));
          }
        }
      }
      results[index] = match;
      if (match) matched = !pattern.exclusion;
    });
    return [matched, results];
  }

  /** Whether the walk must still descend into an excluded `directory` (an exception names a path in it). */
  mayIncludeUnder(directory: string): boolean {
    if (!this.exclusions) return false;
    const prefix = directory + "/";
    return this.patterns.some((p) => p.exclusion && (p.cleaned + "/").startsWith(prefix));
  }
}
