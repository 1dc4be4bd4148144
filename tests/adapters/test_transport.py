"""The stdio transport: lines in, bad lines as values, bounded teardown."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import psutil
import pytest

from adapters.codex.transport import ProtocolError, open_stdio_transport

pytestmark = pytest.mark.anyio

PEER = Path(__file__).with_name("peer.py")
ENV = {"PATH": os.environ.get("PATH", "")}


def peer(mode: str) -> list[str]:
    return [sys.executable, str(PEER), mode]


async def test_a_bad_line_is_a_value_and_a_one_megabyte_line_arrives_whole() -> None:
    with anyio.fail_after(10):
        async with open_stdio_transport(peer("lines"), env=ENV) as transport:
            received = [m async for m in transport.incoming]
    assert isinstance(received[0], ProtocolError)
    assert received[0].reason.startswith("invalid JSON")
    assert isinstance(received[1], dict)
    assert len(received[1]["params"]["text"]) == 1_000_000
    assert isinstance(received[2], ProtocolError)
    assert "not a JSON object" in received[2].reason
    assert len(received) == 3


async def test_eof_on_stdout_ends_the_incoming_stream() -> None:
    with anyio.fail_after(10):
        async with open_stdio_transport(peer("echo"), env=ENV) as transport:
            await transport.close_stdin()
            assert [m async for m in transport.incoming] == []
            assert transport.stdout_closed.is_set()


async def test_teardown_kills_the_whole_process_group_of_a_child_that_ignores_sigterm() -> None:
    with anyio.fail_after(15):
        async with open_stdio_transport(peer("silent"), env=ENV, grace_seconds=0.2) as transport:
            hello = await transport.incoming.receive()
            assert isinstance(hello, dict)
            grandchild = psutil.Process(hello["params"]["pid"])
            leader = psutil.Process(transport.pid)
    assert transport.process.returncode is not None
    assert not leader.is_running() or leader.status() == psutil.STATUS_ZOMBIE
    with anyio.fail_after(10):
        await anyio.to_thread.run_sync(grandchild.wait, 5)


async def test_stderr_is_drained_and_only_its_tail_is_kept_without_colours() -> None:
    with anyio.fail_after(10):
        async with open_stdio_transport(peer("stderr"), env=ENV) as transport:
            await transport.process.wait()
            await transport.stderr_closed.wait()
    tail = transport.stderr_tail
    assert len(tail.lines) == 200
    assert tail.text(1) == "line 299"
    assert "\x1b" not in tail.text(200)
