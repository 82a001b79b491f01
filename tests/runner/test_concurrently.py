"""`runner.pipeline._concurrently`: the export step's side-by-side calls, and how their failures surface."""

from __future__ import annotations

import anyio
import pytest

from daas.errors import BuildFailureCode, InfrastructureFault
from runner.pipeline import _concurrently

pytestmark = pytest.mark.anyio


async def test_results_in_order_while_running_side_by_side() -> None:
    started: list[str] = []
    both = anyio.Event()

    async def first() -> str:
        started.append("first")
        await both.wait()
        return "a"

    async def second() -> int:
        started.append("second")
        await both.wait()
        return 2

    async def third() -> None:
        both.set()  # were the calls made one after the other, `first` would wait for ever

    with anyio.fail_after(5):
        assert await _concurrently(first, second, third) == ("a", 2, None)
    assert sorted(started) == ["first", "second"]


async def test_first_failure_is_raised_as_itself_and_the_rest_cancelled() -> None:
    cancelled = anyio.Event()

    async def slow() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    async def failing() -> None:
        raise InfrastructureFault(BuildFailureCode.BLOB_STORE_UNAVAILABLE, "walrus is down")

    with anyio.fail_after(5), pytest.raises(InfrastructureFault, match="walrus is down"):
        await _concurrently(slow, failing, slow)
    assert cancelled.is_set()
