"""`.dockerignore` with Docker's own semantics.

A faithful port of `moby/patternmatcher` (the matcher the Docker CLI and the Engine use) and of
`moby/patternmatcher/ignorefile.ReadAll` (how the file is read), so that a bundle holds exactly the files
`docker build` would send:

- one pattern per line; a UTF-8 BOM is dropped; lines *starting* with `#` are comments; surrounding whitespace
  is trimmed; each pattern is cleaned like Go's `filepath.Clean` and a leading `/` is dropped;
- `!pattern` is an exception that re-includes what earlier patterns excluded; the last matching pattern wins;
- `*` matches any run of characters except `/`, `?` one character except `/`, `[...]` a character class,
  `\\` escapes the next character; `**` matches any number of directories (including none);
- a pattern matches a path when it matches the path itself or any of its parent directories.

The walk that decides which files are sent (`DockerignoreWalker`) follows `moby/go-archive`'s `TarWithOptions`:
an excluded directory is not descended into unless an exception pattern starts with that directory's path.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from daas.bundle import _re2
from daas.errors import DaasError

__all__ = [
    "IgnorePatternError",
    "MatchInfo",
    "Pattern",
    "PatternMatcher",
    "go_clean",
    "read_ignore_patterns",
]

# Go's unicode.IsSpace, which strings.TrimSpace uses (Python's str.strip also strips \x1c-\x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
# bufio.Scanner's default token limit: a longer line makes `docker build` fail reading the file.
_MAX_LINE_BYTES = 64 * 1024
# Characters Docker escapes because they are regexp syntax without meaning in a glob.
_REGEX_ONLY = set(".+()|{}$")

MatchInfo = tuple[bool, ...]
"""Per-pattern results for a directory, handed down to its children (patternmatcher's `MatchInfo`)."""


class IgnorePatternError(DaasError):
    """A `.dockerignore` that Docker would refuse too (a lone `!`, a malformed pattern, unreadable text)."""


def go_trim_space(text: str) -> str:
    return text.strip(_GO_SPACE)


def go_clean(path: str) -> str:
    """Go's `path.Clean`: the shortest equivalent slash path, lexically."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def go_dir(path: str) -> str:
    """Go's `filepath.Dir` for slash paths."""
    return go_clean(path[: path.rfind("/") + 1])


def read_ignore_patterns(data: bytes) -> list[str]:
    """The patterns of a `.dockerignore` file, as `ignorefile.ReadAll` returns them."""
    patterns: list[str] = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if len(line) >= _MAX_LINE_BYTES:
            raise IgnorePatternError(f".dockerignore line {number} is longer than 64 KiB")
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        try:
            pattern = line.decode("utf-8")
        except UnicodeDecodeError:
            raise IgnorePatternError(f".dockerignore line {number} is not valid UTF-8") from None
        if pattern.startswith("#"):
            continue
        pattern = go_trim_space(pattern)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = go_trim_space(pattern[1:])
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


class _MatchType(enum.Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEXP = "regexp"


def _check_glob_syntax(pattern: str) -> None:
    """Reject what Go's `filepath.Match` rejects (Docker's `New` calls it for this purpose only)."""
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise IgnorePatternError(f"syntax error in pattern {pattern!r}: trailing backslash")
            i += 2
        elif ch == "[":
            i = _check_class(pattern, i + 1)
        else:
            i += 1


def _check_class(pattern: str, i: int) -> int:
    """`filepath.Match`'s class grammar: `[` `^`? range+ `]`, range = char | char `-` char."""
    n = len(pattern)

    def char_end(i: int) -> int:
        # Go's getEsc: a class character, possibly escaped, that must not end the pattern.
        if i >= n or pattern[i] in "-]":
            raise IgnorePatternError(
                f"syntax error in pattern {pattern!r}: malformed character class"
            )
        if pattern[i] == "\\":
            i += 1
        if i + 1 >= n:
            raise IgnorePatternError(f"syntax error in pattern {pattern!r}: unterminated class")
        return i + 1

    if i < n and pattern[i] == "^":
        i += 1
    ranges = 0
    while True:
        if i < n and pattern[i] == "]" and ranges > 0:
            return i + 1
        i = char_end(i)
        if pattern[i] == "-":
            i = char_end(i + 1)
        ranges += 1


@dataclass(frozen=True)
class Pattern:
    """One cleaned pattern; `exclusion` is true for `!pattern` exceptions."""

    cleaned: str
    exclusion: bool
    match_type: _MatchType
    go_regex: str | None
    _regex: re.Pattern[str] | None

    @classmethod
    def compile(cls, cleaned: str, *, exclusion: bool) -> Pattern:
        match_type, go_regex = _compile_go(cleaned)
        regex = None
        if go_regex is not None:
            try:
                regex = re.compile(_re2.translate(go_regex), re.ASCII)
            except (ValueError, re.error) as exc:
                raise IgnorePatternError(f"syntax error in pattern {cleaned!r}: {exc}") from None
        return cls(cleaned, exclusion, match_type, go_regex, regex)

    def match(self, path: str) -> bool:
        if self.match_type is _MatchType.EXACT:
            return path == self.cleaned
        if self.match_type is _MatchType.PREFIX:
            return path.startswith(self.cleaned[:-2])
        if self.match_type is _MatchType.SUFFIX:
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            # "**/foo" matches "foo"
            return suffix.startswith("/") and path == suffix[1:]
        assert self._regex is not None
        return self._regex.search(path) is not None


def _compile_go(pattern: str) -> tuple[_MatchType, str | None]:
    """patternmatcher's `compile`: the match type and, for regexp matches, Docker's Go regexp string."""
    out = "^"
    kind = _MatchType.EXACT
    i = 0
    step = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # "**/" is "**"
                    i += 1
                if i >= n:
                    # "**" at the end matches everything, as in .gitignore
                    if kind is _MatchType.EXACT:
                        kind = _MatchType.PREFIX
                    else:
                        out += ".*"
                        kind = _MatchType.REGEXP
                else:
                    out += "(.*/)?"  # any number of directories, even none
                    kind = _MatchType.REGEXP
                if step == 0:
                    kind = _MatchType.SUFFIX
            else:
                out += "[^/]*"
                kind = _MatchType.REGEXP
        elif ch == "?":
            out += "[^/]"
            kind = _MatchType.REGEXP
        elif ch in _REGEX_ONLY:
            out += "\\" + ch
        elif ch == "\\":
            if i < n:
                out += "\\" + pattern[i]
                i += 1
                kind = _MatchType.REGEXP
            else:
                out += "\\"
        elif ch in "[]":
            out += ch
            kind = _MatchType.REGEXP
        else:
            out += ch
        step += 1
    if kind is _MatchType.REGEXP:
        return kind, out + "$"
    return kind, None


class PatternMatcher:
    """patternmatcher's `PatternMatcher`: decides whether a slash path is excluded."""

    def __init__(self, patterns: Sequence[str]) -> None:
        compiled: list[Pattern] = []
        for raw in patterns:
            text = go_trim_space(raw)
            if not text:
                continue
            text = go_clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise IgnorePatternError('illegal exclusion pattern: "!"')
                text = text[1:]
            _check_glob_syntax(text)
            compiled.append(Pattern.compile(text, exclusion=exclusion))
        self.patterns: tuple[Pattern, ...] = tuple(compiled)
        self.exclusions = any(p.exclusion for p in compiled)

    def matches_or_parent_matches(self, path: str) -> bool:
        """True if `path` or one of its parents is excluded (and not re-included by a later exception)."""
        matched = False
        parent = go_dir(path)
        parent_dirs = parent.split("/")
        for pattern in self.patterns:
            # An inclusion cannot change an excluded path, an exception cannot change an included one.
            if pattern.exclusion != matched:
                continue
            match = pattern.match(path)
            if not match and parent != ".":
                match = any(
                    pattern.match("/".join(parent_dirs[: k + 1])) for k in range(len(parent_dirs))
                )
            if match:
                matched = not pattern.exclusion
        return matched

    def matches_using_parent_results(
        self, path: str, parent: MatchInfo | None = None
    ) -> tuple[bool, MatchInfo]:
        """The walk's matcher: uses the results of `path`'s parent directory, and returns `path`'s own."""
        if parent is not None and len(parent) != len(self.patterns):
            raise ValueError("wrong number of values in parent match info")
        matched = False
        results = [False] * len(self.patterns)
        for index, pattern in enumerate(self.patterns):
            match = bool(parent and parent[index])
            if not match:
                if pattern.exclusion != matched:
                    continue
                match = pattern.match(path)
                if not match and not parent:
                    dir_path = go_dir(path)
                    if dir_path != ".":
                        dirs = dir_path.split("/")
                        match = any(
                            pattern.match("/".join(dirs[: k + 1])) for k in range(len(dirs))
                        )
            results[index] = match
            if match:
                matched = not pattern.exclusion
        return matched, tuple(results)

    def may_include_under(self, directory: str) -> bool:
        """Whether the walk must still descend into an excluded `directory` (an exception names a path in it)."""
        if not self.exclusions:
            return False
        prefix = directory + "/"
        return any(p.exclusion and (p.cleaned + "/").startswith(prefix) for p in self.patterns)
