"""The classic builder's progress stream, parsed without an engine: lines, streams, steps, outcome."""

from __future__ import annotations

import pytest

from daas.build import check_platform, normalize_platform
from daas.build.stream import MAX_LINE_CHARS, BuildStreamParser
from daas.errors import BuildFailureCode, RequesterFault


def feed(parser: BuildStreamParser, *texts: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for text in texts:
        out.extend(parser.feed({"stream": text}))
    return out


def test_builder_lines_step_output_and_stderr() -> None:
    parser = BuildStreamParser()
    lines = feed(
        parser,
        "Step 2/3 : RUN echo out; echo err >&2",
        "\n",
        " ---> Running in 488e94868c94\n",
        "\x1b[91merr\n\x1b[0m",
        "out\n",
        "Removing intermediate container 488e94868c94\n",
        " ---> a8b048c0cf26\n",
    )
    assert lines == [
        ("system", "Step 2/3 : RUN echo out; echo err >&2"),
        ("system", " ---> Running in 488e94868c94"),
        ("stderr", "err"),
        ("stdout", "out"),
        ("system", "Removing intermediate container 488e94868c94"),
        ("system", " ---> a8b048c0cf26"),
    ]
    assert parser.step == "Step 2/3 : RUN echo out; echo err >&2"
    assert parser.containers == ["488e94868c94"]


def test_partial_lines_are_joined_and_flushed() -> None:
    parser = BuildStreamParser()
    assert feed(parser, "par", "tial", " end\nnext") == [("stdout", "partial end")]
    # A builder line ends the step: what it left unterminated is a line of its own.
    assert feed(parser, "Removing intermediate container 0123456789ab\n") == [
        ("stdout", "next"),
        ("system", "Removing intermediate container 0123456789ab"),
    ]
    assert feed(parser, "crlf\r\n") == [("stdout", "crlf")]
    assert feed(parser, "tail") == []
    assert parser.finish() == [("stdout", "tail")]


def test_long_lines_are_cut() -> None:
    parser = BuildStreamParser()
    lines = feed(parser, "x" * (MAX_LINE_CHARS * 2 + 5))
    assert lines == [("stdout", "x" * MAX_LINE_CHARS)] * 2
    assert parser.finish() == [("stdout", "xxxxx")]


def test_error_with_exit_code_and_aux_id() -> None:
    parser = BuildStreamParser()
    parser.feed({"aux": {"ID": "sha256:" + "a" * 64}})
    assert parser.image_id == "sha256:" + "a" * 64
    feed(parser, "half a line")
    lines = parser.feed(
        {
            "errorDetail": {"code": 3, "message": "returned a non-zero code: 3"},
            "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
        }
    )
    assert lines == [("stdout", "half a line")]
    assert parser.exit_code == 3
    assert parser.error == "The command '/bin/sh -c exit 3' returned a non-zero code: 3"


def test_status_messages_are_system_lines() -> None:
    parser = BuildStreamParser()
    lines = parser.feed({"status": "Downloading", "id": "abc", "progress": "[=>  ]"})
    assert lines == [("system", "abc Downloading [=>  ]")]


def test_platforms() -> None:
    assert normalize_platform("Linux/X86_64") == "linux/amd64"
    assert normalize_platform("linux/aarch64/v8") == "linux/arm64"
    assert check_platform("linux/amd64", "linux/x86_64") == "linux/amd64"
    for bad in ["linux", "linux//", "a/b/c/d", "linux/arm64", ""]:
        with pytest.raises(RequesterFault) as caught:
            check_platform(bad, "linux/amd64")
        assert caught.value.code is BuildFailureCode.UNSUPPORTED_PLATFORM
