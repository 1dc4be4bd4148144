"""`deferred`: work started now, its result (or expected error) taken later."""

from __future__ import annotations

import anyio
import pytest

from concurrency.taskgroups import deferred, task_group

pytestmark = pytest.mark.anyio


class Expected(Exception):
    pass


async def test_the_wait_returns_the_result_of_work_that_ran_alongside() -> None:
    order: list[str] = []
    started = anyio.Event()

    async def work() -> int:
        order.append("work")
        started.set()
        return 7

    async with task_group() as tg:
        wait = deferred(tg, work, catch=Expected)
        await started.wait()
        order.append("body")
        assert await wait() == 7
    assert order == ["work", "body"]


async def test_an_expected_error_is_held_until_the_wait_and_spares_the_work_beside_it() -> None:
    async def work() -> None:
        raise Expected("late")

    async with task_group() as tg:
        wait = deferred(tg, work, catch=Expected)
        for _ in range(10):
            await anyio.lowlevel.checkpoint()  # the body goes on: nothing cancelled it
        with pytest.raises(Expected, match="late"):
            await wait()


async def test_an_unexpected_error_fails_the_task_group() -> None:
    async def work() -> None:
        raise KeyError("bug")

    async def group() -> None:
        async with task_group() as tg:
            deferred(tg, work, catch=Expected)
            await anyio.sleep_forever()

    with pytest.raises(KeyError):
        await group()
