"""The locally made busybox base image that `daas dev` and the examples build from."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from daas.build.base_image import DIGEST_LABEL, ensure_base_image, is_static_elf
from daas.errors import DaasError

NAME = "daas-base-selftest:latest"


def test_ensure_base_image_imports_once_and_runs(
    docker_client: docker.DockerClient, base_image: str
) -> None:
    try:
        assert ensure_base_image(docker_client, NAME) == NAME
        first = docker_client.images.get(NAME)
        assert first.labels[DIGEST_LABEL]
        # Same content: the image is reused, not re-imported.
        ensure_base_image(docker_client, NAME)
        assert docker_client.images.get(NAME).id == first.id
        out = docker_client.containers.run(
            NAME, ["sh", "-c", "echo $((6*7))"], remove=True, network_mode="none"
        )
        assert out.strip() == b"42"
    finally:
        docker_client.images.remove(NAME, force=True)


def test_missing_or_dynamic_busybox_is_a_clear_error(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    with pytest.raises(DaasError, match="busybox-static"):
        ensure_base_image(docker_client, NAME, busybox=tmp_path / "nope")
    dynamic = tmp_path / "busybox"
    dynamic.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(DaasError, match="dynamically linked"):
        ensure_base_image(docker_client, NAME, busybox=dynamic)
    assert not is_static_elf(b"\x7fELF")
