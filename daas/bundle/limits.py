"""`BundleLimits`: what a bundle may weigh, shared by the packer (refuse early) and the unpacker (enforce)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daas.config import RunnerSettings

__all__ = ["BundleLimits"]

# Tar overhead the decompressed stream may carry besides file data: headers, pax records and padding per
# entry, plus the zero padding tar tools add at the end.
_OVERHEAD_PER_ENTRY = 4096
_TRAILING_ALLOWANCE = 1024 * 1024


@dataclass(frozen=True)
class BundleLimits:
    """Compressed bytes, unpacked file bytes, and entries (files, directories and links) of a bundle."""

    max_bundle_bytes: int
    max_unpacked_bytes: int
    max_files: int

    @classmethod
    def from_settings(cls, runner: RunnerSettings) -> BundleLimits:
        return cls(
            max_bundle_bytes=runner.max_bundle_bytes,
            max_unpacked_bytes=runner.max_unpacked_bytes,
            max_files=runner.max_files,
        )

    @property
    def max_stream_bytes(self) -> int:
        """The cap on decompressed tar bytes: file data plus a bounded overhead per entry."""
        return (
            self.max_unpacked_bytes
            + (self.max_files + 16) * _OVERHEAD_PER_ENTRY
            + _TRAILING_ALLOWANCE
        )
