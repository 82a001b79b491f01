"""Browser tests of the dashboard: Debian's chromium driven by Playwright, against a real `daas dev`.

Fixtures:

- `web_dist`: `web/dist`, rebuilt with npm when a source is newer than the last build (CI builds it first).
- `dev_stack` (session): `daas dev` in a subprocess, as a user runs it; `.cli(...)` runs the CLI against it.
- `browser` (session): headless chromium from `/usr/bin/chromium` (Playwright never downloads one).
- `page`: a fresh context and page at `dev_stack.api_url`; 1440×900 unless parametrised indirectly with a
  viewport, e.g. `@pytest.mark.parametrize("page", [{"width": 375, "height": 800}], indirect=True)`.
  Any console error or warning, or uncaught page error, fails the test, unless `page_errors.allow(regex)`.
- `artifacts`: where screenshots go (`test-artifacts/web/`, or `$DAAS_TEST_ARTIFACTS/web`), kept after the run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.devstack import ROOT, DevStack, running_dev_stack
from tests.fixtures.environment import require

WEB = ROOT / "web"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium keeps dialling Google on a closed network.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 800}

pytestmark = pytest.mark.slow


def _newest(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The built dashboard; `npm ci` and `npm run build` only when something changed."""
    require(shutil.which("npm") is not None, "npm is not installed")
    index = WEB / "dist" / "index.html"
    sources = [*WEB.joinpath("src").rglob("*"), WEB / "index.html", WEB / "package-lock.json"]
    if not index.is_file() or _newest(sources) > index.stat().st_mtime:
        if not (WEB / "node_modules").is_dir():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
        built = subprocess.run(
            ["npm", "run", "build"], cwd=WEB, capture_output=True, text=True, check=False
        )
        assert built.returncode == 0, f"npm run build failed:\n{built.stdout}\n{built.stderr}"
    return index.parent


@pytest.fixture(scope="session")
def dev_stack(
    tmp_path_factory: pytest.TempPathFactory, base_image: str, web_dist: Path
) -> Iterator[DevStack]:
    with running_dev_stack(tmp_path_factory.mktemp("web") / "dev") as stack:
        yield stack


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        require(False, "the playwright package is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    base = Path(os.environ.get("DAAS_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    path = base / "web"
    path.mkdir(parents=True, exist_ok=True)
    return path


class PageErrors:
    """Console errors and warnings and uncaught exceptions of one page; some may be allowed by pattern."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        self._allowed.append(re.compile(pattern))

    def record(self, text: str) -> None:
        self.messages.append(text)

    @property
    def unexpected(self) -> list[str]:
        return [m for m in self.messages if not any(p.search(m) for p in self._allowed)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, browser: Any, dev_stack: DevStack, page_errors: PageErrors
) -> Iterator[Any]:
    viewport = getattr(request, "param", None) or DESKTOP
    context = browser.new_context(
        base_url=dev_stack.api_url,
        viewport=viewport,
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.on(
        "console",
        lambda message: (
            page_errors.record(f"console.{message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    tab.on("pageerror", lambda error: page_errors.record(f"pageerror: {error}"))
    try:
        yield tab
    finally:
        context.close()
    assert not page_errors.unexpected, "the page logged errors:\n" + "\n".join(
        page_errors.unexpected
    )
