"""What the web dashboard needs from the API: the page itself at `/`, `/v1/config`'s browser fields, the
development faucet (only under `daas dev`) and `/v1/builds/{id}/verification`'s error answers. The passing
verification of a real build is in `tests/cli/test_verify.py`, beside the CLI's, on the same build."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.deps import DevFaucet, HealthPolicy
from daas.chain.ports import ChainWriter
from daas.config import Settings, load_settings
from daas.dev.stack import StandInFaucet
from emulator.sui.standin import MIST_PER_SUI
from emulator.sui.testing import DevChain, dev_chain
from tests.api.support import serve

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"
INDEX = "<!doctype html><title>DaaS</title><div id=root></div>"
STRANGER = "0x" + "ab" * 32


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A built dashboard, as `npm run build` lays it out."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-Ab12.js").write_text("console.log('daas')")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the dashboard")
    return root


def make_settings(tmp_path: Path, chain: DevChain | None = None, **values: Any) -> Settings:
    chain_values: dict[str, Any] = {}
    if chain is not None:
        standin = chain.standin
        chain_values = {
            "grpc_url": standin.url,
            "chain_id": standin.chain_id,
            "package_id": standin.package_id,
            "registry_id": standin.registry_id,
            "enclave_config_id": standin.enclave_config_id,
        }
    walrus = {
        "aggregator_url": "http://127.0.0.1:9/agg",
        "publisher_url": "http://127.0.0.1:10",
        "retries": 0,
        **values.pop("walrus", {}),
    }
    return load_settings(data_dir=tmp_path, walrus=walrus, chain=chain_values, **values)


@contextlib.asynccontextmanager
async def api(
    settings: Settings,
    engine: sa.Engine,
    *,
    chain: ChainWriter | None = None,
    faucet: DevFaucet | None = None,
    web_dir: Path | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings,
        engine=engine,
        health=HealthPolicy(None, None),
        chain=chain,
        faucet=faucet,
        web_dir=web_dir,
    )
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        yield http


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    return body


# --- the page ---------------------------------------------------------------------------------------------


async def test_dashboard_pages_assets_and_api_paths(
    tmp_path: Path, sqlite_engine: sa.Engine, dist: Path
) -> None:
    html = {"Accept": "text/html,application/xhtml+xml"}
    async with api(make_settings(tmp_path), sqlite_engine, web_dir=dist) as http:
        for path in ("/", "/builds", "/builds/0x1a2b", "/status", "/no/such/page"):
            page = await http.get(path, headers=html)
            assert page.status_code == 200 and page.text == INDEX, path
            assert page.headers["cache-control"] == "no-cache"
            csp = page.headers["content-security-policy"]
            # The page may talk to this origin and Walrus only: no Sui RPC, no third parties.
            assert "connect-src 'self' http://127.0.0.1:10 http://127.0.0.1:9;" in csp
            assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp

        asset = await http.get("/assets/index-Ab12.js")
        assert asset.status_code == 200 and asset.text == "console.log('daas')"
        assert "immutable" in asset.headers["cache-control"]
        assert (await http.get("/favicon.svg")).text == "<svg/>"
        assert (await http.get("/assets/missing.js")).status_code == 404

        # Nothing outside dist/ is reachable, however the path is spelt.
        for path in ("/..%2Fsecret.txt", "/assets/..%2F..%2Fsecret.txt", "/%2E%2E/secret.txt"):
            leaked = await http.get(path, headers=html)
            assert "outside the dashboard" not in leaked.text, path

        # API paths never fall through to the page: unknown ones stay machine-readable 404s.
        assert problem(await http.get("/v1/nope", headers=html), 404)["status"] == 404
        oci = await http.get("/v2/daas/0x1/manifests/latest", headers=html)
        assert oci.status_code == 404 and "errors" in oci.json()
        # A non-page request for an unknown path is a 404, not the app's HTML.
        assert (await http.get("/robots.txt")).status_code == 404
        # The API's own routes still answer as before.
        assert (await http.get("/v1/config")).json()["network"] == "localnet"
        assert (await http.get("/openapi.json")).status_code == 200


async def test_dashboard_not_built_explains_how_to_build_it(
    tmp_path: Path, sqlite_engine: sa.Engine
) -> None:
    async with api(make_settings(tmp_path), sqlite_engine, web_dir=tmp_path / "none") as http:
        page = await http.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 503
        assert "npm run build" in page.text and "/docs" in page.text
        assert (await http.get("/healthz")).status_code == 200


# --- /v1/config for the browser ---------------------------------------------------------------------------


async def test_config_fields_for_the_browser(tmp_path: Path, sqlite_engine: sa.Engine) -> None:
    settings = make_settings(
        tmp_path,
        walrus={"publisher_url": "http://127.0.0.1:10", "epochs": 7},
        runner={"max_bundle_bytes": 4 * 1024 * 1024},
    )
    async with api(settings, sqlite_engine) as http:
        config = (await http.get("/v1/config")).json()
    assert config["walrus_epochs"] == 7
    assert config["max_bundle_bytes"] == 4 * 1024 * 1024  # the runners' cap is the lower here
    assert config["dev_wallet"] is False
    assert config["walrus_publisher_url"] == "http://127.0.0.1:10"

    # The default: the publisher's 10 MiB request cap is lower than the runners' 256 MiB.
    async with api(make_settings(tmp_path), sqlite_engine) as http:
        assert (await http.get("/v1/config")).json()["max_bundle_bytes"] == 10 * 1024 * 1024


# --- the development faucet ---------------------------------------------------------------------------------


async def test_faucet_exists_only_under_daas_dev(tmp_path: Path, sqlite_engine: sa.Engine) -> None:
    async with api(make_settings(tmp_path), sqlite_engine) as http:
        refused = await http.post("/v1/dev/faucet", json={"address": STRANGER})
        assert "only under `daas dev`" in problem(refused, 404)["detail"]


async def test_faucet_funds_a_new_address_on_the_stand_in(
    tmp_path: Path, sqlite_engine: sa.Engine
) -> None:
    async with dev_chain(users=1) as chain:
        faucet = StandInFaucet(chain.standin, amount_mist=3 * MIST_PER_SUI)
        settings = make_settings(tmp_path, chain, network="localnet")
        async with api(settings, sqlite_engine, chain=chain.client, faucet=faucet) as http:
            config = (await http.get("/v1/config")).json()
            assert config["dev_wallet"] is True
            # Localnet explorers take the node's URL: filled in, only `{digest}` / `{id}` remain.
            assert (
                "{rpc}" not in config["explorer_tx_url"] and "{digest}" in config["explorer_tx_url"]
            )
            assert "network=http%3A%2F%2F127.0.0.1" in config["explorer_object_url"]
            assert await chain.client.get_balance(STRANGER) == 0

            first = await http.post("/v1/dev/faucet", json={"address": "0x" + STRANGER[2:].upper()})
            assert first.status_code == 200, first.text
            body = first.json()
            assert body["address"] == STRANGER and body["amount_mist"] == 3 * MIST_PER_SUI
            assert body["balance_mist"] == 3 * MIST_PER_SUI
            second = (await http.post("/v1/dev/faucet", json={"address": STRANGER})).json()
            assert second["balance_mist"] == 6 * MIST_PER_SUI
            assert second["coin_id"] != body["coin_id"] and second["digest"] != body["digest"]

            coins = await chain.client.list_gas_coins(STRANGER)
            assert sorted(c.ref.object_id for c in coins) == sorted(
                [body["coin_id"], second["coin_id"]]
            )

            invalid = await http.post("/v1/dev/faucet", json={"address": "alice"})
            assert problem(invalid, 422)["errors"]


# --- /v1/builds/{id}/verification: what is not a verdict ----------------------------------------------------


async def test_verification_error_answers(tmp_path: Path, sqlite_engine: sa.Engine) -> None:
    async with dev_chain(users=1) as chain:
        settings = make_settings(tmp_path, chain, network="localnet")
        async with api(settings, sqlite_engine, chain=chain.client) as http:
            unknown = await http.get(f"/v1/builds/{STRANGER}/verification")
            assert problem(unknown, 404)["detail"]
            # An object that is not a request is a failed check, not an error.
            registry = await http.get(f"/v1/builds/{chain.standin.registry_id}/verification")
            assert registry.status_code == 200, registry.text
            report = registry.json()
            assert report["ok"] is False and report["checks"][0]["name"] == "request"
            assert report["checks"][0]["ok"] is False
            bad = await http.get("/v1/builds/not-an-id/verification")
            assert problem(bad, 422)["status"] == 422

    # Without package and registry, this API cannot say what "ours" means: 503 naming the settings.
    async with api(make_settings(tmp_path), sqlite_engine) as http:
        missing = await http.get(f"/v1/builds/{STRANGER}/verification")
        assert "chain.package_id" in problem(missing, 503)["detail"]
