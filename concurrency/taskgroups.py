"""`task_group()`: an anyio task group whose lone failure comes out as itself.

anyio 4 wraps every failure of a task group (body included) in an `ExceptionGroup`.
Where one error is the whole story — the usual case — callers want that error with its
failure kind, not a group; `task_group` re-raises a group holding exactly one leaf
exception as that exception, and anything else unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The only leaf exception of a (nested) exception group, or None if there are more."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else None


@asynccontextmanager
async def task_group() -> AsyncIterator[anyio.abc.TaskGroup]:
    """`anyio.create_task_group()`, unwrapping a single failure (see module doc)."""
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        sole = sole_exception(group)
        if sole is None:
            raise
        raise sole from sole.__cause__


async def first_of(*waits: Callable[[], Awaitable[object]]) -> None:
    """Run the waits concurrently; return as soon as any one of them returns."""
    async with task_group() as tg:

        async def one(wait: Callable[[], Awaitable[object]]) -> None:
            await wait()
            tg.cancel_scope.cancel()

        for wait in waits:
            tg.start_soon(one, wait)
