"""Build platforms (`os/arch[/variant]`): normalising names and deciding what this engine can build.

A runner builds only for its engine's own platform: no emulation (binfmt/QEMU) is set up on our hosts, and the
classic builder does not refuse a base image of another architecture by itself, it would just build a broken
image. So the check happens here, before anything reaches the engine.
"""

from __future__ import annotations

from daas.errors import BuildFailureCode, RequesterFault

__all__ = ["check_platform", "normalize_platform"]

# Kernel/uname spellings to the OCI ones.
_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}


def normalize_platform(text: str) -> str:
    """`os/arch` or `os/arch/variant`, lower case, with the OCI architecture names; `ValueError` if malformed."""
    parts = text.strip().lower().split("/")
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise ValueError(f"{text!r} is not a platform of the form os/arch[/variant]")
    parts[1] = _ARCH_ALIASES.get(parts[1], parts[1])
    # arm64's only variant is v8: "linux/arm64/v8" and "linux/arm64" are the same platform.
    if parts[1] == "arm64" and len(parts) == 3 and parts[2] == "v8":
        parts = parts[:2]
    return "/".join(parts)


def check_platform(requested: str, native: str) -> str:
    """The normalised `requested` platform when the engine (`native`) builds it, else `RequesterFault`."""
    try:
        wanted = normalize_platform(requested)
    except ValueError as exc:
        raise RequesterFault(BuildFailureCode.UNSUPPORTED_PLATFORM, str(exc)) from exc
    own = normalize_platform(native)
    if wanted != own:
        raise RequesterFault(
            BuildFailureCode.UNSUPPORTED_PLATFORM,
            f"platform {requested!r} is not supported: this runner builds only {own}",
        )
    return wanted
