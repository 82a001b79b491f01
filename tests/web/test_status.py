"""The status page (`/status`) in chromium against a real `daas dev`: health checks, metrics parsed from
`/metrics`, recent failures, a 503 from `/healthz` shown as data, refresh, and both widths."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.slow

PHONE = {"width": 375, "height": 800}


@pytest.fixture(scope="module")
def failed_build(dev_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    context = tmp_path_factory.mktemp("status") / "failing"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM daas-base:latest\nRUN echo nope && exit 3\n")
    request_id: str = dev_stack.submit(context)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        response = httpx.get(f"{dev_stack.api_url}/v1/builds/{request_id}", timeout=10)
        if (
            response.status_code == 200
            and response.json()["status"] == "failed"
            and response.json()["result"]
        ):
            return request_id
        time.sleep(0.5)
    pytest.fail("the failing build did not settle")


def stat(page: Page, label: str) -> Any:
    return page.locator(".stat", has=page.locator("dt", has_text=label)).locator("dd")


def test_status_page_shows_health_metrics_and_recent_failures(
    page: Page, dev_stack: Any, failed_build: str, artifacts: Path
) -> None:
    page.goto("/status")
    expect(page.get_by_role("heading", level=1, name="Status")).to_be_visible()
    expect(page.get_by_test_id("health-verdict")).to_have_text("All systems operational")
    for name in ("database", "indexer", "runner", "events"):
        expect(page.locator(f'.health-check[data-check="{name}"]')).to_contain_text("ok")
    expect(page.locator('.health-check[data-check="indexer"]')).to_contain_text("limit")

    # Metrics: the numbers the API exposes right now.
    metrics = httpx.get(f"{dev_stack.api_url}/metrics", timeout=10).text
    failed = re.search(r'^daas_builds\{status="failed"\} (\d+)', metrics, re.M)
    assert failed is not None
    expect(stat(page, "Failed")).to_have_text(failed.group(1))
    expect(stat(page, "Queue (pending builds)")).to_have_text(re.compile(r"^\d+$"))
    expect(stat(page, "HTTP requests (5xx)")).to_have_text(re.compile(r"^[\d,]+ \(\d+\)$"))
    expect(stat(page, "Runner heartbeat")).to_have_text(re.compile(r"ago$"))

    # Recent failures, with the code posted on chain, linking to the build.
    row = page.locator(".failure-row", has=page.locator(f'a[href="/builds/{failed_build}"]'))
    expect(row).to_contain_text("code 110")
    page.screenshot(path=artifacts / "status-1440.png", full_page=True)

    # It refreshes by itself (every 5 s).
    before = page.locator(".status-updated").text_content()
    expect(page.locator(".status-updated")).not_to_have_text(before or "", timeout=12_000)

    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/builds/{failed_build}$"))


def test_unhealthy_answer_is_shown_as_data(page: Page, page_errors: Any) -> None:
    """`/healthz` answers 503 with the same body when a check fails: a verdict, not an error."""
    page_errors.allow(r"status of 503")
    body = (
        '{"status":"unhealthy","checks":{'
        '"database":{"ok":true,"detail":"reachable","value":null,"threshold":null},'
        '"indexer":{"ok":false,"detail":"checkpoint 9, 300.0 s behind the chain","value":300.0,"threshold":120.0},'
        '"runner":{"ok":false,"detail":"no runner has reported","value":null,"threshold":120.0},'
        '"events":{"ok":true,"detail":"following new events","value":null,"threshold":null}}}'
    )

    def unhealthy(route: Route) -> None:
        route.fulfill(status=503, content_type="application/json", body=body)

    page.route(re.compile(r"/healthz$"), unhealthy)
    page.goto("/status")
    expect(page.get_by_test_id("health-verdict")).to_have_text("Degraded: at least one check fails")
    indexer = page.locator('.health-check[data-check="indexer"]')
    expect(indexer).to_contain_text("failing")
    expect(indexer).to_contain_text("lag 5 min 00 s (limit 2 min 00 s)")
    expect(page.locator('.health-check[data-check="runner"]')).to_contain_text(
        "no runner has reported"
    )
    expect(page.locator('.health-check[data-check="database"]')).to_contain_text("ok")
    assert page.get_by_role("alert").count() == 0


def test_status_page_when_the_api_is_unreachable(page: Page, page_errors: Any) -> None:
    page_errors.allow(r"Failed to load resource")
    page.route(re.compile(r"/(healthz|metrics)$"), lambda route: route.abort("connectionrefused"))
    page.goto("/status")
    expect(
        page.get_by_role("alert").filter(has_text="The health check could not be read")
    ).to_be_visible()
    expect(
        page.get_by_role("alert").filter(has_text="The metrics could not be read")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Try again").first).to_be_visible()


@pytest.mark.parametrize("page", [PHONE], indirect=True)
def test_status_page_at_phone_width(page: Page, failed_build: str, artifacts: Path) -> None:
    page.goto("/status")
    expect(page.get_by_test_id("health-verdict")).to_be_visible()
    expect(page.locator(".failure-row").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    page.screenshot(path=artifacts / "status-375.png", full_page=True)
