"""`.dockerignore` semantics, checked against the cases of moby/patternmatcher's own test tables."""

from __future__ import annotations

import pytest

from daas.bundle.ignore import (
    IgnorePatternError,
    MatchInfo,
    PatternMatcher,
    go_clean,
    read_ignore_patterns,
)

# (pattern, path, excluded): patternmatcher_test.go TestMatches
SINGLE = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        True,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]

# (patterns, path, excluded): TestMatches' multi-pattern table
MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (
        ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        False,
    ),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    # the single-test functions at the top of patternmatcher_test.go
    (["*"], "fileutils.go", True),
    (["*.go"], "fileutils.go", True),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    ([], "/any/path/there", False),
]

# (pattern, path, excluded or None for a syntax error): TestMatch, itself taken from Go's filepath tests
GLOB = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[x-]", "-", None),
    ("[x-]", "z", None),
    ("[-x]", "x", None),
    ("[-x]", "-", None),
    ("[-x]", "a", None),
    ("\\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
    ("a[", "ab", None),
    ("*x", "xxx", True),
]

# (pattern, match type, Go regexp): TestCompile, Docker's own regexp strings
COMPILE = [
    ("*", "regexp", "^[^/]*$"),
    ("file*", "regexp", "^file[^/]*$"),
    ("*file", "regexp", "^[^/]*file$"),
    ("a*/b", "regexp", "^a[^/]*/b$"),
    ("**", "suffix", None),
    ("**/**", "regexp", "^(.*/)?.*$"),
    ("dir/**", "prefix", None),
    ("**/dir", "suffix", None),
    ("**/dir2/*", "regexp", "^(.*/)?dir2/[^/]*$"),
    ("**/dir2/**", "regexp", "^(.*/)?dir2/.*$"),
    ("**file", "suffix", None),
    ("**/file*txt", "regexp", "^(.*/)?file[^/]*txt$"),
    ("**/**/*.txt", "regexp", "^(.*/)?(.*/)?[^/]*\\.txt$"),
    ("a[b-d]e", "regexp", "^a[b-d]e$"),
    (".*", "regexp", "^\\.[^/]*$"),
    ("abc.def", "exact", None),
    ("abc?def", "regexp", "^abc[^/]def$"),
    ("**/foo/bar", "suffix", None),
    ("a(b)c/def", "exact", None),
    ("a.|)$(}+{bc", "exact", None),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact", None),
]


def walk_match(matcher: PatternMatcher, path: str) -> bool:
    """Match the way the archive walk does: parent directories first, handing their results down."""
    parent = go_clean(path[: path.rfind("/") + 1]) if "/" in path else "."
    info: MatchInfo | None = None
    if parent != ".":
        parts = parent.split("/")
        for k in range(len(parts)):
            _, info = matcher.matches_using_parent_results("/".join(parts[: k + 1]), info)
    return matcher.matches_using_parent_results(path, info)[0]


@pytest.mark.parametrize(("pattern", "path", "excluded"), SINGLE)
def test_single_pattern_table(pattern: str, path: str, excluded: bool) -> None:
    matcher = PatternMatcher([pattern])
    assert matcher.matches_or_parent_matches(path) is excluded
    assert walk_match(matcher, path) is excluded
    assert matcher.matches_using_parent_results(path)[0] is excluded


@pytest.mark.parametrize(("patterns", "path", "excluded"), MULTI)
def test_multi_pattern_table(patterns: list[str], path: str, excluded: bool) -> None:
    matcher = PatternMatcher(patterns)
    assert matcher.matches_or_parent_matches(path) is excluded
    assert walk_match(matcher, path) is excluded


@pytest.mark.parametrize(("pattern", "path", "excluded"), GLOB)
def test_glob_table(pattern: str, path: str, excluded: bool | None) -> None:
    if excluded is None:
        with pytest.raises(IgnorePatternError, match="syntax error in pattern"):
            PatternMatcher([pattern])
    else:
        assert PatternMatcher([pattern]).matches_or_parent_matches(go_clean(path)) is excluded


@pytest.mark.parametrize(("pattern", "kind", "go_regex"), COMPILE)
def test_compiles_to_dockers_own_regexp(pattern: str, kind: str, go_regex: str | None) -> None:
    (compiled,) = PatternMatcher([pattern]).patterns
    assert compiled.match_type.value == kind
    assert compiled.go_regex == go_regex


def test_lone_exclamation_mark_is_an_error() -> None:
    with pytest.raises(IgnorePatternError, match='illegal exclusion pattern: "!"'):
        PatternMatcher(["!"])


def test_empty_patterns_are_dropped_and_exceptions_flagged() -> None:
    assert len(PatternMatcher(["docs", "config", ""]).patterns) == 2
    assert PatternMatcher(["docs", "  !docs/README.md"]).exclusions
    assert PatternMatcher(["docs", "!docs/README.md  "]).exclusions
    assert not PatternMatcher(["docs"]).exclusions


def test_read_all_like_ignorefile() -> None:
    content = (
        b"test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    )
    assert read_ignore_patterns(content) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]
    assert read_ignore_patterns(b"") == []


def test_read_all_details() -> None:
    # A BOM only on the first line, CRLF endings, '#' only as the first character, paths cleaned.
    data = b"\xef\xbb\xbfa\r\n  # not a comment\r\nb/../c/./d/\n\t*.log \n"
    assert read_ignore_patterns(data) == ["a", "# not a comment", "c/d", "*.log"]
    # "!foo/../bar" is cleaned after the "!" is removed, so it stays an exception.
    assert read_ignore_patterns(b"!foo/../bar\n") == ["!bar"]
    with pytest.raises(IgnorePatternError, match="line 2 is not valid UTF-8"):
        read_ignore_patterns(b"ok\n\xff\n")
    with pytest.raises(IgnorePatternError, match="longer than 64 KiB"):
        read_ignore_patterns(b"a" * 70_000)


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        # Docker's documentation examples
        (["*/temp*"], "somedir/temporary.txt", True),
        (["*/temp*"], "somedir/temp", True),
        (["*/temp*"], "temp", False),
        (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
        (["*/*/temp*"], "somedir/temporary.txt", False),
        (["temp?"], "tempa", True),
        (["temp?"], "tempab", False),
        (["**/*.go"], "a/b/c.go", True),
        (["*.md", "!README.md"], "README.md", False),
        (["*.md", "!README.md"], "CHANGES.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
        (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
        # a pattern names a directory: everything below it goes too
        (["node_modules"], "node_modules/a/b.js", True),
        (["/build"], "build/out.o", True),
        (["build"], "src/build", False),
        # Go regexp syntax reaches the matcher through escapes and brackets
        (["file\\d"], "file7", True),
        (["file\\d"], "filed", False),
        (["[[:digit:]]x"], "5x", True),
        (["[[:digit:]]x"], "ax", False),
    ],
)
def test_docker_documentation_examples(patterns: list[str], path: str, excluded: bool) -> None:
    matcher = PatternMatcher(read_ignore_patterns("\n".join(patterns).encode()))
    assert walk_match(matcher, path) is excluded


def test_wildcards_inside_brackets_follow_dockers_regexp() -> None:
    # Docker turns "[a*]" into the Go regexp "^[a[^/]*]$": the class is {a, [, ^, /}, repeated,
    # followed by a literal "]". Odd, but it is what `docker build` does.
    matcher = PatternMatcher(["[a*]"])
    assert matcher.patterns[0].go_regex == "^[a[^/]*]$"
    assert matcher.matches_or_parent_matches("aa]")
    assert matcher.matches_or_parent_matches("]")
    assert not matcher.matches_or_parent_matches("a")


def test_unsupported_regexp_escape_is_refused() -> None:
    with pytest.raises(IgnorePatternError, match="not supported"):
        PatternMatcher(["\\pL"])


def test_excluded_directory_descent() -> None:
    assert PatternMatcher(["docs", "!docs/README.md"]).may_include_under("docs")
    assert not PatternMatcher(["docs", "!other/README.md"]).may_include_under("docs")
    assert not PatternMatcher(["docs"]).may_include_under("docs")
    # Docker's check is textual: "!**/keep" does not open an excluded directory.
    assert not PatternMatcher(["a", "!**/keep"]).may_include_under("a")


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [("", "."), ("a//b/./c/..", "a/b"), ("/../a", "/a"), ("../../a", "../../a"), ("a/..", ".")],
)
def test_go_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned
