"""`daas.toml`: defaults, a full example, and one precise INVALID_BUILD_CONFIG message per mistake."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daas.bundle.config import BundleConfig, parse_bundle_config, parse_quantity
from daas.errors import BuildFailureCode, RequesterFault

FULL = b"""
[build]
args = { VERSION = "1.2.3", _private = "" }
target = "runtime"

[image]
port = 8080
env = { LOG_LEVEL = "info" }

[resources]
cpu = "500m"
memory = "256Mi"
replicas = 2
"""


def test_an_empty_file_and_no_file_mean_the_defaults() -> None:
    config = parse_bundle_config(b"")
    assert config == BundleConfig()
    assert config.build.args == {} and config.build.target is None
    assert config.image.port is None and config.image.env == {}
    assert config.resources.cpu is None and config.resources.replicas == 1
    assert config.resources.cpu_millicores is None and config.resources.memory_bytes is None


def test_full_example() -> None:
    config = parse_bundle_config(FULL)
    assert config.build.args == {"VERSION": "1.2.3", "_private": ""}
    assert config.build.target == "runtime"
    assert config.image.port == 8080 and config.image.env == {"LOG_LEVEL": "info"}
    assert config.resources.cpu == "500m" and config.resources.cpu_millicores == 500
    assert config.resources.memory == "256Mi" and config.resources.memory_bytes == 256 * 1024 * 1024
    assert config.resources.replicas == 2


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1", Decimal(1)),
        ("2.5", Decimal("2.5")),
        (".5", Decimal("0.5")),
        ("1k", Decimal(1000)),
        ("1Ki", Decimal(1024)),
        ("1.5Gi", Decimal(1610612736)),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("128974848", Decimal(128974848)),
        ("129M", Decimal(129000000)),
        ("123Mi", Decimal(128974848)),
    ],
)
def test_kubernetes_quantities(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "Mi", "1 Mi", "1MiB", "1mi", "0x10", "1e", "--1", "1.2.3", "1Kb"]
)
def test_malformed_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        # syntax
        (b"[build\n", r"daas.toml is not valid TOML: .* \(at line 1, column 7\)"),
        (b"port = \n", r"daas.toml is not valid TOML: .*line 1"),
        (b"\xff", r"daas.toml is not valid UTF-8 \(byte 0\)"),
        # unknown keys, anywhere
        (b"[bild]\n", r"^invalid daas.toml: bild: unknown key$"),
        (b"[build]\nargz = {}\n", r"^invalid daas.toml: build.argz: unknown key$"),
        (b"[resources]\ngpu = 1\n", r"^invalid daas.toml: resources.gpu: unknown key$"),
        # wrong types (TOML has types: nothing is coerced)
        (
            b'[image]\nport = "8080"\n',
            r"image.port: input should be a valid integer \(got str '8080'\)",
        ),
        (
            b"[image]\nport = true\n",
            r"image.port: input should be a valid integer \(got bool True\)",
        ),
        (
            b"[image]\nport = 80.0\n",
            r"image.port: input should be a valid integer \(got float 80.0\)",
        ),
        (b"build = 3\n", r"build: must be a table"),
        (b"[build]\nargs = [1]\n", r"build.args: must be a table"),
        (
            b"[build]\nargs = { A = 1 }\n",
            r"build.args.A: input should be a valid string \(got int 1\)",
        ),
        (b"[resources]\ncpu = 1\n", r"resources.cpu: input should be a valid string \(got int 1\)"),
        (b'[resources]\nreplicas = "2"\n', r"resources.replicas: input should be a valid integer"),
        # values
        (
            b"[image]\nport = 0\n",
            r"image.port: input should be greater than or equal to 1 \(got int 0\)",
        ),
        (b"[image]\nport = 65536\n", r"image.port: input should be less than or equal to 65535"),
        (
            b"[resources]\nreplicas = 0\n",
            r"resources.replicas: input should be greater than or equal to 1",
        ),
        (b'[build]\ntarget = "1st"\n', r"build.target: '1st' is not a Dockerfile stage name"),
        (
            b'[build]\nargs = { "A-B" = "x" }\n',
            r"build.args: 'A-B' is not a valid build argument name",
        ),
        (
            b'[image]\nenv = { "1X" = "x" }\n',
            r"image.env: '1X' is not a valid environment variable name",
        ),
        # Kubernetes quantities
        (b'[resources]\ncpu = "fast"\n', r"resources.cpu: 'fast' is not a Kubernetes CPU quantity"),
        (b'[resources]\ncpu = "0"\n', r"resources.cpu: '0' must be more than 0"),
        (b'[resources]\ncpu = "-1"\n', r"resources.cpu: '-1' must be more than 0"),
        (b'[resources]\ncpu = "0.0005"\n', r"resources.cpu: '0.0005' is finer than 1m"),
        (b'[resources]\ncpu = "1e99"\n', r"resources.cpu: '1e99' has an exponent out of range"),
        (
            b'[resources]\nmemory = "256MB"\n',
            r"resources.memory: '256MB' is not a Kubernetes memory quantity",
        ),
        (
            b'[resources]\nmemory = "256m"\n',
            r"resources.memory: '256m' means milli-bytes; write Mi",
        ),
        (
            b'[resources]\nmemory = "0.5"\n',
            r"resources.memory: '0.5' is not a whole number of bytes",
        ),
        (
            b'[resources]\nmemory = "2Ei"\n',
            r"resources.memory: '2Ei' must be more than 0 and at most 1Pi",
        ),
    ],
)
def test_each_mistake_names_its_key(toml: bytes, message: str) -> None:
    with pytest.raises(RequesterFault, match=message) as info:
        parse_bundle_config(toml)
    assert info.value.code is BuildFailureCode.INVALID_BUILD_CONFIG


def test_every_mistake_is_reported_at_once() -> None:
    toml = b'[image]\nport = "x"\nextra = 1\n[resources]\nmemory = "lots"\n'
    with pytest.raises(RequesterFault) as info:
        parse_bundle_config(toml)
    message = str(info.value)
    for key in ("image.port", "image.extra", "resources.memory"):
        assert key in message


def test_size_cap() -> None:
    with pytest.raises(RequesterFault, match="larger than 64 KiB"):
        parse_bundle_config(b"#" * (64 * 1024 + 1))
