"""`task_group` reports a group's one real failure; teardown noise is never the verdict
(issue 19: a sandbox `BackendError` beside a receive loop's `BrokenResourceError`)."""

from __future__ import annotations

import anyio
import pytest
from anyio.streams.memory import MemoryObjectSendStream

from concurrency.taskgroups import is_teardown_noise, task_group, verdict_exception
from contract.failures import BackendError, FailureKind, ManagerError

pytestmark = pytest.mark.anyio


def sandbox_error() -> BackendError:
    return BackendError(FailureKind.SANDBOX_ERROR, "bwrap cannot start")


async def test_a_group_of_one_failure_comes_out_as_that_failure() -> None:
    err = sandbox_error()
    assert verdict_exception(ExceptionGroup("g", [err])) is err


async def test_a_classified_error_beside_a_broken_stream_is_the_verdict() -> None:
    err = sandbox_error()
    group = ExceptionGroup("g", [anyio.BrokenResourceError(), err])
    assert verdict_exception(group) is err


async def test_a_classified_error_nested_beside_every_kind_of_noise_is_the_verdict() -> None:
    err = sandbox_error()
    noise: list[BaseException] = [
        anyio.ClosedResourceError(),
        anyio.EndOfStream(),
        anyio.get_cancelled_exc_class()(),
    ]
    group = BaseExceptionGroup("outer", [BaseExceptionGroup("inner", noise), err])
    assert verdict_exception(group) is err


async def test_two_classified_errors_report_the_first() -> None:
    first = sandbox_error()
    second = ManagerError(FailureKind.LEASE_LOST, "lease revoked")
    group = ExceptionGroup("g", [first, anyio.BrokenResourceError(), second])
    assert verdict_exception(group) is first


async def test_an_unclassified_error_beside_a_classified_one_keeps_the_group() -> None:
    group = ExceptionGroup("g", [sandbox_error(), RuntimeError("bug")])
    assert verdict_exception(group) is None


async def test_a_lone_unclassified_error_beside_noise_is_the_verdict() -> None:
    bug = RuntimeError("bug")
    assert verdict_exception(ExceptionGroup("g", [bug, anyio.BrokenResourceError()])) is bug


async def test_a_group_of_only_noise_is_kept() -> None:
    group = ExceptionGroup("g", [anyio.BrokenResourceError(), anyio.ClosedResourceError()])
    assert verdict_exception(group) is None


async def test_cancellation_and_closed_streams_are_noise_and_runner_errors_are_not() -> None:
    assert is_teardown_noise(anyio.get_cancelled_exc_class()())
    assert is_teardown_noise(anyio.BrokenResourceError())
    assert not is_teardown_noise(sandbox_error())


async def test_a_body_failure_raced_by_a_task_on_a_closed_stream_comes_out_classified() -> None:
    send, receive = anyio.create_memory_object_stream[int](1)
    started = anyio.Event()

    async def producer(out: MemoryObjectSendStream[int]) -> None:
        try:
            started.set()
            await anyio.sleep_forever()
        finally:
            out.send_nowait(1)  # cancelled as the block fails; the reader has gone

    async def attempt() -> None:
        async with send, task_group() as tg:
            tg.start_soon(producer, send)
            await started.wait()
            receive.close()
            raise sandbox_error()

    with pytest.raises(BackendError) as caught:
        await attempt()
    assert caught.value.kind is FailureKind.SANDBOX_ERROR
