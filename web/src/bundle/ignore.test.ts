// `.dockerignore` semantics: the cases of moby/patternmatcher's test tables, as ported in tests/bundle/test_ignore.py.
import { describe, expect, it } from "vitest";

import { BundleError } from "./errors";
import { type MatchInfo, IgnorePatternError, PatternMatcher, goClean, readIgnorePatterns } from "./ignore";
import { translate } from "./re2";

// (pattern, path, excluded): patternmatcher_test.go TestMatches
const SINGLE: Array<[string, string, boolean]> = [
  ["**", "file", true],
  ["**", "file/", true],
  ["**/", "file", true],
  ["**/", "file/", true],
  ["**", "/", true],
  ["**/", "/", true],
  ["**", "dir/file", true],
  ["**/", "dir/file", true],
  ["**", "dir/file/", true],
  ["**/", "dir/file/", true],
  ["**/**", "dir/file", true],
  ["**/**", "dir/file/", true],
  ["dir/**", "dir/file", true],
  ["dir/**", "dir/file/", true],
  ["dir/**", "dir/dir2/file", true],
  ["dir/**", "dir/dir2/file/", true],
  ["**/dir", "dir", true],
  ["**/dir", "dir/file", true],
  ["**/dir2/*", "dir/dir2/file", true],
  ["**/dir2/*", "dir/dir2/file/", true],
  ["**/dir2/**", "dir/dir2/dir3/file", true],
  ["**/dir2/**", "dir/dir2/dir3/file/", true],
  ["**file", "file", true],
  ["**file", "dir/file", true],
  ["**/file", "dir/file", true],
  ["**file", "dir/dir/file", true],
  ["**/file", "dir/dir/file", true],
  ["**/file*", "dir/dir/file", true],
  ["**/file*", "dir/dir/file.txt", true],
  ["**/file*txt", "dir/dir/file.txt", true],
  ["**/file*.txt", "dir/dir/file.txt", true],
  ["**/file*.txt*", "dir/dir/file.txt", true],
  ["**/**/*.txt", "dir/dir/file.txt", true],
  ["**/**/*.txt2", "dir/dir/file.txt", false],
  ["**/*.txt", "file.txt", true],
  ["**/**/*.txt", "file.txt", true],
  ["a**/*.txt", "a/file.txt", true],
  ["a**/*.txt", "a/dir/file.txt", true],
  ["a**/*.txt", "a/dir/dir/file.txt", true],
  ["a/*.txt", "a/dir/file.txt", false],
  ["a/*.txt", "a/file.txt", true],
  ["a/*.txt**", "a/file.txt", true],
  ["a[b-d]e", "ae", false],
  ["a[b-d]e", "ace", true],
  ["a[b-d]e", "aae", false],
  ["a[^b-d]e", "aze", true],
  [".*", ".foo", true],
  [".*", "foo", false],
  ["abc.def", "abcdef", false],
  ["abc.def", "abc.def", true],
  ["abc.def", "abcZdef", false],
  ["abc?def", "abcZdef", true],
  ["abc?def", "abcdef", false],
  ["a\\\\", "a\\", true],
  ["**/foo/bar", "foo/bar", true],
  ["**/foo/bar", "dir/foo/bar", true],
  ["**/foo/bar", "dir/dir2/foo/bar", true],
  ["abc/**", "abc", false],
  ["abc/**", "abc/def", true],
  ["abc/**", "abc/def/ghi", true],
  ["**/.foo", ".foo", true],
  ["**/.foo", "bar.foo", false],
  ["a(b)c/def", "a(b)c/def", true],
  ["a(b)c/def", "a(b)c/xyz", false],
  ["a.|)$(}+{bc", "a.|)$(}+{bc", true],
  ["dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
  ["dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
  ["a\\*b", "a*b", true],
];

// (patterns, path, excluded): TestMatches' multi-pattern table
const MULTI: Array<[string[], string, boolean]> = [
  [["**", "!util/docker/web"], "util/docker/web/foo", false],
  [["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true],
  [["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
  [["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
  [["*"], "fileutils.go", true],
  [["*.go"], "fileutils.go", true],
  [["!fileutils.go", "*.go"], "fileutils.go", true],
  [["docs", "!docs/README.md"], "docs/README.md", false],
  [["docs/", "!docs/README.md"], "docs/README.md", false],
  [["docs/*", "!docs/README.md"], "docs/README.md", false],
  [["*.go", "!fileutils.go"], "fileutils.go", false],
  [[], "/any/path/there", false],
];

// (pattern, path, excluded or null for a syntax error): TestMatch, from Go's filepath tests
const GLOB: Array<[string, string, boolean | null]> = [
  ["abc", "abc", true],
  ["*", "abc", true],
  ["*c", "abc", true],
  ["a*", "a", true],
  ["a*", "abc", true],
  ["a*", "ab/c", true],
  ["a*/b", "abc/b", true],
  ["a*/b", "a/c/b", false],
  ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/fff", false],
  ["a*b?c*x", "abxbbxdbxebxczzx", true],
  ["a*b?c*x", "abxbbxdbxebxczzy", false],
  ["ab[c]", "abc", true],
  ["ab[b-d]", "abc", true],
  ["ab[e-g]", "abc", false],
  ["ab[^c]", "abc", false],
  ["ab[^b-d]", "abc", false],
  ["ab[^e-g]", "abc", true],
  ["a\\*b", "a*b", true],
  ["a\\*b", "ab", false],
  ["a?b", "a☺b", true],
  ["a[^a]b", "a☺b", true],
  ["a???b", "a☺b", false],
  ["a[^a][^a][^a]b", "a☺b", false],
  ["[a-ζ]*", "α", true],
  ["*[a-ζ]", "A", false],
  ["a?b", "a/b", false],
  ["a*b", "a/b", false],
  ["[\\]a]", "]", true],
  ["[\\-]", "-", true],
  ["[x\\-]", "x", true],
  ["[x\\-]", "-", true],
  ["[x\\-]", "z", false],
  ["[\\-x]", "x", true],
  ["[\\-x]", "-", true],
  ["[\\-x]", "a", false],
  ["[]a]", "]", null],
  ["[-]", "-", null],
  ["[x-]", "x", null],
  ["[x-]", "-", null],
  ["[x-]", "z", null],
  ["[-x]", "x", null],
  ["[-x]", "-", null],
  ["[-x]", "a", null],
  ["\\", "a", null],
  ["[a-b-c]", "a", null],
  ["[", "a", null],
  ["[^", "a", null],
  ["[^bc", "a", null],
  ["a[", "a", null],
  ["a[", "ab", null],
  ["*x", "xxx", true],
];

// (pattern, match type, Go regexp): TestCompile, Docker's own regexp strings
const COMPILE: Array<[string, string, string | null]> = [
  ["*", "regexp", "^[^/]*$"],
  ["file*", "regexp", "^file[^/]*$"],
  ["*file", "regexp", "^[^/]*file$"],
  ["a*/b", "regexp", "^a[^/]*/b$"],
  ["**", "suffix", null],
  ["**/**", "regexp", "^(.*/)?.*$"],
  ["dir/**", "prefix", null],
  ["**/dir", "suffix", null],
  ["**/dir2/*", "regexp", "^(.*/)?dir2/[^/]*$"],
  ["**/dir2/**", "regexp", "^(.*/)?dir2/.*$"],
  ["**file", "suffix", null],
  ["**/file*txt", "regexp", "^(.*/)?file[^/]*txt$"],
  ["**/**/*.txt", "regexp", "^(.*/)?(.*/)?[^/]*\\.txt$"],
  ["a[b-d]e", "regexp", "^a[b-d]e$"],
  [".*", "regexp", "^\\.[^/]*$"],
  ["abc.def", "exact", null],
  ["abc?def", "regexp", "^abc[^/]def$"],
  ["**/foo/bar", "suffix", null],
  ["a(b)c/def", "exact", null],
  ["a.|)$(}+{bc", "exact", null],
  ["dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact", null],
];

/** Match the way the archive walk does: parent directories first, handing their results down. */
function walkMatch(matcher: PatternMatcher, path: string): boolean {
  const parent = path.includes("/") ? goClean(path.slice(0, path.lastIndexOf("/") + 1)) : ".";
  let info: MatchInfo | null = null;
  if (parent !== ".") {
    const parts = parent.split("/");
    for (let k = 0; k < parts.length; k++) {
      info = matcher.matchesUsingParentResults(parts.slice(0, k + 1).join("/"), info)[1];
    }
  }
  return matcher.matchesUsingParentResults(path, info)[0];
}

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("patternmatcher tables", () => {
  it.each(SINGLE)("single %j matching %j is %j", (pattern, path, excluded) => {
    const matcher = new PatternMatcher([pattern]);
    expect(matcher.matchesOrParentMatches(path)).toBe(excluded);
    expect(walkMatch(matcher, path)).toBe(excluded);
    expect(matcher.matchesUsingParentResults(path)[0]).toBe(excluded);
  });

  it.each(MULTI)("multi %j matching %j is %j", (patterns, path, excluded) => {
    const matcher = new PatternMatcher(patterns);
    expect(matcher.matchesOrParentMatches(path)).toBe(excluded);
    expect(walkMatch(matcher, path)).toBe(excluded);
  });

  it.each(GLOB)("glob %j matching %j is %j", (pattern, path, excluded) => {
    if (excluded === null) {
      expect(() => new PatternMatcher([pattern])).toThrow(/syntax error in pattern/);
      expect(() => new PatternMatcher([pattern])).toThrow(IgnorePatternError);
    } else {
      expect(new PatternMatcher([pattern]).matchesOrParentMatches(goClean(path))).toBe(excluded);
    }
  });

  it.each(COMPILE)("%j compiles to a %s match %j", (pattern, kind, goRegex) => {
    const [compiled] = new PatternMatcher([pattern]).patterns;
    expect(compiled!.matchType).toBe(kind);
    expect(compiled!.goRegex).toBe(goRegex);
  });
});

describe("PatternMatcher", () => {
  it("refuses a lone exclamation mark", () => {
    expect(() => new PatternMatcher(["!"])).toThrow('illegal exclusion pattern: "!"');
  });

  it("drops empty patterns and flags exceptions", () => {
    expect(new PatternMatcher(["docs", "config", ""]).patterns).toHaveLength(2);
    expect(new PatternMatcher(["docs", "  !docs/README.md"]).exclusions).toBe(true);
    expect(new PatternMatcher(["docs", "!docs/README.md  "]).exclusions).toBe(true);
    expect(new PatternMatcher(["docs"]).exclusions).toBe(false);
  });

  it.each<[string[], string, boolean]>([
    // Docker's documentation examples
    [["*/temp*"], "somedir/temporary.txt", true],
    [["*/temp*"], "somedir/temp", true],
    [["*/temp*"], "temp", false],
    [["*/*/temp*"], "somedir/subdir/temporary.txt", true],
    [["*/*/temp*"], "somedir/temporary.txt", false],
    [["temp?"], "tempa", true],
    [["temp?"], "tempab", false],
    [["**/*.go"], "a/b/c.go", true],
    [["*.md", "!README.md"], "README.md", false],
    [["*.md", "!README.md"], "CHANGES.md", true],
    [["*.md", "!README*.md", "README-secret.md"], "README-secret.md", true],
    [["*.md", "!README*.md", "README-secret.md"], "README-public.md", false],
    [["*.md", "README-secret.md", "!README*.md"], "README-secret.md", false],
    // a pattern names a directory: everything below it goes too
    [["node_modules"], "node_modules/a/b.js", true],
    [["/build"], "build/out.o", true],
    [["build"], "src/build", false],
    // Go regexp syntax reaches the matcher through escapes and brackets
    [["file\\d"], "file7", true],
    [["file\\d"], "filed", false],
    [["[[:digit:]]x"], "5x", true],
    [["[[:digit:]]x"], "ax", false],
    // RE2's classes are ASCII-only (JavaScript's \d with `u` would be too; \s and \w differ elsewhere)
    [["file\\s"], "file\u00a0", false],
    [["file\\w"], "file\u00e9", false],
    [["file\\W"], "file\u00e9", true],
    // non-BMP characters are one character, as in Go
    [["a?b"], "a\u{1f600}b", true],
    [["[^x]"], "\u{1f600}", true],
  ])("documentation example %j matching %j is %j", (patterns, path, excluded) => {
    const matcher = new PatternMatcher(readIgnorePatterns(enc(patterns.join("\n"))));
    expect(walkMatch(matcher, path)).toBe(excluded);
  });

  it("follows Docker's regexp for wildcards inside brackets", () => {
    // Docker turns "[a*]" into the Go regexp "^[a[^/]*]$": the class {a, [, ^, /}, repeated, then a literal "]".
    const matcher = new PatternMatcher(["[a*]"]);
    expect(matcher.patterns[0]!.goRegex).toBe("^[a[^/]*]$");
    expect(matcher.matchesOrParentMatches("aa]")).toBe(true);
    expect(matcher.matchesOrParentMatches("]")).toBe(true);
    expect(matcher.matchesOrParentMatches("a")).toBe(false);
  });

  it("refuses Go's Unicode classes with a clear message", () => {
    expect(() => new PatternMatcher(["\\pL"])).toThrow(/syntax error in pattern '\\\\pL': .*not supported/);
    expect(() => new PatternMatcher(["[\\p{Greek}]"])).toThrow(/not supported/);
    expect(() => new PatternMatcher(["a\\1"])).toThrow(/backreferences are not supported/);
    expect(() => new PatternMatcher(["[[:nope:]]"])).toThrow(/invalid character class/);
    expect(() => new PatternMatcher(["[z-a]"])).toThrow(/invalid character class range/);
  });

  it("descends into an excluded directory only for an exception under it", () => {
    expect(new PatternMatcher(["docs", "!docs/README.md"]).mayIncludeUnder("docs")).toBe(true);
    expect(new PatternMatcher(["docs", "!other/README.md"]).mayIncludeUnder("docs")).toBe(false);
    expect(new PatternMatcher(["docs"]).mayIncludeUnder("docs")).toBe(false);
    // Docker's check is textual: "!**/keep" does not open an excluded directory.
    expect(new PatternMatcher(["a", "!**/keep"]).mayIncludeUnder("a")).toBe(false);
  });

  it("errors are BundleErrors naming .dockerignore", () => {
    try {
      new PatternMatcher(["["]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(BundleError);
      expect((err as BundleError).code).toBe("ignore");
      expect((err as BundleError).path).toBe(".dockerignore");
    }
  });
});

describe("readIgnorePatterns", () => {
  it("reads like ignorefile.ReadAll", () => {
    const content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    expect(readIgnorePatterns(enc(content))).toEqual([
      "test1",
      "test2",
      "a/file/here",
      "lastfile",
      "!inverted/abs/path",
      "!",
      "!",
    ]);
    expect(readIgnorePatterns(new Uint8Array(0))).toEqual([]);
  });

  it("drops a BOM on the first line only, CRLF, cleans paths; '#' only first", () => {
    const data = Uint8Array.of(0xef, 0xbb, 0xbf, ...enc("a\r\n  # not a comment\r\nb/../c/./d/\n\t*.log \n"));
    expect(readIgnorePatterns(data)).toEqual(["a", "# not a comment", "c/d", "*.log"]);
    expect(readIgnorePatterns(enc("!foo/../bar\n"))).toEqual(["!bar"]);
    expect(() => readIgnorePatterns(Uint8Array.of(...enc("ok\n"), 0xff, 0x0a))).toThrow("line 2 is not valid UTF-8");
    expect(() => readIgnorePatterns(enc("a".repeat(70_000)))).toThrow("longer than 64 KiB");
  });
});

describe("goClean", () => {
  it.each([
    ["", "."],
    ["a//b/./c/..", "a/b"],
    ["/../a", "/a"],
    ["../../a", "../../a"],
    ["a/..", "."],
  ])("%j -> %j", (path, cleaned) => expect(goClean(path)).toBe(cleaned));
});

describe("translate", () => {
  it("emits explicit code point classes", () => {
    expect(translate("^a[b-d]$")).toBe("^\\u{61}[\\u{62}-\\u{64}]$");
    expect(translate("\\d")).toBe("[\\u{30}-\\u{39}]");
    expect(translate("(.*/)?")).toBe("(?:[^\\n]*\\u{2f})?");
  });

  it("refuses what RE2 refuses", () => {
    expect(() => translate("(a")).toThrow("missing closing )");
    expect(() => translate("a)")).toThrow("unexpected )");
    expect(() => translate("[a")).toThrow("missing closing ]");
    expect(() => translate("\\C")).toThrow("invalid escape \\C");
    expect(() => translate("\\q")).toThrow("invalid escape \\q");
  });
});
