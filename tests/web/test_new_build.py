"""The New build page in a real browser against `daas dev`: the dev wallet, packing, Walrus, prepare, sign, execute.

Every test starts from a fresh browser context, so a fresh DaaS Dev Wallet key (unfunded until "Get dev SUI").
Screenshots of each step at 375 px and 1440 px go to the `artifacts` directory.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from daas.bundle.pack import pack_directory

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"
PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1440, "height": 900}
BUILD_URL = re.compile(r"/builds/0x[0-9a-f]{64}$")

pytestmark = pytest.mark.slow


# --- helpers ---------------------------------------------------------------------------------------------------


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _shot(page: Any, artifacts: Path, name: str) -> None:
    width = page.viewport_size["width"]
    page.screenshot(path=str(artifacts / f"new-build-{width}-{name}.png"), full_page=True)


def _connect_dev_wallet(page: Any) -> str:
    page.get_by_role("button", name="Connect wallet").first.click()
    dialog = page.get_by_role("dialog", name="Connect a wallet")
    dialog.get_by_role("button", name=re.compile("DaaS Dev Wallet")).click()
    address = page.get_by_test_id("account-address")
    address.wait_for()
    title = str(address.get_attribute("title"))
    assert re.fullmatch(r"0x[0-9a-f]{64}", title), title
    return title


def _fund(page: Any) -> None:
    page.get_by_role("button", name="Get dev SUI").click()
    page.get_by_text(re.compile(r"Received [\d.,]+ SUI; the balance is now")).wait_for()


def _pack_hello(page: Any, executable: bool = True) -> str:
    if executable:
        page.get_by_label("Executable files (optional)").fill("hello.sh")
    page.get_by_test_id("folder-input").set_input_files(str(HELLO))
    sha = page.get_by_test_id("bundle-sha256")
    sha.wait_for()
    return str(sha.inner_text()).strip()


def _store(page: Any) -> str:
    page.get_by_role("button", name=re.compile(r"Store on Walrus")).click()
    blob = page.get_by_test_id("blob-id")
    blob.wait_for()
    return str(blob.inner_text()).strip()


def _requests_to(page: Any) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    page.on("request", lambda request: seen.append((request.method, request.url)))
    return seen


def _executes(seen: list[tuple[str, str]]) -> int:
    return sum(
        1 for method, url in seen if method == "POST" and url.endswith("/v1/requests/execute")
    )


# --- the whole flow ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [DESKTOP, PHONE], indirect=True, ids=["1440", "375"])
def test_request_a_build_with_the_dev_wallet(page: Any, dev_stack: Any, artifacts: Path) -> None:
    seen = _requests_to(page)
    page.goto("/")
    page.get_by_role("heading", name="New build", level=1).wait_for()
    _shot(page, artifacts, "1-connect")

    address = _connect_dev_wallet(page)
    _fund(page)
    _shot(page, artifacts, "2-funded")

    sha = _pack_hello(page)
    # The browser's bundle is byte for byte what `daas submit` uploads for the same folder.
    with pack_directory(HELLO) as packed:
        assert sha == packed.sha256.hex()
    facts = page.get_by_test_id("bundle-facts")
    assert "Entries" in facts.inner_text()
    _shot(page, artifacts, "3-packed")

    blob_id = _store(page)
    summary = page.get_by_test_id("tx-summary")
    summary.wait_for()
    text = summary.inner_text()
    assert "daas::builds::request_build" in text
    assert blob_id in text and sha in text
    assert "Gas budget" in text and "Fee" in text
    _shot(page, artifacts, "4-review")

    # Reject once: the wallet's dialog shows what is signed; nothing is submitted.
    page.get_by_role("button", name="Sign and submit").click()
    approval = page.get_by_role("alertdialog", name="Sign this transaction?")
    approval.wait_for()
    shown = approval.inner_text()
    assert "request_build" in shown and blob_id in shown and sha in shown
    assert address in shown
    _shot(page, artifacts, "5-approval")
    approval.get_by_role("button", name="Reject").click()
    page.get_by_role("alert").filter(has_text="Signature rejected").wait_for()
    assert (
        "Nothing was submitted"
        in page.get_by_role("alert").filter(has_text="Signature rejected").inner_text()
    )
    assert _executes(seen) == 0
    _shot(page, artifacts, "6-rejected")

    # Sign: the build is requested on chain and the page moves to it.
    page.get_by_role("button", name="Sign again").click()
    approval.get_by_role("button", name="Approve and sign").click()
    page.wait_for_url(BUILD_URL)
    request_id = page.url.rsplit("/", 1)[1]
    assert _executes(seen) == 1
    # The build page is there (not "network idle": its live stream never idles).
    page.get_by_role("heading", level=1).first.wait_for()
    page.wait_for_timeout(500)
    _shot(page, artifacts, "7-submitted")

    # The browser talked to the API and the Walrus publisher, nothing else (no RPC, no SuiNS).
    origins = {_origin(url) for _, url in seen if not url.startswith("data:")}
    assert origins <= {_origin(dev_stack.api_url), _origin(dev_stack.walrus_url)}, origins
    # The request is on chain, for the wallet's address and the bundle it stored.
    build: dict[str, Any] = {}
    for _ in range(60):
        answer = page.request.get(f"/v1/builds/{request_id}")
        if answer.ok:
            build = answer.json()
            break
        page.wait_for_timeout(500)
    assert build.get("requester") == address
    assert blob_id in json.dumps(build)

    # Then watch it as the user does: step events move the progress, log lines stream in, the build
    # reaches SUCCEEDED, and the server-side verification passes every check.
    # (tests/web/test_build_view.py shows lines arriving before the end with a deliberately slow build.)
    page.locator(".log-line").first.wait_for(timeout=120_000)
    _shot(page, artifacts, "8-building")
    badge = page.locator(".build-head .status-badge")
    badge.and_(page.locator('[data-status="succeeded"]')).wait_for(timeout=180_000)
    page.locator('.verdict[data-ok="true"]').wait_for(timeout=60_000)
    assert page.locator('.check[data-result="fail"]').count() == 0
    assert page.locator('.check[data-check="result.signature"][data-result="pass"]').count() == 1
    page.locator('article.build[data-stream="ended"]').wait_for(
        timeout=30_000
    )  # the runner's last lines
    lines = page.eval_on_selector_all(".log-line", "els => els.map(e => e.textContent)")
    served = page.request.get(f"/v1/builds/{request_id}/logs").text().splitlines()
    assert len(lines) == len(served) > 3
    _shot(page, artifacts, "9-verified")


@pytest.mark.parametrize("page", [DESKTOP], indirect=True, ids=["1440"])
def test_drop_an_archive(page: Any, artifacts: Path, tmp_path: Path) -> None:
    """A .tar.gz dropped on the drop zone is repacked canonically: the same bytes as `daas submit`."""
    archive = tmp_path / "hello.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(HELLO.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(HELLO).as_posix())
    page.goto("/")
    page.get_by_test_id("drop-zone").wait_for()
    page.evaluate(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], name, { type: "application/gzip" }));
            const zone = document.querySelector("[data-testid=drop-zone]");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
            }
        }""",
        [archive.name, base64.b64encode(archive.read_bytes()).decode()],
    )
    sha = page.get_by_test_id("bundle-sha256")
    sha.wait_for()
    with pack_directory(HELLO) as packed:
        assert sha.inner_text().strip() == packed.sha256.hex()
    assert page.get_by_text("Source: hello.tar.gz").is_visible()
    _shot(page, artifacts, "dropped-archive")


# --- error paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [DESKTOP], indirect=True, ids=["1440"])
def test_unfunded_wallet_is_told_its_balance_then_funds_it(
    page: Any, page_errors: Any, artifacts: Path
) -> None:
    # The API's answer to prepare, shown below.
    page_errors.allow(r"status of 402 \(Payment Required\)")
    page.goto("/")
    _connect_dev_wallet(page)
    _pack_hello(page)
    _store(page)
    problem = page.get_by_role("alert").filter(has_text="Not enough SUI")
    problem.wait_for()
    text = problem.inner_text()
    assert "holds 0 SUI" in text and "need" in text
    assert "Get dev SUI" in text
    _shot(page, artifacts, "error-insufficient-balance")
    # Funding prepares the transaction again by itself.
    _fund(page)
    page.get_by_test_id("tx-summary").wait_for()
    assert page.get_by_role("alert").filter(has_text="Not enough SUI").count() == 0


@pytest.mark.parametrize("page", [PHONE], indirect=True, ids=["375"])
def test_escape_in_the_wallet_rejects(page: Any, artifacts: Path) -> None:
    seen = _requests_to(page)
    page.goto("/")
    address = _connect_dev_wallet(page)
    _fund(page)
    # The key is kept in this browser: a reload reconnects the same account by itself.
    page.reload()
    page.get_by_test_id("account-address").wait_for()
    assert page.get_by_test_id("account-address").get_attribute("title") == address
    _pack_hello(page)
    _store(page)
    page.get_by_role("button", name="Sign and submit").click()
    page.get_by_role("alertdialog").wait_for()
    page.keyboard.press("Escape")
    page.get_by_role("alert").filter(has_text="Signature rejected").wait_for()
    assert page.get_by_role("alertdialog").count() == 0
    assert _executes(seen) == 0
    # The keyboard is back on the action to take next.
    assert page.evaluate("document.activeElement.textContent") == "Sign again"
    _shot(page, artifacts, "error-rejected")


@pytest.mark.parametrize("page", [DESKTOP, PHONE], indirect=True, ids=["1440", "375"])
def test_bundle_over_the_limit_is_refused_before_upload(
    page: Any, dev_stack: Any, artifacts: Path, tmp_path: Path
) -> None:
    seen = _requests_to(page)
    page.goto("/")
    config = json.loads(page.evaluate("fetch('/v1/config').then((r) => r.text())"))
    limit = int(config["max_bundle_bytes"])
    big = tmp_path / "big"
    big.mkdir()
    (big / "Dockerfile").write_text("FROM daas-base:latest\nCOPY blob /blob\n")
    (big / "blob").write_bytes(os.urandom(limit + 512 * 1024))  # random: gzip cannot shrink it

    page.get_by_test_id("folder-input").set_input_files(str(big))
    alert = page.get_by_role("alert").filter(has_text="The bundle is too large")
    alert.wait_for(timeout=60_000)
    assert "accepts bundles up to" in alert.inner_text()
    assert page.get_by_role("button", name=re.compile("Store on Walrus")).count() == 0
    assert not [url for method, url in seen if method == "PUT"]
    _shot(page, artifacts, "error-too-large")


@pytest.mark.parametrize("page", [DESKTOP], indirect=True, ids=["1440"])
def test_api_unreachable_is_said_plainly(
    page: Any, dev_stack: Any, page_errors: Any, artifacts: Path
) -> None:
    page_errors.allow(r"Failed to load resource: net::ERR_FAILED")
    page.goto("/")
    _connect_dev_wallet(page)
    _fund(page)
    _pack_hello(page)
    api = _origin(dev_stack.api_url)
    page.route(f"{api}/v1/**", lambda route: route.abort())
    _store(page)  # Walrus still answers; the API does not
    problem = page.get_by_role("alert").filter(has_text="The DaaS API cannot be reached")
    problem.wait_for()
    _shot(page, artifacts, "error-api-unreachable")
    page.unroute(f"{api}/v1/**")
    problem.get_by_role("button", name="Prepare again").click()
    page.get_by_test_id("tx-summary").wait_for()


@pytest.mark.parametrize("page", [DESKTOP], indirect=True, ids=["1440"])
def test_walrus_refusal_is_shown(
    page: Any, dev_stack: Any, page_errors: Any, artifacts: Path
) -> None:
    page_errors.allow(r"Failed to load resource: the server responded with a status of 503")
    walrus = _origin(dev_stack.walrus_url)

    def refuse(route: Any) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        route.fulfill(
            status=503,
            headers={"access-control-allow-origin": "*", "content-type": "application/json"},
            body=json.dumps({"error": {"code": 503, "message": "the publisher is out of WAL"}}),
        )

    page.route(f"{walrus}/v1/blobs**", refuse)
    page.goto("/")
    _pack_hello(page)
    page.get_by_role("button", name=re.compile(r"Store on Walrus")).click()
    alert = page.get_by_role("alert").filter(has_text="The bundle was not stored on Walrus")
    alert.wait_for()
    assert "the publisher is out of WAL" in alert.inner_text()
    assert "HTTP 503" in alert.inner_text()
    _shot(page, artifacts, "error-walrus")


_OTHER_WALLET = """
(() => {
  const account = {
    address: "0x" + "ab".repeat(32), publicKey: new Uint8Array(32), chains: ["sui:testnet"],
    features: ["sui:signTransaction"], label: "Testnet account",
  };
  const wallet = {
    version: "1.0.0", name: "Other Wallet", chains: ["sui:testnet"], accounts: [],
    icon: "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=",
    features: {
      "standard:connect": { version: "1.0.0", connect: async () => {
        wallet.accounts = [account]; return { accounts: wallet.accounts }; } },
      "standard:events": { version: "1.0.0", on: () => () => {} },
      "sui:signTransaction": { version: "2.0.0", signTransaction: async () => {
        throw new Error("not expected"); } },
    },
  };
  window.addEventListener("wallet-standard:app-ready", ({ detail }) => detail.register(wallet));
  window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", { detail: ({ register }) => register(wallet) }));
})();
"""


@pytest.mark.parametrize("page", [PHONE], indirect=True, ids=["375"])
def test_wallet_on_another_network_is_refused(page: Any, artifacts: Path) -> None:
    """Any Wallet Standard wallet is offered; one whose account is not on localnet cannot go on."""
    page.add_init_script(_OTHER_WALLET)
    page.goto("/")
    page.get_by_role("button", name="Connect wallet").first.click()
    dialog = page.get_by_role("dialog", name="Connect a wallet")
    dialog.get_by_role("button", name=re.compile("DaaS Dev Wallet")).wait_for()
    dialog.get_by_role("button", name=re.compile("Other Wallet")).click()
    alert = page.get_by_role("alert").filter(has_text="Wrong network")
    alert.wait_for()
    assert "sui:localnet" in alert.inner_text() and "sui:testnet" in alert.inner_text()
    _pack_hello(page)
    _store(page)
    assert page.get_by_text(
        "Connect a wallet on localnet to prepare the build request."
    ).is_visible()
    assert page.get_by_test_id("tx-summary").count() == 0
    _shot(page, artifacts, "error-wrong-network")


@pytest.mark.parametrize("page", [PHONE], indirect=True, ids=["375"])
def test_no_dev_wallet_outside_daas_dev(page: Any, dev_stack: Any, artifacts: Path) -> None:
    """With `dev_wallet: false` (any real deployment) the dev wallet is never registered, and no faucet shows."""

    def real_network(route: Any) -> None:
        answer = route.fetch()
        config = answer.json()
        config["dev_wallet"] = False
        route.fulfill(response=answer, body=json.dumps(config))

    page.route(f"{_origin(dev_stack.api_url)}/v1/config", real_network)
    page.goto("/")
    page.get_by_role("button", name="Connect wallet").first.click()
    dialog = page.get_by_role("dialog", name="Connect a wallet")
    dialog.get_by_text("No Sui wallet was found in this browser").wait_for()
    assert dialog.get_by_role("button", name=re.compile("DaaS Dev Wallet")).count() == 0
    assert page.evaluate("localStorage.getItem('daas:dev-wallet:secret-key')") is None
    _shot(page, artifacts, "no-wallet")
    page.keyboard.press("Escape")
    assert page.get_by_role("dialog").count() == 0
    assert page.get_by_role("button", name="Get dev SUI").count() == 0


# --- keyboard only -------------------------------------------------------------------------------------------


def _tab_to(page: Any, name: str | re.Pattern[str], *, limit: int = 60, back: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focused element's text or label matches; focus must be visible."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        label = page.evaluate(
            "(() => { const el = document.activeElement; if (!el) return '';"
            " const id = el.id && document.querySelector(`label[for='${el.id}']`);"
            " return (el.getAttribute('aria-label') || (id && id.textContent) || el.textContent || '').trim(); })()"
        )
        if name.search(label) if isinstance(name, re.Pattern) else label == name:
            assert page.evaluate("document.activeElement.matches(':focus-visible')"), label
            return
    raise AssertionError(f"Tab never reached {name!r}")


def _choose_with_keyboard(page: Any, folder: Path) -> None:
    """Enter on the focused "Choose a folder…" opens the browser's file chooser; answer it with `folder`.
    (Headless chromium now and then drops the first chooser under load: press again, as a user would.)"""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        try:
            with page.expect_file_chooser(timeout=5_000) as chooser:
                page.keyboard.press("Enter")
        except PlaywrightTimeout:
            continue
        chooser.value.set_files(str(folder))
        return
    raise AssertionError("no file chooser opened")


@pytest.mark.parametrize("page", [DESKTOP, PHONE], indirect=True, ids=["1440", "375"])
def test_keyboard_only(page: Any, artifacts: Path) -> None:
    seen = _requests_to(page)
    page.goto("/")
    page.get_by_role("heading", name="New build", level=1).wait_for()

    _tab_to(page, "Connect wallet")
    page.keyboard.press("Enter")
    page.get_by_role("dialog", name="Connect a wallet").wait_for()
    # Focus is inside the dialog and stays there.
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('dialog[open]')")
    _tab_to(page, re.compile("DaaS Dev Wallet"))
    page.keyboard.press("Enter")
    page.get_by_test_id("account-address").wait_for()

    _tab_to(page, "Get dev SUI")
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r"the balance is now")).wait_for()

    _tab_to(page, "Executable files (optional)")
    page.keyboard.type("hello.sh")
    _tab_to(page, "Choose a folder…")
    _choose_with_keyboard(page, HELLO)
    page.get_by_test_id("bundle-sha256").wait_for()

    _tab_to(page, re.compile(r"^Store on Walrus"))
    page.keyboard.press("Enter")
    page.get_by_test_id("tx-summary").wait_for()
    _tab_to(page, "Sign and submit")
    page.keyboard.press("Enter")
    approval = page.get_by_role("alertdialog")
    approval.wait_for()
    # The safe choice has the focus; Escape rejects.
    assert page.evaluate("document.activeElement.textContent") == "Reject"
    page.keyboard.press("Escape")
    page.get_by_role("alert").filter(has_text="Signature rejected").wait_for()
    assert _executes(seen) == 0
    page.wait_for_function("document.activeElement?.textContent === 'Sign again'")
    page.keyboard.press("Enter")
    approval.wait_for()
    _tab_to(page, "Approve and sign")
    page.keyboard.press("Enter")
    page.wait_for_url(BUILD_URL)
    assert _executes(seen) == 1
