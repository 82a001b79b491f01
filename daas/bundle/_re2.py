"""Translate the Go (RE2) regular expressions that Docker builds from `.dockerignore` patterns into Python's `re`.

Docker's pattern matcher (`moby/patternmatcher`) turns a pattern into a Go regular expression string and compiles it
with `regexp.Compile`, so some pattern text reaches the RE2 parser: bracket expressions, backslash escapes such as
`\\d` or `\\x41`, and the odd results of wildcards inside brackets (`[a*]` becomes `[a[^/]*]`). Python's `re` reads
some of that syntax differently (nested `[`, `\\s`, `$`, set-operation warnings), so instead of handing the string to
`re` we parse it as RE2 would and emit an unambiguous Python expression: every character class becomes an explicit
list of code point ranges, every literal is escaped.

Only the RE2 syntax that Docker can produce from a pattern is accepted; `\\p{...}` Unicode classes (valid RE2 that
Python's `re` cannot express) and anything RE2 itself rejects raise `ValueError`.
"""

from __future__ import annotations

import re

__all__ = ["translate"]

_MAX_RUNE = 0x10FFFF
Ranges = list[tuple[int, int]]

# RE2's Perl classes are ASCII-only, unlike Python's (Unicode-aware) \d \s \w.
_PERL_CLASSES: dict[str, Ranges] = {
    "d": [(0x30, 0x39)],
    "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
}

_POSIX_CLASSES: dict[str, Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}

_CONTROL_ESCAPES = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_ASSERTIONS = {"A": r"\A", "z": r"\Z", "b": r"\b", "B": r"\B"}


def _merge(ranges: Ranges) -> Ranges:
    merged: Ranges = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _negate(ranges: Ranges) -> Ranges:
    result: Ranges = []
    next_lo = 0
    for lo, hi in _merge(ranges):
        if lo > next_lo:
            result.append((next_lo, lo - 1))
        next_lo = hi + 1
    if next_lo <= _MAX_RUNE:
        result.append((next_lo, _MAX_RUNE))
    return result


def _emit_class(ranges: Ranges) -> str:
    merged = _merge(ranges)
    if not merged:
        return "(?!)"  # an empty set matches nothing
    parts = []
    for lo, hi in merged:
        parts.append(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}")
    return "[" + "".join(parts) + "]"


def _is_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _parse_escape(src: str, i: int) -> tuple[int, int]:
    """RE2's parseEscape: `src[i]` is the backslash; returns (code point, next index)."""
    if i + 1 >= len(src):
        raise ValueError("trailing backslash at end of expression")
    ch = src[i + 1]
    i += 2
    if ch in "1234567" and (i >= len(src) or src[i] not in "01234567"):
        raise ValueError(f"invalid escape \\{ch} (backreferences are not supported)")
    if ch in "01234567":
        value = int(ch)
        for _ in range(2):
            if i < len(src) and src[i] in "01234567":
                value = value * 8 + int(src[i])
                i += 1
            else:
                break
        return value, i
    if ch == "x":
        if i < len(src) and src[i] == "{":
            end = src.find("}", i)
            digits = src[i + 1 : end] if end >= 0 else ""
            if (
                not digits
                or not re.fullmatch(r"[0-9A-Fa-f]+", digits)
                or int(digits, 16) > _MAX_RUNE
            ):
                raise ValueError("invalid escape \\x{...}")
            return int(digits, 16), end + 1
        digits = src[i : i + 2]
        if len(digits) != 2 or not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
            raise ValueError("invalid escape \\x")
        return int(digits, 16), i + 2
    if ch in _CONTROL_ESCAPES:
        return _CONTROL_ESCAPES[ch], i
    if ch.isascii() and not _is_alnum(ch):
        return ord(ch), i  # escaped punctuation is itself
    raise ValueError(f"invalid escape \\{ch}")


def _perl_class(ch: str) -> Ranges:
    ranges = _PERL_CLASSES[ch.lower()]
    return _negate(ranges) if ch.isupper() else list(ranges)


def _parse_class(src: str, i: int) -> tuple[Ranges, int]:
    """RE2's parseClass in Perl mode: `src[i]` is the opening bracket; returns (ranges, next index)."""
    i += 1
    negated = i < len(src) and src[i] == "^"
    if negated:
        i += 1
    ranges: Ranges = []
    first = True  # a ']' right after '[' or '[^' is a literal
    while True:
        if i >= len(src):
            raise ValueError("missing closing ]")
        if src[i] == "]" and not first:
            i += 1
            break
        first = False
        if src.startswith("[:", i):
            end = src.find(":]", i + 2)
            if end >= 0:
                name = src[i + 2 : end]
                negate_named = name.startswith("^")
                named = _POSIX_CLASSES.get(name.removeprefix("^"))
                if named is None:
                    raise ValueError(f"invalid character class [:{name}:]")
                ranges.extend(_negate(named) if negate_named else named)
                i = end + 2
                continue
        if src[i] == "\\" and i + 1 < len(src):
            if src[i + 1] in "dDsSwW":
                ranges.extend(_perl_class(src[i + 1]))
                i += 2
                continue
            if src[i + 1] in "pP":
                raise ValueError("Unicode classes (\\p, \\P) are not supported")
        lo, i = _class_char(src, i)
        hi = lo
        if i + 1 < len(src) and src[i] == "-" and src[i + 1] != "]":
            hi, i = _class_char(src, i + 1)
            if hi < lo:
                raise ValueError("invalid character class range")
        ranges.append((lo, hi))
    return (_negate(ranges) if negated else ranges), i


def _class_char(src: str, i: int) -> tuple[int, int]:
    if src[i] == "\\":
        return _parse_escape(src, i)
    return ord(src[i]), i + 1


def translate(go_regex: str) -> str:
    """Return a Python `re` expression (compile it with `re.ASCII`) equivalent to RE2's reading of `go_regex`."""
    out: list[str] = []
    depth = 0
    i = 0
    n = len(go_regex)
    while i < n:
        ch = go_regex[i]
        if ch == "[":
            ranges, i = _parse_class(go_regex, i)
            out.append(_emit_class(ranges))
            continue
        if ch == "\\":
            nxt = go_regex[i + 1] if i + 1 < n else ""
            if nxt in _ASSERTIONS:
                out.append(_ASSERTIONS[nxt])
                i += 2
            elif nxt == "Q":
                end = go_regex.find("\\E", i + 2)
                literal = go_regex[i + 2 :] if end < 0 else go_regex[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
            elif nxt and nxt in "dDsSwW":
                out.append(_emit_class(_perl_class(nxt)))
                i += 2
            elif nxt and nxt in "pP":
                raise ValueError("Unicode classes (\\p, \\P) are not supported")
            elif nxt == "C":
                raise ValueError("invalid escape \\C")
            else:
                code, i = _parse_escape(go_regex, i)
                out.append(_emit_class([(code, code)]))
            continue
        i += 1
        if ch == "^":
            out.append(r"\A")  # RE2 OneLine: ^ and $ anchor the whole text
        elif ch == "$":
            out.append(r"\Z")
        elif ch == ".":
            out.append(r"[^\n]")
        elif ch == "(":
            depth += 1
            out.append("(?:")
        elif ch == ")":
            if depth == 0:
                raise ValueError("unexpected )")
            depth -= 1
            out.append(")")
        elif ch in "*?+|":
            out.append(ch)
        else:
            out.append(re.escape(ch))
    if depth:
        raise ValueError("missing closing )")
    return "".join(out)
