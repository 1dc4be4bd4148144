"""`task_group()`: an anyio task group whose one real failure comes out as itself; `deferred`.

anyio 4 wraps every failure of a task group (body included) in an `ExceptionGroup`.
Where one error is the whole story — the usual case — callers want that error with its
failure kind, not a group; `task_group` re-raises the group's `verdict_exception`:

1. a group holding exactly one leaf exception: that exception;
2. otherwise, leaves that are only teardown noise (`is_teardown_noise`: a stream closed
   or broken under a task, an end of stream, a cancellation) do not count: the one
   leaf left is the failure;
3. otherwise, when every leaf left is a verdict (its class sets `VERDICT_MARKER` true,
   as `contract.failures.RunnerError` does), the first of them;
4. anything else (two unrelated failures, only noise) re-raises the group unchanged.

Issue 19: a sandbox preflight's `BackendError` arrived beside a `BrokenResourceError`
of the session's receive loop and was reported as `runner-internal-error`.

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


VERDICT_MARKER = "is_verdict"
"""Class attribute naming an exception a classified failure (rule 3 of the module doc);
`concurrency` imports no project package, so the root error opts in with it."""

TEARDOWN_NOISE: tuple[type[BaseException], ...] = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)
"""What a task raises when the stream it used was closed under it as its block ends."""


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The leaf exceptions of a (nested) exception group, depth first, in order."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(leaves(exc))
        else:
            found.append(exc)
    return found


def is_teardown_noise(exc: BaseException) -> bool:
    """Whether `exc` is teardown noise: `TEARDOWN_NOISE` or a cancellation (any backend).

    Call it from async code (anyio names the running backend's cancellation class);
    outside an event loop only `TEARDOWN_NOISE` counts.
    """
    if isinstance(exc, TEARDOWN_NOISE):
        return True
    try:
        cancelled = anyio.get_cancelled_exc_class()
    except Exception:  # no event loop: nothing is a cancellation
        return False
    return isinstance(exc, cancelled)


def is_verdict(exc: BaseException) -> bool:
    """Whether `exc`'s class marks it as a classified failure (`VERDICT_MARKER`)."""
    return getattr(exc, VERDICT_MARKER, False) is True


def verdict_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one failure a group stands for (rules 1-3 of the module doc), or None."""
    found = leaves(group)
    if len(found) == 1:
        return found[0]
    real = [exc for exc in found if not is_teardown_noise(exc)]
    if len(real) == 1:
        return real[0]
    if real and all(is_verdict(exc) for exc in real):
        return real[0]
    return None


@asynccontextmanager
async def task_group() -> AsyncIterator[anyio.abc.TaskGroup]:
    """`anyio.create_task_group()`, unwrapping the group's one failure (see module doc)."""
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        verdict = verdict_exception(group)
        if verdict is None:
            raise
        raise verdict from verdict.__cause__


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
