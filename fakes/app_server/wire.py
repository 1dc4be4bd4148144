"""The fake's stdio: client lines in, server lines out, in the real server's wire format.

Reading and writing never block the event loop: pipes are switched to non-blocking mode
and awaited with `anyio.wait_readable` / `anyio.wait_writable`, so a slow reader of our
stdout back-pressures the turn (a bounded queue) while `turn/interrupt` still gets read.
Lines are written by one task, in order, batched into large writes (a 100 000-delta flood
costs a few hundred system calls). Server messages follow Codex 0.169 (codex-app-server.md
§1): no `"jsonrpc"` member, `emittedAtMs` on every notification, and notifications the
client opted out of (`optOutNotificationMethods`, §2) are dropped.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

READ_CHUNK_BYTES = 256 * 1024
WRITE_BATCH_BYTES = 1024 * 1024
QUEUE_LINES = 512
"""Lines that may wait for the writer; beyond this, emitting waits (bounded memory)."""


def now_ms() -> int:
    """Unix time in milliseconds (`emittedAtMs`, `startedAtMs`, `completedAtMs`)."""
    return time.time_ns() // 1_000_000


def encode(message: dict[str, Any]) -> bytes:
    """One message as one compact JSON line (UTF-8, trailing newline)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _is_stream(fd: int) -> bool:
    """True for pipes and sockets, which can be polled (regular files cannot)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _Flush:
    """A marker in the output queue: set once everything queued before it is written."""

    def __init__(self) -> None:
        self.done = anyio.Event()


class Wire:
    """The server side of one stdio connection. Use `open_wire`.

    Attributes:
        opted_out: notification methods the client asked not to receive (§2).
    """

    def __init__(
        self,
        out_fd: int,
        send: MemoryObjectSendStream[bytes | _Flush],
    ) -> None:
        self._out_fd = out_fd
        self._send = send
        self._server_request_ids = 0
        self.opted_out: set[str] = set()

    async def write_line(self, line: bytes) -> None:
        """Queue raw bytes (one line, newline included) for stdout, in order."""
        try:
            self._send.send_nowait(line)
        except anyio.WouldBlock:
            await self._send.send(line)

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification `{"method", "params", "emittedAtMs"}` unless opted out."""
        if method in self.opted_out:
            return
        await self.write_line(encode({"method": method, "params": params, "emittedAtMs": now_ms()}))

    async def respond(self, request_id: Any, result: dict[str, Any]) -> None:
        """Answer a client request with `{"id", "result"}`."""
        await self.write_line(encode({"id": request_id, "result": result}))

    async def respond_error(self, request_id: Any, code: int, message: str) -> None:
        """Answer a client request with `{"error": {"code", "message"}, "id"}` (§1, §11)."""
        await self.write_line(
            encode({"error": {"code": code, "message": message}, "id": request_id})
        )

    async def server_request(self, method: str, params: dict[str, Any]) -> int:
        """Send a server→client request; returns its id (integers from 0 per connection, §1)."""
        request_id = self._server_request_ids
        self._server_request_ids += 1
        await self.write_line(encode({"method": method, "id": request_id, "params": params}))
        return request_id

    async def flush(self) -> None:
        """Wait until every line queued so far has been written to stdout."""
        marker = _Flush()
        await self._send.send(marker)
        await marker.done.wait()

    async def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._out_fd, view)
            except BlockingIOError:
                await anyio.wait_writable(self._out_fd)
                continue
            view = view[written:]

    async def _writer(self, receive: MemoryObjectReceiveStream[bytes | _Flush]) -> None:
        """Drain the queue into stdout in batches; a broken pipe ends the process quietly."""
        batch = bytearray()
        markers: list[_Flush] = []
        async with receive:
            async for first in receive:
                items: list[bytes | _Flush] = [first]
                size = 0 if isinstance(first, _Flush) else len(first)
                while size < WRITE_BATCH_BYTES and not isinstance(items[-1], _Flush):
                    try:
                        item = receive.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    items.append(item)
                    size += 0 if isinstance(item, _Flush) else len(item)
                for item in items:
                    if isinstance(item, _Flush):
                        markers.append(item)
                    else:
                        batch += item
                if batch:
                    try:
                        await self._write_all(bytes(batch))
                    except (BrokenPipeError, ConnectionResetError):
                        os._exit(0)
                    batch.clear()
                for marker in markers:
                    marker.done.set()
                markers.clear()


async def read_lines(in_fd: int) -> AsyncIterator[bytes]:
    """Yield stdin lines (without the newline) until EOF; the last unterminated line too."""
    polled = _is_stream(in_fd)
    pending = b""
    while True:
        if polled:
            try:
                chunk = os.read(in_fd, READ_CHUNK_BYTES)
            except BlockingIOError:
                await anyio.wait_readable(in_fd)
                continue
        else:
            chunk = await anyio.to_thread.run_sync(
                os.read, in_fd, READ_CHUNK_BYTES, abandon_on_cancel=True
            )
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line
    if pending:
        yield pending


@asynccontextmanager
async def open_wire(
    in_fd: int = 0, out_fd: int = 1, *, drain_seconds: float = 2.0
) -> AsyncIterator[Wire]:
    """Make the stdio pipes non-blocking and run the writer; drain it on exit.

    Args:
        in_fd: the client's lines (stdin).
        out_fd: where server lines go (stdout).
        drain_seconds: how long queued lines may take to be written at exit (a client
            that stopped reading must not keep the process alive).
    """
    for fd in (in_fd, out_fd):
        if _is_stream(fd):
            os.set_blocking(fd, False)
    send, receive = anyio.create_memory_object_stream[bytes | _Flush](QUEUE_LINES)
    wire = Wire(out_fd, send)
    drained = anyio.Event()

    async def writer() -> None:
        try:
            await wire._writer(receive)
        finally:
            drained.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        try:
            yield wire
        finally:
            send.close()
            with anyio.CancelScope(shield=True), anyio.move_on_after(drain_seconds):
                await drained.wait()
            tg.cancel_scope.cancel()
