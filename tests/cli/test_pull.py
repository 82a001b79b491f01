"""`daas pull`: the image rebuilt from Walrus, loaded into the real Docker engine, run."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import docker
import pytest

from tests.cli.support import (
    CLOSED_URL,
    HELLO_LINE,
    CliStack,
    complete_build,
    register_debug_enclave,
    run_cli,
    submit_hello,
)

pytestmark = pytest.mark.anyio


async def test_pull_load_and_run(
    stack: CliStack, docker_client: docker.DockerClient, base_image: str, tmp_path: Path
) -> None:
    request_id = await submit_hello(stack)
    build = await complete_build(stack, request_id, await register_debug_enclave(stack))
    tag = f"daas/{request_id}:latest"
    try:
        done = await run_cli("pull", request_id, "--load", config=stack.user_config, json=True)
        assert done.returncode == 0, done.stderr
        pulled = done.json()
        assert pulled["image"] == tag and pulled["manifest_digest"] == build.manifest_digest
        assert len(pulled["layers"]) == 4 and pulled["layout"] is None and pulled["tar"] is None
        output = docker_client.containers.run(tag, ["once"], remove=True, network_mode="none")
        assert output.decode().strip() == HELLO_LINE
    finally:
        docker_client.images.remove(tag, force=True)

    # An OCI image layout directory, and a tar for `docker load -i`.
    layout = tmp_path / "layout"
    done = await run_cli("pull", request_id, "--output", str(layout), config=stack.user_config)
    assert done.returncode == 0, done.stderr
    assert f"OCI layout: {layout}" in done.stderr
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == build.manifest_digest
    assert (layout / "blobs" / "sha256" / build.manifest_digest.removeprefix("sha256:")).is_file()
    archive = tmp_path / "image.tar"
    done = await run_cli(
        "pull", request_id, "-o", str(archive), "--tag", "hello:v1", config=stack.user_config
    )
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["hello:v1"]

    # A layer chunk that changed on Walrus: the pull refuses the image.
    ledger = stack.walrus.standin.ledger
    chunk = build.layer_chunks[0][0]
    original = ledger.read_content(chunk)
    ledger.write_content(chunk, original[::-1])
    try:
        bad = await run_cli(
            "pull", request_id, "-o", str(tmp_path / "bad"), config=stack.user_config
        )
    finally:
        ledger.write_content(chunk, original)
    assert bad.returncode == 1 and "sha256" in bad.stderr
    assert not (tmp_path / "bad").exists()  # no half-written layout is left behind


async def test_pull_error_paths(stack: CliStack, tmp_path: Path) -> None:
    request_id = await submit_hello(stack)  # pending: no image yet
    pending = await run_cli("pull", request_id, "-o", str(tmp_path / "x"), config=stack.user_config)
    assert pending.returncode == 1 and "has no image: its status is PENDING" in pending.stderr

    unknown = await run_cli("pull", "0x" + "31" * 32, config=stack.user_config)
    assert unknown.returncode == 4 and "no build request" in unknown.stderr

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "file").write_text("x")
    busy = await run_cli("pull", request_id, "-o", str(occupied), config=stack.user_config)
    assert busy.returncode == 2 and "not an empty directory" in busy.stderr

    bad_tag = await run_cli("pull", request_id, "--tag", "Bad Tag", config=stack.user_config)
    assert bad_tag.returncode == 2 and "not a valid name:tag" in bad_tag.stderr

    node = await run_cli(
        "pull", request_id, config=stack.config("badnode", chain={"grpc_url": CLOSED_URL})
    )
    assert node.returncode == 3 and CLOSED_URL in node.stderr
