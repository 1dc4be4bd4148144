"""The JSON-RPC session: correlation, timeouts, server requests always answered."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from adapters.codex.session import (
    BackendClosed,
    JsonRpcError,
    Notification,
    RequestTimeout,
    ServerRequest,
    open_session,
)
from adapters.codex.transport import ProtocolError, open_stdio_transport
from contract.failures import FailureKind

pytestmark = pytest.mark.anyio

PEER = Path(__file__).with_name("peer.py")
ENV = {"PATH": os.environ.get("PATH", "")}


def peer(mode: str) -> list[str]:
    return [sys.executable, str(PEER), mode]


async def refuse(request: ServerRequest) -> dict[str, Any]:
    raise JsonRpcError(request.method, -32601, "nope")


async def test_concurrent_requests_each_get_their_own_result() -> None:
    with anyio.fail_after(10):
        async with (
            open_stdio_transport(peer("echo"), env=ENV) as transport,
            open_session(transport, refuse) as session,
        ):
            results: dict[int, dict[str, Any]] = {}

            async def ask(n: int) -> None:
                results[n] = await session.request("m", {"n": n})

            async with anyio.create_task_group() as tg:
                for n in range(20):
                    tg.start_soon(ask, n)
    assert {n: r["echo"]["n"] for n, r in results.items()} == {n: n for n in range(20)}


async def test_a_request_the_backend_never_answers_times_out_as_a_protocol_error() -> None:
    with anyio.fail_after(10):
        async with (
            open_stdio_transport(peer("silent"), env=ENV, grace_seconds=0.1) as transport,
            open_session(transport, refuse) as session,
        ):
            with pytest.raises(RequestTimeout) as caught:
                await session.request("thread/start", {}, timeout_seconds=0.3)
    assert caught.value.kind is FailureKind.BACKEND_PROTOCOL_ERROR


async def test_a_pending_request_fails_with_backend_exited_when_the_backend_dies() -> None:
    with anyio.fail_after(10):
        async with (
            open_stdio_transport(peer("die"), env=ENV) as transport,
            open_session(transport, refuse) as session,
        ):
            with pytest.raises(BackendClosed) as caught:
                await session.request("turn/start", {})
    assert caught.value.kind is FailureKind.BACKEND_EXITED


@pytest.mark.parametrize(
    ("handler_result", "expected"),
    [
        ({"decision": "decline"}, {"id": 0, "result": {"decision": "decline"}}),
        (None, {"id": 0, "error": {"code": -32601, "message": "nope"}}),
        (RuntimeError("bug"), {"id": 0, "error": {"code": -32603}}),
    ],
)
async def test_every_server_request_is_answered_with_a_result_or_an_error(
    handler_result: Any, expected: dict[str, Any]
) -> None:
    async def handler(request: ServerRequest) -> dict[str, Any]:
        if isinstance(handler_result, Exception):
            raise handler_result
        if handler_result is None:
            return await refuse(request)
        assert isinstance(handler_result, dict)
        return handler_result

    with anyio.fail_after(10):
        async with (
            open_stdio_transport(peer("ask"), env=ENV) as transport,
            open_session(transport, handler) as session,
        ):
            got = await session.downstream.receive()
    assert isinstance(got, Notification)
    assert got.method == "peer/got"
    reply = got.params
    assert reply["id"] == expected["id"]
    if "result" in expected:
        assert reply["result"] == expected["result"]
    else:
        assert reply["error"]["code"] == expected["error"]["code"]


async def test_many_bad_lines_in_a_row_mark_the_session_broken_but_each_is_delivered() -> None:
    with anyio.fail_after(10):
        async with (
            open_stdio_transport(peer("garbage"), env=ENV) as transport,
            open_session(transport, refuse) as session,
        ):
            bad = [await session.downstream.receive() for _ in range(25)]
            broken = session.broken
    assert all(isinstance(b, ProtocolError) for b in bad)
    assert broken is not None
    assert broken.kind is FailureKind.BACKEND_PROTOCOL_ERROR
