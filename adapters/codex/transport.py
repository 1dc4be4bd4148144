"""Newline-delimited JSON over a child process's stdio, and nothing more.

The transport spawns the child in a new session (its own process group), turns its
stdout into a stream of `dict | ProtocolError` values (one per line, no 64 KiB line
limit, a bad line is a value and not a crash), writes one JSON object per line to its
stdin, drains stderr keeping a bounded tail for diagnostics, and tears the child down
with a shielded, bounded escalation: close stdin → grace → SIGTERM the group → SIGKILL
the group → reap. It knows no method names (style.md, Layers 1, 2 and 5).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from concurrency.streams import put
from concurrency.taskgroups import task_group

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 256 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024
"""A line longer than this is dropped as one `ProtocolError` (memory stays bounded)."""
STDERR_TAIL_LINES = 200
PREVIEW_CHARS = 200
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class ProtocolError:
    """One stdout line that is not a JSON object.

    Attributes:
        reason: why it was refused (`invalid JSON: …`, `not an object`, `line too long`).
        preview: the first characters of the line, for diagnostics (may hold anything the
            backend printed: mask before reporting).
        size_bytes: the line's length in bytes.
    """

    reason: str
    preview: str
    size_bytes: int


Incoming = dict[str, Any] | ProtocolError


@dataclass
class StderrTail:
    """The last lines the child wrote on stderr, ANSI colours stripped."""

    lines: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_TAIL_LINES))

    def text(self, max_lines: int = 20) -> str:
        """The last `max_lines` lines joined by newlines."""
        return "\n".join(list(self.lines)[-max_lines:])


def parse_line(line: bytes) -> Incoming:
    """Decode one stdout line into a JSON object, or say what is wrong with it.

    orjson first (about 2× the standard parser on Codex's lines); what orjson refuses is
    retried with the standard parser, which is more lenient (e.g. integers beyond 64
    bits, NaN), so the choice of parser never turns a line into an error.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            return ProtocolError(f"invalid JSON: {exc}", _preview(line), len(line))
    if not isinstance(value, dict):
        return ProtocolError(
            f"not a JSON object but {type(value).__name__}", _preview(line), len(line)
        )
    return value


def _preview(line: bytes) -> str:
    return line[:PREVIEW_CHARS].decode("utf-8", errors="replace")


async def spawn_process(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None
) -> anyio.abc.Process:
    """Start the child with piped stdio in a new session (its own process group).

    Raises:
        OSError: the executable is missing or not executable.
    """
    return await anyio.open_process(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )


def kill_process_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group led by `pid`; a group already gone is fine."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class StdioTransport:
    """A running child whose stdout lines arrive on `incoming`.

    Use `open_stdio_transport`; do not construct directly.

    Attributes:
        process: the child process (its pid leads its own process group).
        incoming: one `dict | ProtocolError` per stdout line; closed at EOF.
        stderr_tail: the last stderr lines.
    """

    def __init__(
        self,
        process: anyio.abc.Process,
        incoming: MemoryObjectReceiveStream[Incoming],
    ) -> None:
        self.process = process
        self.incoming = incoming
        self.stderr_tail = StderrTail()
        self.stdout_closed = anyio.Event()
        self.stderr_closed = anyio.Event()
        self.grace_seconds = 2.0
        """How long the child gets after stdin EOF before SIGTERM (may be lowered)."""
        self.term_seconds = 2.0
        """How long the group gets after SIGTERM before SIGKILL (may be lowered)."""
        self._send_lock = anyio.Lock()

    @property
    def pid(self) -> int:
        """The child's pid (also its process group id)."""
        return self.process.pid

    async def send(self, message: Mapping[str, Any]) -> None:
        """Write one JSON object as one line on the child's stdin.

        Raises:
            anyio.BrokenResourceError, anyio.ClosedResourceError: stdin is closed.
        """
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        stdin = self.process.stdin
        assert stdin is not None
        async with self._send_lock:
            await stdin.send(data)

    async def _pump_stdout(self, send: MemoryObjectSendStream[Incoming]) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        buffer = bytearray()
        skipping = False
        async with send:
            try:
                while True:
                    try:
                        chunk = await stdout.receive(READ_CHUNK_BYTES)
                    except (
                        anyio.EndOfStream,
                        anyio.ClosedResourceError,
                        anyio.BrokenResourceError,
                    ):
                        break
                    start = 0
                    while (nl := chunk.find(b"\n", start)) >= 0:
                        piece = chunk[start:nl]
                        start = nl + 1
                        if skipping:
                            skipping = False
                            buffer.clear()
                            continue
                        if buffer:
                            buffer += piece
                            line = bytes(buffer)
                            buffer.clear()
                        else:
                            line = piece
                        if line.strip():
                            await put(send, parse_line(line))
                    if not skipping:
                        buffer += chunk[start:]
                        if len(buffer) > MAX_LINE_BYTES:
                            await send.send(
                                ProtocolError(
                                    f"line longer than {MAX_LINE_BYTES} bytes",
                                    _preview(bytes(buffer[:PREVIEW_CHARS])),
                                    len(buffer),
                                )
                            )
                            buffer.clear()
                            skipping = True
                if buffer.strip() and not skipping:
                    await send.send(parse_line(bytes(buffer)))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the reader closed its end: the transport is being left (issue 19)
            finally:
                self.stdout_closed.set()

    async def _pump_stderr(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None
        pending = b""
        while True:
            try:
                chunk = await stderr.receive(READ_CHUNK_BYTES)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > 64 * 1024:
                lines.append(pending[:4096])
                pending = b""
            for raw in lines:
                text = _ANSI.sub("", raw.decode("utf-8", errors="replace")).rstrip()
                if text:
                    self.stderr_tail.lines.append(text[:2000])
        if pending.strip():
            self.stderr_tail.lines.append(_ANSI.sub("", pending.decode(errors="replace"))[:2000])
        self.stderr_closed.set()

    async def close_stdin(self) -> None:
        """Close the child's stdin (Codex exits on stdin EOF, codex-app-server.md §11)."""
        stdin = self.process.stdin
        if stdin is not None:
            with suppress(anyio.BrokenResourceError, OSError):
                await stdin.aclose()

    async def shutdown(
        self, *, grace_seconds: float | None = None, term_seconds: float | None = None
    ) -> int | None:
        """Stop the child: close stdin → grace → SIGTERM group → SIGKILL group → reap.

        Shielded and bounded: returns within about `grace_seconds + term_seconds + 2`
        seconds whatever the child does.

        Args:
            grace_seconds: wait after stdin EOF; default `self.grace_seconds`.
            term_seconds: wait after SIGTERM before SIGKILL; default `self.term_seconds`.

        Returns:
            The child's return code (negative for a signal), or None if not reaped.
        """
        if grace_seconds is None:
            grace_seconds = self.grace_seconds
        if term_seconds is None:
            term_seconds = self.term_seconds
        with anyio.CancelScope(shield=True):
            await self.close_stdin()
            with anyio.move_on_after(grace_seconds):
                await self.process.wait()
            if self.process.returncode is None:
                kill_process_group(self.pid, signal.SIGTERM)
                with anyio.move_on_after(term_seconds):
                    await self.process.wait()
            # Whatever the leader did, nothing of its group may survive it.
            kill_process_group(self.pid, signal.SIGKILL)
            with anyio.move_on_after(2.0):
                await self.process.wait()
        return self.process.returncode


@asynccontextmanager
async def open_stdio_transport(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    buffer_messages: int = 256,
    grace_seconds: float = 2.0,
) -> AsyncIterator[StdioTransport]:
    """Spawn `argv` and yield its transport; on exit, shut the child down (bounded).

    Args:
        argv: the command, e.g. `[codex, "app-server"]`.
        env: the child's whole environment (nothing is inherited implicitly).
        cwd: the child's working directory.
        buffer_messages: how many parsed lines may wait for the reader (back-pressure:
            when full, stdout is no longer read and the child blocks on its writes).
        grace_seconds: how long the child gets to exit after stdin closes.

    Raises:
        OSError: spawning failed (missing or non-executable binary).
    """
    process = await spawn_process(argv, env=env, cwd=cwd)
    send, receive = anyio.create_memory_object_stream[Incoming](buffer_messages)
    transport = StdioTransport(process, receive)
    transport.grace_seconds = grace_seconds
    try:
        async with task_group() as tg:
            tg.start_soon(transport._pump_stdout, send)
            tg.start_soon(transport._pump_stderr)
            try:
                yield transport
            finally:
                await transport.shutdown()
                receive.close()
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await process.aclose()
