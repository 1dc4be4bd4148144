"""`task_group()`: an anyio task group whose lone failure comes out as itself; `deferred`.

anyio 4 wraps every failure of a task group (body included) in an `ExceptionGroup`.
Where one error is the whole story — the usual case — callers want that error with its
failure kind, not a group; `task_group` re-raises a group holding exactly one leaf
exception as that exception, and anything else unchanged.

`deferred(tg, func, catch=...)` starts work now and hands back a wait for its result,
holding an expected error until someone waits (e.g. Codex's handshake while the
workspace is fetched), so that error does not cancel the work beside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.abc

T = TypeVar("T")


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


def deferred(
    tg: anyio.abc.TaskGroup,
    func: Callable[[], Awaitable[T]],
    *,
    catch: type[BaseException] | tuple[type[BaseException], ...],
) -> Callable[[], Awaitable[T]]:
    """Start `func()` in `tg` now; return a wait for its result.

    The wait returns what `func` returned, or raises what it raised if that is one of
    `catch` (held until then: it does not fail `tg`). Any other exception fails `tg` as
    usual. Waiting is optional; if `tg` is cancelled first, the wait never returns.
    """
    done = anyio.Event()
    outcome: list[T] = []
    failure: list[BaseException] = []

    async def run() -> None:
        try:
            outcome.append(await func())
        except catch as exc:
            failure.append(exc)
        done.set()

    async def wait() -> T:
        await done.wait()
        if failure:
            raise failure[0]
        return outcome[0]

    tg.start_soon(run)
    return wait
