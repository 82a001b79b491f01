"""`daas.toml`: the optional build configuration at the root of a bundle.

It travels inside the bundle, so the on-chain `source_sha256` binds it with the sources::

    [build]
    args = { VERSION = "1.2.3" }   # --build-arg NAME=value
    target = "runtime"             # --target stage

    [image]
    port = 8080                    # the container port the Kubernetes Service exposes
    env = { LOG_LEVEL = "info" }   # environment of the container in the Kubernetes manifest

    [resources]
    cpu = "500m"                   # Kubernetes quantities, used as requests and limits
    memory = "256Mi"
    replicas = 1

Every table and key is optional; unknown keys and wrong types are refused. `parse_bundle_config` raises
`RequesterFault(INVALID_BUILD_CONFIG)` with a message naming each offending key.
"""

from __future__ import annotations

import decimal
import re
import tomllib
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from daas.errors import BuildFailureCode, RequesterFault

__all__ = [
    "CONFIG_FILE_NAME",
    "MAX_CONFIG_BYTES",
    "BuildConfig",
    "BundleConfig",
    "ImageConfig",
    "ResourcesConfig",
    "parse_bundle_config",
    "parse_quantity",
]

CONFIG_FILE_NAME = "daas.toml"
MAX_CONFIG_BYTES = 64 * 1024
_MAX_VARIABLES = 256
_MAX_VALUE_CHARS = 32 * 1024
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")
# Docker's stage names (moby/buildkit dockerfile parser), case-insensitive.
_STAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,127}")
# Kubernetes' quantity grammar (k8s.io/apimachinery/pkg/api/resource).
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?[0-9]+)?"
)
_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_CPU_CORES = 4096
_MAX_MEMORY_BYTES = 2**50  # 1 PiB
# Wide enough that no value within the limits is rounded.
_QUANTITY_CONTEXT = decimal.Context(prec=60)


def parse_quantity(text: str) -> decimal.Decimal:
    """The value of a Kubernetes quantity such as `500m`, `1.5`, `256Mi` or `1e3`; `ValueError` if malformed."""
    found = _QUANTITY.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number = decimal.Decimal(found["number"])
    suffix = found["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return _QUANTITY_CONTEXT.multiply(number, decimal.Decimal(1024) ** _BINARY_SUFFIXES[suffix])
    exponent = _DECIMAL_SUFFIXES[suffix] if suffix in _DECIMAL_SUFFIXES else int(suffix[1:])
    if abs(exponent) > 30:
        raise ValueError(f"{text!r} has an exponent out of range for a Kubernetes quantity")
    return _QUANTITY_CONTEXT.scaleb(number, exponent)


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("daas_toml", message)


def _quantity(value: str, kind: str, examples: str) -> decimal.Decimal:
    if _QUANTITY.fullmatch(value) is None:
        raise _fail(f"{value!r} is not a Kubernetes {kind} quantity (e.g. {examples})")
    try:
        return parse_quantity(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _check_cpu(value: str) -> str:
    cores = _quantity(value, "CPU", "500m, 1, 2.5")
    if cores <= 0 or cores > _MAX_CPU_CORES:
        raise _fail(f"{value!r} must be more than 0 and at most {_MAX_CPU_CORES} cores")
    if (cores * 1000) % 1:
        raise _fail(f"{value!r} is finer than 1m (one thousandth of a core)")
    return value


def _check_memory(value: str) -> str:
    size = _quantity(value, "memory", "256Mi, 1Gi")
    if value.endswith("m"):
        raise _fail(f"{value!r} means milli-bytes; write Mi for mebibytes")
    if size <= 0 or size > _MAX_MEMORY_BYTES:
        raise _fail(f"{value!r} must be more than 0 and at most 1Pi")
    if size % 1:
        raise _fail(f"{value!r} is not a whole number of bytes")
    return value


def _check_variables(kind: str) -> Any:
    def check(values: dict[str, str]) -> dict[str, str]:
        if len(values) > _MAX_VARIABLES:
            raise _fail(f"at most {_MAX_VARIABLES} {kind} are allowed")
        for name, value in values.items():
            if not _IDENTIFIER.fullmatch(name):
                raise _fail(f"{name!r} is not a valid {kind[:-1]} name (letters, digits, _)")
            if len(value) > _MAX_VALUE_CHARS or "\x00" in value:
                raise _fail(f"the value of {name!r} is longer than 32 KiB or contains NUL")
        return values

    return check


def _check_target(value: str) -> str:
    if not _STAGE_NAME.fullmatch(value):
        raise _fail(f"{value!r} is not a Dockerfile stage name")
    return value


BuildArgs = Annotated[dict[str, str], AfterValidator(_check_variables("build arguments"))]
EnvVars = Annotated[dict[str, str], AfterValidator(_check_variables("environment variables"))]
CpuQuantity = Annotated[str, AfterValidator(_check_cpu)]
MemoryQuantity = Annotated[str, AfterValidator(_check_memory)]
StageName = Annotated[str, AfterValidator(_check_target)]


class _Table(BaseModel):
    # TOML already has types: a port written as "8080" is a mistake, not something to coerce.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BuildConfig(_Table):
    """`[build]`: how Docker builds the image."""

    args: BuildArgs = Field(default_factory=dict)
    target: StageName | None = None


class ImageConfig(_Table):
    """`[image]`: how the image runs in the generated Kubernetes manifest."""

    port: int | None = Field(None, ge=1, le=65535)
    env: EnvVars = Field(default_factory=dict)


class ResourcesConfig(_Table):
    """`[resources]`: the Deployment's size; quantities are kept as written, for the manifest."""

    cpu: CpuQuantity | None = None
    memory: MemoryQuantity | None = None
    replicas: int = Field(1, ge=1, le=100)

    @property
    def cpu_millicores(self) -> int | None:
        return None if self.cpu is None else int(parse_quantity(self.cpu) * 1000)

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else int(parse_quantity(self.memory))


class BundleConfig(_Table):
    """The whole of `daas.toml`; `BundleConfig()` is the configuration of a bundle without one."""

    build: BuildConfig = Field(default_factory=BuildConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)


def _invalid(message: str) -> RequesterFault:
    return RequesterFault(BuildFailureCode.INVALID_BUILD_CONFIG, message)


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"] if part != "[key]")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] in {"model_type", "dict_type"}:
        return f"{key}: must be a table"
    if error["type"] == "daas_toml":
        return f"{key}: {error['msg']}"
    got = type(error["input"]).__name__
    return f"{key}: {error['msg'][0].lower()}{error['msg'][1:]} (got {got} {error['input']!r})"


def parse_bundle_config(data: bytes, *, name: str = CONFIG_FILE_NAME) -> BundleConfig:
    """Parse and validate a `daas.toml`; every problem is reported with its key."""
    if len(data) > MAX_CONFIG_BYTES:
        raise _invalid(f"{name} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"{name} is not valid UTF-8 (byte {exc.start})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _invalid(f"{name} is not valid TOML: {exc}") from None
    try:
        return BundleConfig.model_validate(document)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()]
        raise _invalid(f"invalid {name}: " + "; ".join(problems)) from None
