"""A Kubernetes Deployment (+ Service when a port is exposed) that runs a built image by digest.

The image is referenced through our API's read-only registry, by digest, so what runs is exactly what was
attested: `{registry_host}/daas/{request_id}@sha256:<hex>`. Port, resources, replicas and labels come from the
bundle's `daas.toml` (the runner passes them). The objects are built as dicts and dumped as YAML with PyYAML
(a dependency of pysui, so always installed), keys in the order Kubernetes documents them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import yaml  # type: ignore[import-untyped]

from daas.image.oci import check_digest

__all__ = ["Resources", "image_reference", "kubernetes_manifest", "kubernetes_objects"]

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
# C identifiers, as daas.toml accepts them (Kubernetes allows more, but these are what the runner checked).
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_REQUEST_ID = re.compile(r"^0x[0-9a-f]{64}$")
_MANAGED_BY = "daas"


@dataclasses.dataclass(frozen=True)
class Resources:
    """Kubernetes quantities (`"500m"`, `"256Mi"`); None leaves one out."""

    cpu_request: str | None = None
    memory_request: str | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and not _QUANTITY.match(value):
                raise ValueError(f"resources.{field.name}: {value!r} is not a Kubernetes quantity")

    def to_json(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        requests = {"cpu": self.cpu_request, "memory": self.memory_request}
        limits = {"cpu": self.cpu_limit, "memory": self.memory_limit}
        if kept := {k: v for k, v in requests.items() if v is not None}:
            out["requests"] = kept
        if kept := {k: v for k, v in limits.items() if v is not None}:
            out["limits"] = kept
        return out


def image_reference(registry_host: str, request_id: str, manifest_digest: str) -> str:
    """`{registry_host}/daas/{request_id}@sha256:<hex>` (the host without a scheme, e.g. `api.example:8080`)."""
    host = registry_host.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not host or "/" in host:
        raise ValueError(f"{registry_host!r} is not a registry host[:port]")
    if not _REQUEST_ID.match(request_id):
        raise ValueError(f"{request_id!r} is not a request id (0x and 64 hex digits)")
    return f"{host}/daas/{request_id}@{check_digest(manifest_digest)}"


def kubernetes_objects(
    *,
    registry_host: str,
    request_id: str,
    manifest_digest: str,
    name: str | None = None,
    port: int | None = None,
    replicas: int = 1,
    resources: Resources | None = None,
    labels: Mapping[str, str] | None = None,
    namespace: str | None = None,
    env: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The Deployment, and a ClusterIP Service when `port` is given, as plain data. `env` is the
    container's environment (`daas.toml`'s `[image] env`), listed by name."""
    image = image_reference(registry_host, request_id, manifest_digest)
    name = name or f"daas-{request_id[2:14]}"
    if not _DNS_LABEL.match(name):
        raise ValueError(f"{name!r} is not a Kubernetes name (lower-case DNS label, at most 63)")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    if not 0 <= replicas <= 1000:
        raise ValueError(f"replicas must be between 0 and 1000, not {replicas}")
    selector = {"app.kubernetes.io/name": name}
    all_labels = {**(labels or {}), **selector, "app.kubernetes.io/managed-by": _MANAGED_BY}
    for key, value in all_labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise ValueError(f"label {key}={value!r} is not a valid Kubernetes label")
    # A request id (66 characters) is too long for a label value: it goes in an annotation.
    annotations = {
        "daas.build/request-id": request_id,
        "daas.build/manifest-digest": manifest_digest,
    }
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        if not _DNS_LABEL.match(namespace):
            raise ValueError(f"{namespace!r} is not a Kubernetes namespace name")
        metadata["namespace"] = namespace
    metadata |= {"labels": all_labels, "annotations": annotations}

    container: dict[str, Any] = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if env:
        for key in env:
            if not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
        container["env"] = [{"name": key, "value": env[key]} for key in sorted(env)]
    if port is not None:
        container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    if resources is not None and (resources_json := resources.to_json()):
        container["resources"] = resources_json
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": all_labels, "annotations": annotations},
                "spec": {"containers": [container]},
            },
        },
    }
    objects: list[dict[str, Any]] = [deployment]
    if port is not None:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata,
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector,
                    "ports": [
                        {"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}
                    ],
                },
            }
        )
    return objects


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    # The same labels dict appears in several places: write it out each time, never as a YAML alias.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def kubernetes_manifest(
    *,
    registry_host: str,
    request_id: str,
    manifest_digest: str,
    name: str | None = None,
    port: int | None = None,
    replicas: int = 1,
    resources: Resources | None = None,
    labels: Mapping[str, str] | None = None,
    namespace: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """`kubernetes_objects(...)` as one multi-document YAML text (deterministic), ready for `kubectl apply`."""
    objects = kubernetes_objects(
        registry_host=registry_host,
        request_id=request_id,
        manifest_digest=manifest_digest,
        name=name,
        port=port,
        replicas=replicas,
        resources=resources,
        labels=labels,
        namespace=namespace,
        env=env,
    )
    text: str = yaml.dump_all(
        objects,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return text
