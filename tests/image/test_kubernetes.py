"""The Kubernetes manifest: image by digest through our registry, port, resources, replicas, labels."""

from __future__ import annotations

import pytest
import yaml  # type: ignore[import-untyped]

from daas.image.kubernetes import (
    Resources,
    image_reference,
    kubernetes_manifest,
    kubernetes_objects,
)

REQUEST = "0x" + "ab" * 32
DIGEST = "sha256:" + "cd" * 32


def test_deployment_and_service() -> None:
    text = kubernetes_manifest(
        registry_host="registry.daas.example:8443",
        request_id=REQUEST,
        manifest_digest=DIGEST,
        name="hello",
        port=8080,
        replicas=3,
        resources=Resources(cpu_request="250m", memory_request="128Mi", memory_limit="256Mi"),
        labels={"team": "web"},
        namespace="apps",
    )
    assert "&id" not in text and "*id" not in text  # no YAML aliases, plain for kubectl
    deployment, service = yaml.safe_load_all(text)
    assert deployment["apiVersion"] == "apps/v1" and deployment["kind"] == "Deployment"
    assert deployment["metadata"]["name"] == "hello"
    assert deployment["metadata"]["namespace"] == "apps"
    assert deployment["metadata"]["annotations"]["daas.build/request-id"] == REQUEST
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "hello"}
    labels = spec["template"]["metadata"]["labels"]
    assert labels == {
        "team": "web",
        "app.kubernetes.io/name": "hello",
        "app.kubernetes.io/managed-by": "daas",
    }
    [container] = spec["template"]["spec"]["containers"]
    assert container["image"] == f"registry.daas.example:8443/daas/{REQUEST}@{DIGEST}"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert service["kind"] == "Service" and service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "hello"}
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    # Deterministic text: the same inputs, the same manifest.
    assert text == kubernetes_manifest(
        registry_host="registry.daas.example:8443",
        request_id=REQUEST,
        manifest_digest=DIGEST,
        name="hello",
        port=8080,
        replicas=3,
        resources=Resources(cpu_request="250m", memory_request="128Mi", memory_limit="256Mi"),
        labels={"team": "web"},
        namespace="apps",
    )


def test_env_is_the_containers_environment_by_name() -> None:
    [deployment] = kubernetes_objects(
        registry_host="api.example",
        request_id=REQUEST,
        manifest_digest=DIGEST,
        env={"LOG_LEVEL": "info", "GREETING": "hello: world"},
    )
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {"name": "GREETING", "value": "hello: world"},
        {"name": "LOG_LEVEL", "value": "info"},
    ]
    text = kubernetes_manifest(
        registry_host="api.example", request_id=REQUEST, manifest_digest=DIGEST, env={"A": "1"}
    )
    assert "env:\n        - name: A\n          value: '1'\n" in text
    with pytest.raises(ValueError, match="environment variable"):
        kubernetes_objects(
            registry_host="api.example",
            request_id=REQUEST,
            manifest_digest=DIGEST,
            env={"A-B": "x"},
        )


def test_without_port_there_is_no_service() -> None:
    [deployment] = kubernetes_objects(
        registry_host="https://api.example/", request_id=REQUEST, manifest_digest=DIGEST
    )
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "ports" not in container and "resources" not in container
    assert deployment["metadata"]["name"] == "daas-" + "ab" * 6
    assert container["image"] == f"api.example/daas/{REQUEST}@{DIGEST}"


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Not_A_Name"},
        {"port": 70000},
        {"replicas": -1},
        {"labels": {"bad key!": "x"}},
        {"labels": {"k": "v" * 64}},
        {"request_id": "0x12"},
        {"manifest_digest": "sha256:short"},
        {"registry_host": "host/with/path"},
        {"namespace": "UPPER"},
    ],
)
def test_invalid_parameters(change: dict[str, object]) -> None:
    params: dict[str, object] = {
        "registry_host": "api.example",
        "request_id": REQUEST,
        "manifest_digest": DIGEST,
    }
    params.update(change)
    with pytest.raises(ValueError):
        kubernetes_objects(**params)  # type: ignore[arg-type]


def test_resources_must_be_quantities() -> None:
    with pytest.raises(ValueError, match="quantity"):
        Resources(cpu_limit="lots")
    assert image_reference("h:1", REQUEST, DIGEST) == f"h:1/daas/{REQUEST}@{DIGEST}"
