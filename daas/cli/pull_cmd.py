"""`daas pull ID`: rebuild a build's OCI image from Walrus, every digest checked, and optionally `docker load` it.

The chain's `BuildRequest` gives the manifest digest and the image index blob id; `daas.image.pull_image` reads
the index, then the manifest (checked against the on-chain digest), the config and every layer (checked against
the manifest), chunk by chunk. Nothing else is trusted, and our API is not involved. The result is an OCI image
layout (a directory, the default), its tar (`--output FILE.tar`, which `docker load` accepts, dockerd 20.10
included), and/or the image loaded into the local Docker engine (`--load`), tagged `daas/<request id>:latest`
unless `--tag` says otherwise.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from daas.cli.app import app
from daas.cli.common import (
    DockerUnavailable,
    connect_chain,
    exit_on_errors,
    human_console,
    normalize_request_id,
    open_walrus,
)
from daas.cli.output import state
from daas.config import Settings
from daas.errors import ConfigError, DaasError, NotFound, ObjectNotFound

# `name[:tag]` as Docker accepts it (lower-case path components, an optional tag).
_REPO_TAG = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)


@dataclasses.dataclass(frozen=True)
class Pulled:
    request_id: str
    manifest_digest: str
    config_digest: str
    layers: tuple[str, ...]
    layout: str | None
    tar: str | None
    tag: str
    image: str | None = None  # what `docker load` reported

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["layers"] = list(self.layers)
        return data


async def _pull(
    settings: Settings, request_id: str, layout_dir: Path, tag: str, console: Console | None
) -> tuple[str, Any]:
    from daas.chain.codecs import BuildRequestObject, RequestStatus
    from daas.image import pull_image

    async with connect_chain(settings) as chain:
        try:
            info = await chain.get_object(request_id)
        except ObjectNotFound as exc:
            raise NotFound(f"no build request {request_id} on chain (chain.grpc_url)") from exc
    if info.contents is None or not (info.object_type or "").endswith("::builds::BuildRequest"):
        raise DaasError(f"{request_id} is not a build request (it is a {info.object_type})")
    request = BuildRequestObject.from_bcs(info.contents)
    result = request.result
    if request.status != RequestStatus.SUCCEEDED or result is None or not result.succeeded:
        try:
            status = RequestStatus(request.status).name
        except ValueError:
            status = str(request.status)
        raise DaasError(f"build {request_id} has no image: its status is {status}")
    manifest = "sha256:" + result.image_digest.hex()
    async with open_walrus(settings) as walrus:
        if console is not None:
            with console.status(f"reading image {manifest[:19]}… from Walrus"):
                pulled = await pull_image(
                    walrus,
                    result.image_index_blob_id,
                    layout_dir,
                    expected_manifest=manifest,
                    repo_tag=tag,
                )
        else:
            pulled = await pull_image(
                walrus,
                result.image_index_blob_id,
                layout_dir,
                expected_manifest=manifest,
                repo_tag=tag,
            )
    return manifest, pulled


def docker_load(settings: Settings, tar_path: Path) -> str:
    """`docker load` the tar; the reference the engine reports (`name:tag`, or an image id)."""
    import docker
    import requests
    from docker.errors import DockerException

    try:
        client = (
            docker.DockerClient(base_url=settings.runner.docker_url, timeout=300)
            if settings.runner.docker_url
            else docker.from_env(timeout=300)
        )
    except (DockerException, requests.RequestException) as exc:
        raise DockerUnavailable(f"cannot reach the Docker engine: {exc}") from exc
    loaded: list[str] = []
    try:
        with tar_path.open("rb") as tar:
            for item in client.api.load_image(tar):  # type: ignore[no-untyped-call]
                if "error" in item:
                    raise DaasError(f"docker load refused the image: {item['error']}")
                text = str(item.get("stream", "")).strip()
                for prefix in ("Loaded image: ", "Loaded image ID: "):
                    if text.startswith(prefix):
                        loaded.append(text.removeprefix(prefix))
    except (DockerException, requests.RequestException) as exc:
        raise DockerUnavailable(f"docker load failed: {exc}") from exc
    finally:
        client.close()
    if not loaded:
        raise DaasError("docker load did not report the image it loaded")
    return loaded[0]


def _empty(directory: Path, *, remove: bool) -> None:
    import shutil

    if remove:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


@app.command("pull")
def pull(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="the build request id (0x...)")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="an OCI layout directory (default ./daas-<id>), or FILE.tar for an archive "
            "that `docker load` accepts",
        ),
    ] = None,
    load: Annotated[
        bool, typer.Option("--load", help="load the image into the local Docker engine")
    ] = False,
    tag: Annotated[
        str | None,
        typer.Option("--tag", help="name:tag of the image once loaded (default daas/<id>:latest)"),
    ] = None,
) -> None:
    """Rebuild a build's image from Walrus, every digest checked; write it and/or docker load it.

    Writes an OCI image layout directory (default ./daas-<id>), or a tar with --output FILE.tar; --load loads
    it into the local Docker engine and prints the image reference.
    """
    import anyio

    st = state(ctx)
    console = human_console()
    human = None if st.json else console
    with exit_on_errors(console):
        request = normalize_request_id(request_id)
        repo_tag = tag or f"daas/{request}:latest"
        if not _REPO_TAG.match(repo_tag):
            raise ConfigError(f"--tag {repo_tag!r} is not a valid name:tag")
        settings = st.settings
        want_tar = output is not None and output.suffix == ".tar"
        keep_layout = output is not None and not want_tar
        if output is None and not load:
            output, keep_layout = Path(f"daas-{request[2:18]}"), True
        if keep_layout:
            assert output is not None
            if output.exists() and (not output.is_dir() or any(output.iterdir())):
                raise ConfigError(f"--output {output} exists and is not an empty directory")
        elif want_tar:
            assert output is not None
            if output.exists():
                raise ConfigError(f"--output {output} exists")
        created = keep_layout and output is not None and not output.exists()
        with tempfile.TemporaryDirectory(prefix="daas-pull-") as tmp:
            layout_dir = output if keep_layout and output is not None else Path(tmp) / "layout"
            try:
                manifest, pulled = anyio.run(
                    lambda: _pull(settings, request, layout_dir, repo_tag, human)
                )
            except BaseException:
                # Leave no half-written layout behind: nothing in it was verified as a whole.
                if keep_layout and layout_dir.exists():
                    _empty(layout_dir, remove=created)
                raise
            tar_path: Path | None = output if want_tar else None
            if tar_path is not None or load:
                from daas.image import write_image_tar

                target = tar_path or Path(tmp) / "image.tar"
                with target.open("xb") as out:
                    write_image_tar(layout_dir, out)
            image = None
            if load:
                if human is not None:
                    with console.status("docker load"):
                        image = docker_load(settings, tar_path or Path(tmp) / "image.tar")
                else:
                    image = docker_load(settings, tar_path or Path(tmp) / "image.tar")
    result = Pulled(
        request_id=request,
        manifest_digest=manifest,
        config_digest=pulled.config_digest,
        layers=pulled.layer_digests,
        layout=str(layout_dir) if keep_layout else None,
        tar=str(tar_path) if tar_path is not None else None,
        tag=repo_tag,
        image=image,
    )
    if st.json:
        st.emit_json(result.to_json())
        return
    console.print(
        f"[green]✓[/] image {manifest}: config and {len(result.layers)} layers verified",
        highlight=False,
    )
    if result.layout:
        console.print(f"  OCI layout: {result.layout}", highlight=False)
    if result.tar:
        console.print(f"  archive:    {result.tar} (docker load -i {result.tar})", highlight=False)
    if image:
        console.print(f"  loaded:     [bold]{image}[/]  (docker run --rm {image})", highlight=False)
