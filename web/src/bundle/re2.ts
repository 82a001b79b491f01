/**
 * Go (RE2) regular expressions, as Docker builds them from `.dockerignore` patterns, translated to JavaScript.
 *
 * A port of daas/bundle/_re2.py: the Go regexp string is parsed as RE2 would parse it, and an unambiguous
 * JavaScript expression (flag `u`) is emitted: every character class becomes an explicit list of code point
 * ranges, every literal an `\u{...}` escape. RE2's Perl classes (`\d`, `\s`, `\w`, `[[:digit:]]`) are ASCII-only.
 * `\p{...}` classes and anything RE2 rejects throw `Error`.
 */

const MAX_RUNE = 0x10ffff;
type Ranges = Array<[number, number]>;

const PERL: Record<string, Ranges> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
};

const POSIX: Record<string, Ranges> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

const CONTROL: Record<string, number> = { a: 0x07, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };
const ASSERTIONS: Record<string, string> = { A: "^", z: "$", b: "\\b", B: "\\B" };

function merge(ranges: Ranges): Ranges {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: Ranges = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function negate(ranges: Ranges): Ranges {
  const out: Ranges = [];
  let next = 0;
  for (const [lo, hi] of merge(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

const hex = (code: number): string => `\\u{${code.toString(16)}}`;

function emitClass(ranges: Ranges): string {
  const merged = merge(ranges);
  if (merged.length === 0) return "(?!)";
  return "[" + merged.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join("") + "]";
}

const isAsciiAlnum = (ch: string): boolean => /^[0-9A-Za-z]$/.test(ch);
const OCTAL = "01234567";

/** RE2's parseEscape: `src[i]` is the backslash; returns [code point, next index]. */
function parseEscape(src: string[], i: number): [number, number] {
  if (i + 1 >= src.length) throw new Error("trailing backslash at end of expression");
  const ch = src[i + 1]!;
  i += 2;
  if ("1234567".includes(ch) && (i >= src.length || !OCTAL.includes(src[i]!))) {
    throw new Error(`invalid escape \\${ch} (backreferences are not supported)`);
  }
  if (OCTAL.includes(ch)) {
    let value = Number(ch);
    for (let k = 0; k < 2; k++) {
      if (i < src.length && OCTAL.includes(src[i]!)) {
        value = value * 8 + Number(src[i]);
        i++;
      } else break;
    }
    return [value, i];
  }
  if (ch === "x") {
    if (src[i] === "{") {
      const end = src.indexOf("}", i);
      const digits = end >= 0 ? src.slice(i + 1, end).join("") : "";
      if (!/^[0-9A-Fa-f]+$/.test(digits) || parseInt(digits, 16) > MAX_RUNE) {
        throw new Error("invalid escape \\x{...}");
      }
      return [parseInt(digits, 16), end + 1];
    }
    const digits = src.slice(i, i + 2).join("");
    if (!/^[0-9A-Fa-f]{2}$/.test(digits)) throw new Error("invalid escape \\x");
    return [parseInt(digits, 16), i + 2];
  }
  if (ch in CONTROL) return [CONTROL[ch]!, i];
  const code = ch.codePointAt(0)!;
  if (code < 0x80 && !isAsciiAlnum(ch)) return [code, i];
  throw new Error(`invalid escape \\${ch}`);
}

function perlClass(ch: string): Ranges {
  const ranges = PERL[ch.toLowerCase()]!;
  return ch === ch.toUpperCase() ? negate(ranges) : ranges.map(([a, b]) => [a, b] as [number, number]);
}

function classChar(src: string[], i: number): [number, number] {
  if (src[i] === "\\") return parseEscape(src, i);
  return [src[i]!.codePointAt(0)!, i + 1];
}

function startsWith(src: string[], text: string, at: number): boolean {
  for (let k = 0; k < text.length; k++) if (src[at + k] !== text[k]) return false;
  return true;
}

/** RE2's parseClass in Perl mode: `src[i]` is `[`; returns [ranges, next index]. */
function parseClass(src: string[], i: number): [Ranges, number] {
  i++;
  const negated = src[i] === "^";
  if (negated) i++;
  const ranges: Ranges = [];
  let first = true;
  for (;;) {
    if (i >= src.length) throw new Error("missing closing ]");
    if (src[i] === "]" && !first) {
      i++;
      break;
    }
    first = false;
    if (startsWith(src, "[:", i)) {
      let end = -1;
      for (let k = i + 2; k + 1 < src.length; k++) {
        if (src[k] === ":" && src[k + 1] === "]") {
          end = k;
          break;
        }
      }
      if (end >= 0) {
        const name = src.slice(i + 2, end).join("");
        const negateNamed = name.startsWith("^");
        const named = POSIX[negateNamed ? name.slice(1) : name];
        if (named === undefined || !Object.hasOwn(POSIX, negateNamed ? name.slice(1) : name)) {
          throw new Error(`invalid character class [:${name}:]`);
        }
        ranges.push(...(negateNamed ? negate(named) : named));
        i = end + 2;
        continue;
      }
    }
    if (src[i] === "\\" && i + 1 < src.length) {
      const next = src[i + 1]!;
      if ("dDsSwW".includes(next)) {
        ranges.push(...perlClass(next));
        i += 2;
        continue;
      }
      if (next === "p" || next === "P") throw new Error("Unicode classes (\\p, \\P) are not supported");
    }
    let lo: number;
    [lo, i] = classChar(src, i);
    let hi = lo;
    if (i + 1 < src.length && src[i] === "-" && src[i + 1] !== "]") {
      [hi, i] = classChar(src, i + 1);
      if (hi < lo) throw new Error("invalid character class range");
    }
    ranges.push([lo, hi]);
  }
  return [negated ? negate(ranges) : ranges, i];
}

/** A JavaScript regular expression source (use flag `u`) equivalent to RE2's reading of `goRegex`. */
export function translate(goRegex: string): string {
  const src = Array.from(goRegex); // code points, as Go's parser reads runes
  const out: string[] = [];
  let depth = 0;
  let i = 0;
  const n = src.length;
  while (i < n) {
    const ch = src[i]!;
    if (ch === "[") {
      let ranges: Ranges;
      [ranges, i] = parseClass(src, i);
      out.push(emitClass(ranges));
      continue;
    }
    if (ch === "\\") {
      const next = i + 1 < n ? src[i + 1]! : "";
      if (next in ASSERTIONS && next !== "") {
        out.push(ASSERTIONS[next]!);
        i += 2;
      } else if (next === "Q") {
        let end = -1;
        for (let k = i + 2; k + 1 < n; k++) {
          if (src[k] === "\\" && src[k + 1] === "E") {
            end = k;
            break;
          }
        }
        const literal = end < 0 ? src.slice(i + 2) : src.slice(i + 2, end);
        out.push(literal.map((c) => hex(c.codePointAt(0)!)).join(""));
        i = end < 0 ? n : end + 2;
      } else if (next !== "" && "dDsSwW".includes(next)) {
        out.push(emitClass(perlClass(next)));
        i += 2;
      } else if (next === "p" || next === "P") {
        throw new Error("Unicode classes (\\p, \\P) are not supported");
      } else if (next === "C") {
        throw new Error("invalid escape \\C");
      } else {
        let code: number;
        [code, i] = parseEscape(src, i);
        out.push(emitClass([[code, code]]));
      }
      continue;
    }
    i++;
    if (ch === "^") out.push("^");
    else if (ch === "$") out.push("$");
    else if (ch === ".") out.push("[^\\n]");
    else if (ch === "(") {
      depth++;
      out.push("(?:");
    } else if (ch === ")") {
      if (depth === 0) throw new Error("unexpected )");
      depth--;
      out.push(")");
    } else if ("*?+|".includes(ch)) out.push(ch);
    else out.push(hex(ch.codePointAt(0)!));
  }
  if (depth) throw new Error("missing closing )");
  return out.join("");
}

/** Compile a Go regexp string; throws `Error` with RE2's (or the JavaScript engine's) complaint. */
export function compileGoRegex(goRegex: string): RegExp {
  return new RegExp(translate(goRegex), "u");
}
