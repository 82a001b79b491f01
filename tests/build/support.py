"""Helpers shared by the build and image tests: contexts on disk, a log recorder, clean-up, a loopback listener."""

from __future__ import annotations

import contextlib
import http.server
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from daas.build.ports import LogStream

_RUNNING_IN = re.compile(r"^ ---> Running in ([0-9a-f]{12})$")
_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12})$")


def write_context(root: Path, files: Mapping[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


class LogRecorder:
    """An `on_log_line` that keeps every line with the time it arrived."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, LogStream, str]] = []

    async def __call__(self, stream: LogStream, text: str) -> None:
        self.lines.append((time.monotonic(), stream, text))

    def texts(self, stream: LogStream | None = None) -> list[str]:
        return [text for _, s, text in self.lines if stream is None or s == stream]

    def arrival(self, text: str) -> float:
        return next(t for t, _, line in self.lines if line == text)

    @property
    def containers(self) -> list[str]:
        return [m.group(1) for t in self.texts("system") if (m := _RUNNING_IN.match(t))]

    @property
    def images(self) -> list[str]:
        return [m.group(1) for t in self.texts("system") if (m := _IMAGE.match(t))]


def container_exists(client: docker.DockerClient, container_id: str) -> bool:
    try:
        client.api.inspect_container(container_id)
    except NotFound:
        return False
    return True


def remove_untagged(client: docker.DockerClient, image_ids: list[str]) -> None:
    """Remove images a test's builds left behind (intermediate images of failed builds), newest first."""
    for image_id in reversed(image_ids):
        with contextlib.suppress(NotFound, APIError):
            if not client.api.inspect_image(image_id).get("RepoTags"):
                client.api.remove_image(image_id)


class Listener:
    """An HTTP server on 127.0.0.1 that records the requests it answers."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = b"reached\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
