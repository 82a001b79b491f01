"""Source bundles: what `daas submit` uploads and the runner builds.

A bundle is a gzip-wrapped tar archive of a Docker build context, packed deterministically (the same files give
the same bytes, and so the same on-chain sha256, everywhere) and unpacked defensively. The format is specified in
`docs/bundle.md`.

    with pack_directory("examples/hello") as bundle:           # client side
        blob = await walrus.store(bundle.read_bytes())

    unpacked = unpack_bundle(                                   # runner side
        path, work_dir / "context",
        expected_sha256=spec.source_sha256, expected_size=None,
        limits=BundleLimits.from_settings(settings.runner), dockerfile=spec.dockerfile_path,
    )
"""

from __future__ import annotations

from daas.bundle.config import (
    BuildConfig,
    BundleConfig,
    ImageConfig,
    ResourcesConfig,
    parse_bundle_config,
)
from daas.bundle.ignore import IgnorePatternError, PatternMatcher, read_ignore_patterns
from daas.bundle.limits import BundleLimits
from daas.bundle.pack import (
    BundleEntry,
    PackedBundle,
    PackError,
    PackProgress,
    collect_entries,
    pack_directory,
)
from daas.bundle.paths import EntryKind
from daas.bundle.unpack import UnpackedBundle, unpack_bundle

__all__ = [
    "BuildConfig",
    "BundleConfig",
    "BundleEntry",
    "BundleLimits",
    "EntryKind",
    "IgnorePatternError",
    "ImageConfig",
    "PackError",
    "PackProgress",
    "PackedBundle",
    "PatternMatcher",
    "ResourcesConfig",
    "UnpackedBundle",
    "collect_entries",
    "pack_directory",
    "parse_bundle_config",
    "read_ignore_patterns",
    "unpack_bundle",
]
