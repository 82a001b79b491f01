"""The build view (`/builds/{id}`) and the builds list (`/builds`) in chromium, against a real `daas dev`.

Builds are submitted with the CLI (`daas submit --detach`), as a user would, and watched in the page: live log
lines before the end, the steps, the result's links, the Kubernetes manifest and `docker pull` copied, the
server-side verification; a failing build with its reason; a dropped event stream resumed with every log line
exactly once; the list's filters (in the URL) and pages; keyboard use; phone and desktop widths.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.slow

PHONE = {"width": 375, "height": 800}
BUILD_TIMEOUT_MS = 180_000
TICKS = 40


def slow_context(tmp_path: Path, name: str, ticks: int = TICKS, delay: float = 0.25) -> Path:
    """A build that prints `tick 1` … `tick N` over a few seconds (so the page sees it running)."""
    path = tmp_path / name
    path.mkdir()
    (path / "Dockerfile").write_text(
        "FROM daas-base:latest\n"
        f'RUN for i in $(seq 1 {ticks}); do echo "tick $i"; sleep {delay}; done\n'
        'CMD ["sh", "-c", "echo ok"]\n'
    )
    return path


def failing_context(tmp_path: Path) -> Path:
    path = tmp_path / "failing"
    path.mkdir()
    (path / "Dockerfile").write_text(
        "FROM daas-base:latest\n"
        'RUN echo "about to fail" && for i in 1 2 3; do echo "line $i"; done && exit 3\n'
    )
    return path


def api_build(stack: Any, request_id: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.api_url}/v1/builds/{request_id}", timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def api_log(stack: Any, request_id: str) -> list[str]:
    response = httpx.get(f"{stack.api_url}/v1/builds/{request_id}/logs", timeout=10)
    response.raise_for_status()
    return response.text.splitlines()


def wait_settled(stack: Any, request_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = httpx.get(f"{stack.api_url}/v1/builds/{request_id}", timeout=10)
        if response.status_code != 404:  # 404: the indexer has not seen the request yet
            response.raise_for_status()
            build: dict[str, Any] = response.json()
            if build["status"] != "pending" and build["result"] is not None:
                return build
        time.sleep(0.5)
    pytest.fail(f"build {request_id} did not settle in {timeout_s} s")


def log_lines(page: Page) -> list[tuple[int, str]]:
    """Every log line in the page, as (number shown, text)."""
    rows: list[list[Any]] = page.eval_on_selector_all(
        ".log-line", "els => els.map(e => [Number(e.dataset.no), e.textContent])"
    )
    return [(int(no), str(text)) for no, text in rows]


def wait_stream_ended(page: Page) -> None:
    """The page's event stream is over: the server has sent the runner's last lines after the result."""
    expect(page.locator("article.build")).to_have_attribute("data-stream", "ended", timeout=30_000)


def assert_every_line_once(page: Page, expected: list[str]) -> None:
    lines = log_lines(page)
    numbers = [no for no, _ in lines]
    assert numbers == list(range(1, len(expected) + 1)), (
        "log lines missing, repeated or out of order"
    )
    assert [text for _, text in lines] == expected


def status_badge(page: Page) -> Any:
    return page.locator(".build-head .status-badge")


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"the page scrolls sideways: {width} > {viewport['width']}"


@pytest.fixture(scope="module")
def finished(dev_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A succeeded and a failed build, settled, for the tests that only look at results."""
    tmp = tmp_path_factory.mktemp("finished")
    ok = dev_stack.submit(slow_context(tmp, "quick", ticks=3, delay=0))
    bad = dev_stack.submit(failing_context(tmp))
    wait_settled(dev_stack, ok)
    wait_settled(dev_stack, bad)
    return {"succeeded": ok, "failed": bad}


def test_live_build_streams_log_then_shows_result_manifest_pull_and_verification(
    page: Page, dev_stack: Any, tmp_path: Path, artifacts: Path
) -> None:
    request_id = dev_stack.submit(slow_context(tmp_path, "live"))
    page.goto(f"/builds/{request_id}")
    expect(page.get_by_role("heading", level=1, name="Build")).to_be_visible()

    # A log line arrives while the build is still running, and the progress moves with the steps.
    expect(page.locator(".log-line", has_text=re.compile(r"^tick 3$"))).to_be_attached(
        timeout=60_000
    )
    assert status_badge(page).get_attribute("data-status") == "pending"
    expect(page.locator('.stage[data-stage="building"]')).to_have_attribute("data-state", "running")
    progress = float(page.locator("progress.build-progress").evaluate("e => e.value"))
    assert 1 <= progress < 6
    page.screenshot(path=artifacts / "build-running-1440.png", full_page=True)

    expect(status_badge(page)).to_have_attribute(
        "data-status", "succeeded", timeout=BUILD_TIMEOUT_MS
    )
    expect(page.get_by_test_id("live-status")).to_have_text("Build succeeded.")
    for stage in ("fetching", "building", "exporting", "attesting", "submitting", "final"):
        expect(page.locator(f'.stage[data-stage="{stage}"]')).to_have_attribute(
            "data-state", "done"
        )
    expect(page.locator("progress.build-progress")).to_have_js_property("value", 6)

    build = api_build(dev_stack, request_id)
    result = build["result"]
    wait_stream_ended(page)
    assert_every_line_once(page, api_log(dev_stack, request_id))
    ticks = [text for _, text in log_lines(page) if text.startswith("tick ")]
    assert Counter(ticks) == Counter(f"tick {i}" for i in range(1, TICKS + 1))

    # Links: the explorer for both transactions, Walrus for bundle, image index and log.
    links = page.locator(".result")
    expect(links.get_by_role("link", name=build["request_tx_digest"])).to_have_attribute(
        "href", build["explorer_request_tx_url"]
    )
    expect(links.get_by_role("link", name=result["tx_digest"])).to_have_attribute(
        "href", result["explorer_tx_url"]
    )
    for blob_id in (
        build["spec"]["source_blob_id"],
        result["image_index_blob_id"],
        result["log_blob_id"],
    ):
        href = links.get_by_role("link", name=blob_id).get_attribute("href")
        assert href == f"{dev_stack.walrus_url}/v1/blobs/{blob_id}"
        assert httpx.get(href, timeout=10).status_code == 200

    # `docker pull` by digest through the API's registry, copied.
    pull = f"docker pull {result['image_reference']}"
    assert result["image_reference"].endswith(f"/daas/{request_id}@{result['image_digest']}")
    expect(page.get_by_test_id("docker-pull")).to_have_text(pull)
    page.get_by_role("button", name="Copy docker pull command").click()
    expect(page.locator(".command .copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == pull

    # The Kubernetes manifest the API serves, copied whole.
    manifest = httpx.get(f"{dev_stack.api_url}{build['links']['kubernetes']}", timeout=10).text
    expect(page.get_by_test_id("kubernetes-manifest")).to_contain_text("kind: Deployment")
    assert page.get_by_test_id("kubernetes-manifest").text_content() == manifest
    page.get_by_role("button", name="Copy Kubernetes manifest").click()
    expect(page.locator(".subhead .copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == manifest

    # The server-side verification passes, check by check; "Verify again" runs it again.
    verdict = page.locator(".verdict[data-ok]")
    expect(verdict).to_have_attribute("data-ok", "true", timeout=60_000)
    checks = page.locator(".check")
    assert checks.count() >= 5
    assert page.locator('.check[data-result="fail"]').count() == 0
    expect(page.locator('.check[data-check="result.signature"]')).to_have_attribute(
        "data-result", "pass"
    )
    page.get_by_role("button", name="Verify again").click()
    expect(verdict).to_have_attribute("data-ok", "true", timeout=60_000)
    expect(page.get_by_role("button", name="Verify again")).to_be_enabled()
    page.screenshot(path=artifacts / "build-succeeded-1440.png", full_page=True)
    no_horizontal_scroll(page)


def test_failing_build_shows_failed_with_its_reason(
    page: Page, dev_stack: Any, finished: dict[str, str], artifacts: Path
) -> None:
    request_id = finished["failed"]
    page.goto(f"/builds/{request_id}")
    expect(status_badge(page)).to_have_attribute("data-status", "failed")
    expect(status_badge(page)).to_have_text("Failed")
    expect(page.get_by_role("heading", name="Why it failed")).to_be_visible()
    expect(page.get_by_test_id("failure-code")).to_contain_text("110")
    expect(page.get_by_test_id("failure-code")).to_contain_text("BUILD_STEP_FAILED")
    expect(page.get_by_test_id("failure-reason")).to_contain_text("exit code 3")
    expect(page.locator('.stage[data-stage="building"]')).to_have_attribute("data-state", "failed")
    expect(page.locator('.stage[data-stage="final"]')).to_have_attribute("data-state", "failed")
    expect(page.get_by_test_id("live-status")).to_have_text("Build failed while building.")
    expect(page.locator(".log-line", has_text=re.compile(r"^about to fail$"))).to_have_count(1)
    # A failure has a log on Walrus, but no image to pull.
    assert page.get_by_test_id("docker-pull").count() == 0
    assert page.get_by_test_id("kubernetes-manifest").count() == 0
    build = api_build(dev_stack, request_id)
    expect(page.get_by_role("link", name=build["result"]["log_blob_id"])).to_be_visible()
    page.screenshot(path=artifacts / "build-failed-1440.png", full_page=True)


@pytest.mark.parametrize("page", [PHONE], indirect=True)
def test_build_view_at_phone_width(page: Page, finished: dict[str, str], artifacts: Path) -> None:
    for status, request_id in finished.items():
        page.goto(f"/builds/{request_id}")
        expect(status_badge(page)).to_have_attribute("data-status", status)
        if status == "succeeded":
            expect(page.locator(".verdict[data-ok]")).to_have_attribute(
                "data-ok", "true", timeout=60_000
            )
        no_horizontal_scroll(page)
        page.screenshot(path=artifacts / f"build-{status}-375.png", full_page=True)


@pytest.mark.parametrize("refuse_reconnect", [False, True], ids=["reconnect", "reopen"])
def test_event_stream_resumes_after_a_dropped_connection_without_loss_or_repeat(
    page: Page, dev_stack: Any, tmp_path: Path, page_errors: Any, refuse_reconnect: bool
) -> None:
    """The first stream is cut after a few events; EventSource reconnects by itself (Last-Event-ID).
    `reopen`: that reconnection is refused too, EventSource gives up, and the page opens a new stream with
    `?after=<last id>`."""
    page_errors.allow(r"status of 503")
    request_id = dev_stack.submit(slow_context(tmp_path, "resume"))
    url = f"{dev_stack.api_url}/v1/builds/{request_id}/events"

    # The real stream's first events, up to the second log batch, exactly as the server sent them.
    head: list[str] = []
    last_id = 0
    logs = 0
    with httpx.stream("GET", url, timeout=60) as response:
        block: list[str] = []
        for line in response.iter_lines():
            if line:
                block.append(line)
                continue
            if any(b.startswith("id:") for b in block):
                head.append("\n".join(block))
                last_id = int(next(b for b in block if b.startswith("id:"))[3:])
                logs += any(b == "event: log" for b in block)
            block = []
            if logs >= 2:
                break
    assert last_id > 0

    seen: list[dict[str, Any]] = []

    def handle(route: Route) -> None:
        request = route.request
        seen.append({"url": request.url, "headers": request.all_headers()})
        if len(seen) == 1:  # cut after the first events
            route.fulfill(
                status=200,
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
                body="retry: 200\n\n" + "\n\n".join(head) + "\n\n",
            )
        elif len(seen) == 2 and refuse_reconnect:  # EventSource closes on an HTTP error
            route.fulfill(status=503, body="")
        else:
            route.continue_()

    page.route(re.compile(r"/v1/builds/0x[0-9a-f]+/events"), handle)
    page.goto(f"/builds/{request_id}")
    expect(status_badge(page)).to_have_attribute(
        "data-status", "succeeded", timeout=BUILD_TIMEOUT_MS
    )
    wait_stream_ended(page)
    assert_every_line_once(page, api_log(dev_stack, request_id))
    # EventSource's own reconnection carries Last-Event-ID (interception does not always show it).
    assert seen[1]["headers"].get("last-event-id", str(last_id)) == str(last_id), seen[1]
    if refuse_reconnect:
        # after EventSource gave up, the page opened a new stream after the last event it had
        assert any(f"after={last_id}" in s["url"] for s in seen[2:]), [s["url"] for s in seen]
    # No event twice: every step shown once, in order.
    states = page.eval_on_selector_all(".stage", "els => els.map(e => e.dataset.state)")
    assert states == ["done"] * 6


def test_keyboard_navigation_on_the_build_view(page: Page, finished: dict[str, str]) -> None:
    page.goto(f"/builds/{finished['succeeded']}")
    expect(page.locator(".verdict[data-ok]")).to_have_attribute("data-ok", "true", timeout=60_000)
    assert page.locator("h1").count() == 1
    headings = page.locator("h2").all_text_contents()
    for name in ("Progress", "Result", "Verification", "Log", "Specification"):
        assert name in headings

    reached: list[str] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        info = page.evaluate(
            """() => {
                const e = document.activeElement;
                const style = getComputedStyle(e);
                return {
                    tag: e.tagName.toLowerCase(),
                    name: e.getAttribute('aria-label') || e.textContent.trim().slice(0, 40),
                    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
                };
            }"""
        )
        if info["tag"] == "body":
            break
        assert info["outline"], f"no visible focus on {info}"
        reached.append(info["name"])
    for name in (
        "Skip to content",
        "Copy docker pull command",
        "Copy Kubernetes manifest",
        "Verify again",
    ):
        assert name in reached, f"{name!r} is not reachable with Tab: {reached}"
    assert any(name.startswith("Build log") for name in reached)

    # Enter on a focused copy button copies and says so.
    page.get_by_role("button", name="Copy docker pull command").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".command .copy-status")).to_have_text("Copied")
    # The log box scrolls with the keyboard.
    log = page.get_by_role("region", name=re.compile(r"^Build log"))
    log.focus()
    page.keyboard.press("Home")
    assert log.evaluate("e => e.scrollTop") == 0


def test_builds_list_filters_in_the_url_and_pages(
    page: Page, dev_stack: Any, finished: dict[str, str], artifacts: Path
) -> None:
    everyone = httpx.get(f"{dev_stack.api_url}/v1/builds?limit=200", timeout=10).json()["items"]
    assert len(everyone) >= 2

    page.goto("/builds")
    expect(page.get_by_role("heading", level=1, name="Builds")).to_be_visible()
    rows = page.locator(".build-row")
    expect(rows).to_have_count(min(len(everyone), 20))
    first = rows.first
    assert first.get_attribute("data-id") == everyone[0]["request_id"]

    # Status filter: the select writes the URL; the URL drives the list.
    page.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"/builds\?status=failed$"))
    expect(rows.first).to_have_attribute("data-status", "failed")
    for status in rows.evaluate_all("els => els.map(e => e.dataset.status)"):
        assert status == "failed"
    assert finished["failed"] in rows.evaluate_all("els => els.map(e => e.dataset.id)")
    page.reload()
    expect(page.get_by_label("Status")).to_have_value("failed")

    # "My builds" by URL (the wallet's address), and someone else's: the empty state.
    page.goto(f"/builds?requester={dev_stack.user_address}")
    expect(rows).to_have_count(min(len(everyone), 20))
    expect(page.get_by_text("Requested by")).to_be_visible()
    page.goto("/builds?requester=0x1")
    expect(page.get_by_text("No builds match these filters.")).to_be_visible()
    page.get_by_role("link", name="Show all builds").click()
    expect(page).to_have_url(re.compile(r"/builds$"))

    # Keyset pages: one at a time, no row twice, in the API's order.
    page.goto("/builds?limit=1")
    expect(rows).to_have_count(1)
    for n in range(2, len(everyone) + 1):
        page.get_by_role("button", name="Load more").click()
        expect(rows).to_have_count(n)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    ids = rows.evaluate_all("els => els.map(e => e.dataset.id)")
    assert ids == [b["request_id"] for b in everyone]

    rows.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/builds/{everyone[0]['request_id']}$"))
    expect(status_badge(page)).to_be_visible()
    page.goto("/builds")
    page.screenshot(path=artifacts / "builds-1440.png", full_page=True)


@pytest.mark.parametrize("page", [PHONE], indirect=True)
def test_builds_list_at_phone_width(page: Page, finished: dict[str, str], artifacts: Path) -> None:
    page.goto("/builds")
    expect(page.locator(".build-row").first).to_be_visible()
    no_horizontal_scroll(page)
    link = page.locator(".build-link").first
    assert link.get_attribute("title", timeout=5000) == link.locator(".build-row-id").text_content()
    page.screenshot(path=artifacts / "builds-375.png", full_page=True)


def test_thousands_of_lines_and_follow_stops_when_scrolled_up(
    page: Page, dev_stack: Any, tmp_path: Path
) -> None:
    """3,000 lines at once, then a slow tail: all shown; scrolling up stops following, the button resumes."""
    context = tmp_path / "chatty"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM daas-base:latest\n"
        'RUN seq 1 3000 && for i in $(seq 1 30); do echo "tick $i"; sleep 0.25; done\n'
    )
    request_id = dev_stack.submit(context)
    page.goto(f"/builds/{request_id}")
    log = page.get_by_role("region", name=re.compile(r"^Build log"))
    expect(page.locator(".log-line", has_text=re.compile(r"^3000$"))).to_be_attached(timeout=60_000)
    expect(page.locator(".log-line", has_text=re.compile(r"^tick 2$"))).to_be_attached()
    assert status_badge(page).get_attribute("data-status") == "pending"

    def distance_from_bottom() -> float:
        return float(log.evaluate("e => e.scrollHeight - e.scrollTop - e.clientHeight"))

    # Following: the box stays at the bottom as lines arrive.
    expect(page.locator(".log-line", has_text=re.compile(r"^tick 5$"))).to_be_attached()
    page.wait_for_timeout(300)
    assert distance_from_bottom() < 40

    # Scrolled up: it stays put while lines keep arriving, and offers to follow again.
    log.evaluate("e => { e.scrollTop = 1000; }")
    follow = page.get_by_role("button", name=re.compile(r"^Follow the log"))
    expect(follow).to_be_visible()
    expect(page.locator(".log-line", has_text=re.compile(r"^tick 12$"))).to_be_attached()
    assert log.evaluate("e => e.scrollTop") == 1000
    expect(follow).to_have_text(re.compile(r"\(\d+ new lines?\)"))
    follow.click()
    expect(follow).to_have_count(0)
    page.wait_for_timeout(300)
    assert distance_from_bottom() < 40

    expect(status_badge(page)).to_have_attribute(
        "data-status", "succeeded", timeout=BUILD_TIMEOUT_MS
    )
    wait_stream_ended(page)
    assert_every_line_once(page, api_log(dev_stack, request_id))
    assert len(log_lines(page)) > 3000
