"""Reading the classic builder's JSON progress stream: log lines, steps, step containers, outcome.

dockerd's classic builder (the `/build` endpoint without BuildKit) answers with a stream of JSON messages:

- `{"stream": text}`: builder lines ("Step 2/3 : RUN ...", " ---> Running in <id>", " ---> <image id>",
  "Removing intermediate container <id>", "Successfully built ...") and step output. A step's stderr comes
  wrapped in ANSI red (`ESC[91m ... ESC[0m`), its stdout plain. Texts are cut wherever the step's writes were
  cut, so lines are reassembled per stream.
- `{"status": ..., "id": ..., "progress": ...}`: pulls of a base image.
- `{"aux": {"ID": "sha256:..."}}`: the id of the built image.
- `{"error": message, "errorDetail": {"code": exit_code, "message": ...}}`: the build failed; `code` is the
  failing RUN step's exit status (absent for other failures).

Step output and builder lines share one channel, so a step can print text that looks like a builder line.
Nothing here trusts such text for anything but labels and messages: the executor checks the engine itself before
acting on a container id seen here (see `daas.build.docker`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from daas.build.ports import LogStream

__all__ = ["MAX_LINE_CHARS", "BuildStreamParser"]

# A longer line is cut into pieces of this size: one step printing without newlines must not grow memory.
MAX_LINE_CHARS = 16 * 1024

_STDERR_START = "\x1b[91m"
_STDERR_END = "\x1b[0m"
_STEP = re.compile(r"^Step \d+/\d+ : ")
_RUNNING_IN = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$")
_SYSTEM = re.compile(
    r"^(?: ---> |Removing intermediate container |Successfully built |Successfully tagged "
    r"|\[Warning\] )"
)


class BuildStreamParser:
    """Turns build messages into `(stream, line)` pairs and remembers what the outcome needs."""

    def __init__(self) -> None:
        self._pending: dict[LogStream, str] = {"stdout": "", "stderr": "", "system": ""}
        # The "\n" message that follows every "Step N/M : ..." header is not a line of its own.
        self._swallow_newline = False
        self.step: str | None = None
        self.steps_seen = 0
        self.containers: list[str] = []
        self.image_id: str | None = None
        self.error: str | None = None
        self.exit_code: int | None = None

    def feed(self, message: Mapping[str, Any]) -> list[tuple[LogStream, str]]:
        """The complete lines this message finishes."""
        out: list[tuple[LogStream, str]] = []
        text = message.get("stream")
        if isinstance(text, str):
            self._feed_text(text, out)
        status = message.get("status")
        if isinstance(status, str):
            ident = message.get("id")
            progress = message.get("progress")
            parts = [p for p in (ident, status, progress) if isinstance(p, str) and p]
            out.append(("system", _clip(" ".join(parts))))
        aux = message.get("aux")
        if isinstance(aux, Mapping) and isinstance(aux.get("ID"), str):
            self.image_id = aux["ID"]
        error = message.get("error")
        if error is not None:
            detail = message.get("errorDetail")
            self.error = str(error).strip() or "the build failed without a message"
            if isinstance(detail, Mapping) and isinstance(detail.get("code"), int):
                self.exit_code = detail["code"]
            self._flush_into(out)
        return out

    def finish(self) -> list[tuple[LogStream, str]]:
        """Lines still pending at the end of the stream (output without a final newline)."""
        out: list[tuple[LogStream, str]] = []
        self._flush_into(out)
        return out

    # --- internals -------------------------------------------------------------------------------------------

    def _feed_text(self, text: str, out: list[tuple[LogStream, str]]) -> None:
        if self._swallow_newline:
            self._swallow_newline = False
            if text == "\n":
                return
        if text.startswith(_STDERR_START):
            body = text.removeprefix(_STDERR_START).replace(_STDERR_END, "")
            self._append("stderr", body, out)
            return
        if _STEP.match(text):
            # A step header: always a whole message without its newline.
            self._flush_into(out)
            header = text.rstrip("\n")
            self.step = header
            self.steps_seen += 1
            out.append(("system", _clip(header)))
            self._swallow_newline = not text.endswith("\n")
            return
        if _SYSTEM.match(text) and text.endswith("\n"):
            # Builder lines come only between steps: whatever a step left unterminated is complete now.
            self._flush_into(out)
            for line in text.rstrip("\n").split("\n"):
                line = line.removesuffix("\r")
                if found := _RUNNING_IN.match(line):
                    self.containers.append(found.group(1))
                out.append(("system", _clip(line)))
            return
        self._append("stdout", text, out)

    def _append(self, stream: LogStream, text: str, out: list[tuple[LogStream, str]]) -> None:
        buffer = self._pending[stream] + text
        *complete, rest = buffer.split("\n")
        for line in complete:
            out.extend((stream, piece) for piece in _pieces(line.removesuffix("\r")))
        while len(rest) > MAX_LINE_CHARS:
            out.append((stream, rest[:MAX_LINE_CHARS]))
            rest = rest[MAX_LINE_CHARS:]
        self._pending[stream] = rest

    def _flush_into(self, out: list[tuple[LogStream, str]]) -> None:
        for stream in ("stdout", "stderr", "system"):
            rest = self._pending[stream]
            if rest:
                out.append((stream, rest.removesuffix("\r")))
                self._pending[stream] = ""


def _pieces(line: str) -> list[str]:
    if len(line) <= MAX_LINE_CHARS:
        return [line]
    return [line[i : i + MAX_LINE_CHARS] for i in range(0, len(line), MAX_LINE_CHARS)]


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS]
