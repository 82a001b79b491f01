"""Path and query parameters shared by several routers, with their OpenAPI descriptions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

__all__ = ["DIGEST_PATTERN", "MAX_EVENT_ID", "OBJECT_ID_PATTERN", "RequestIdPath"]

# The largest id a BIGINT (and SQLite's INTEGER) holds: anything above is refused before the database.
MAX_EVENT_ID = 2**63 - 1

OBJECT_ID_PATTERN = r"^0[xX][0-9a-fA-F]{1,64}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"

RequestIdPath = Annotated[
    str,
    Path(
        description="the BuildRequest object id (0x and up to 64 hex digits)",
        pattern=OBJECT_ID_PATTERN,
        examples=["0x8f9d6a0b6f1e0c7b3c1d5e7f9a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b"],
    ),
]
