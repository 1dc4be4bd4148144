"""JSON-RPC over a `StdioTransport`: id correlation, server requests, notifications.

The session works on plain `method`/`params` dicts and knows no Codex method names.
One receive loop reads the transport: responses resolve the matching pending request,
server→client requests go to a handler whose answer (or error) is always sent back (an
unanswered Codex server request blocks its turn forever, codex-app-server.md §6),
notifications and bad lines go downstream on a bounded stream. Wire facts as observed on
Codex 0.169: server messages carry no `"jsonrpc"` field, server request ids are integers
from 0 per connection, error codes are mostly -32600 (codex-app-server.md §1, §11).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from adapters.codex.transport import Incoming, ProtocolError, StdioTransport
from concurrency.streams import put, take
from concurrency.taskgroups import task_group
from contract.failures import BackendError, FailureKind

log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT_SECONDS = 60.0
MAX_CONSECUTIVE_PROTOCOL_ERRORS = 20
"""Bad lines in a row after which the backend is declared broken (`backend-protocol-error`)."""


class JsonRpcError(Exception):
    """The backend answered a request with a JSON-RPC error object.

    Attributes:
        code: the JSON-RPC error code (Codex 0.169 mostly uses -32600).
        message: the error message as Codex sent it.
        data: the optional `data` member.
    """

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class BackendClosed(BackendError):
    """The backend's stdout closed (it exited) while something waited on it."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureKind.BACKEND_EXITED, message)


class RequestTimeout(BackendError):
    """The backend did not answer a request in time."""

    def __init__(self, method: str, timeout_seconds: float) -> None:
        super().__init__(
            FailureKind.BACKEND_PROTOCOL_ERROR,
            f"{method}: no answer from the backend within {timeout_seconds:g} s",
            detail={"method": method, "timeoutSeconds": timeout_seconds},
        )
        self.method = method


@dataclass(frozen=True)
class Notification:
    """A server notification: `method`, `params`, and the raw message."""

    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ServerRequest:
    """A server→client request the handler must answer."""

    id: int | str
    method: str
    params: dict[str, Any]


ServerRequestHandler = Callable[[ServerRequest], Awaitable[dict[str, Any]]]
"""Answers a server request with a `result` object; raising `JsonRpcError` sends an error."""

Downstream = Notification | ProtocolError


class _Pending:
    __slots__ = ("done", "error", "method", "result")

    def __init__(self, method: str) -> None:
        self.method = method
        self.done = anyio.Event()
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None


class JsonRpcSession:
    """Client side of one JSON-RPC connection. Use `open_session`.

    Attributes:
        downstream: notifications and bad lines in arrival order; closed when the
            backend's stdout closes. Bounded: a slow consumer slows the reader.
        protocol_errors: bad lines seen so far.
    """

    def __init__(
        self,
        transport: StdioTransport,
        handler: ServerRequestHandler,
        downstream_send: MemoryObjectSendStream[Downstream],
        downstream: MemoryObjectReceiveStream[Downstream],
    ) -> None:
        self.transport = transport
        self.downstream = downstream
        self._downstream_send = downstream_send
        self._handler = handler
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._closed_reason: str | None = None
        self.protocol_errors = 0
        self._consecutive_bad = 0
        self.broken: BackendError | None = None

    @property
    def closed(self) -> bool:
        """True once the backend's stdout has closed."""
        return self._closed_reason is not None

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
    ) -> dict[str, Any]:
        """Send a request and wait for its result.

        Args:
            method: e.g. `thread/start`.
            params: the params object, or None to omit it.
            timeout_seconds: how long to wait for the answer; `math.inf` for no bound.

        Returns:
            The `result` object.

        Raises:
            JsonRpcError: the backend answered with an error.
            RequestTimeout: no answer in time (`backend-protocol-error`).
            BackendClosed: the backend exited before answering (`backend-exited`).
        """
        if self._closed_reason is not None:
            raise BackendClosed(f"{method}: {self._closed_reason}")
        request_id = next(self._ids)
        pending = self._pending[request_id] = _Pending(method)
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = dict(params)
        try:
            try:
                await self.transport.send(message)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise BackendClosed(f"{method}: backend stdin is closed") from exc
            with anyio.move_on_after(timeout_seconds if math.isfinite(timeout_seconds) else None):
                await pending.done.wait()
            if not pending.done.is_set():
                raise RequestTimeout(method, timeout_seconds)
        finally:
            self._pending.pop(request_id, None)
        if pending.error is not None:
            raise pending.error
        return pending.result or {}

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        """Send a notification (no answer expected), e.g. `initialized`."""
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = dict(params)
        try:
            await self.transport.send(message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise BackendClosed(f"{method}: backend stdin is closed") from exc

    async def _answer(self, request: ServerRequest) -> None:
        try:
            result = await self._handler(request)
            reply: dict[str, Any] = {"id": request.id, "result": result}
        except JsonRpcError as exc:
            reply = {"id": request.id, "error": {"code": exc.code, "message": exc.message}}
        except Exception as exc:
            log.exception("server request handler failed for %s", request.method)
            reply = {
                "id": request.id,
                "error": {
                    "code": -32603,
                    "message": f"runner could not answer: {type(exc).__name__}",
                },
            }
        try:
            await self.transport.send(reply)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            log.debug("could not answer server request %s: stdin closed", request.id)

    async def _receive_loop(self, tg: anyio.abc.TaskGroup) -> None:
        try:
            while True:
                try:
                    message = await take(self.transport.incoming)
                except anyio.EndOfStream:
                    break
                try:
                    await self._dispatch(message, tg)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    # The consumer closed its end (`open_session` is being left): the
                    # session is over, not failed (issue 19).
                    break
        finally:
            self._closed_reason = "the backend's stdout closed (it exited)"
            for pending in list(self._pending.values()):
                if not pending.done.is_set():
                    pending.error = BackendClosed(self._closed_reason)
                    pending.done.set()
            self._downstream_send.close()

    async def _dispatch(self, message: Incoming, tg: anyio.abc.TaskGroup) -> None:
        if isinstance(message, ProtocolError):
            await self._bad_line(message)
            return
        method = message.get("method")
        has_id = "id" in message
        if isinstance(method, str) and has_id:
            self._consecutive_bad = 0
            params = message.get("params")
            request = ServerRequest(
                message["id"], method, params if isinstance(params, dict) else {}
            )
            tg.start_soon(self._answer, request)
        elif isinstance(method, str):
            self._consecutive_bad = 0
            params = message.get("params")
            await put(
                self._downstream_send,
                Notification(method, params if isinstance(params, dict) else {}),
            )
        elif has_id and ("result" in message or "error" in message):
            self._consecutive_bad = 0
            self._resolve(message)
        else:
            await self._bad_line(
                ProtocolError("neither request, notification nor response", str(message)[:200], 0)
            )

    def _resolve(self, message: dict[str, Any]) -> None:
        request_id = message["id"]
        pending = self._pending.get(request_id) if isinstance(request_id, int) else None
        if pending is None:
            log.warning("response to unknown request id %r ignored", request_id)
            return
        error = message.get("error")
        if error is not None:
            err = error if isinstance(error, dict) else {"message": str(error)}
            code = err.get("code")
            pending.error = JsonRpcError(
                pending.method,
                code if isinstance(code, int) else -32603,
                str(err.get("message", "")),
                err.get("data"),
            )
        else:
            result = message.get("result")
            pending.result = result if isinstance(result, dict) else {"value": result}
        pending.done.set()

    async def _bad_line(self, error: ProtocolError) -> None:
        self.protocol_errors += 1
        self._consecutive_bad += 1
        await self._downstream_send.send(error)
        if self._consecutive_bad >= MAX_CONSECUTIVE_PROTOCOL_ERRORS and self.broken is None:
            self.broken = BackendError(
                FailureKind.BACKEND_PROTOCOL_ERROR,
                f"{self._consecutive_bad} consecutive lines from the backend were not "
                f"protocol messages (last: {error.reason})",
                detail={"protocolErrors": self.protocol_errors},
            )


@asynccontextmanager
async def open_session(
    transport: StdioTransport,
    handler: ServerRequestHandler,
    *,
    buffer_notifications: int = 1024,
) -> AsyncIterator[JsonRpcSession]:
    """Run a session's receive loop over `transport` for the duration of the block.

    Args:
        transport: an open stdio transport.
        handler: answers every server→client request.
        buffer_notifications: bound of the downstream stream (back-pressure beyond it).
    """
    send, receive = anyio.create_memory_object_stream[Downstream](buffer_notifications)
    session = JsonRpcSession(transport, handler, send, receive)
    async with task_group() as tg:
        tg.start_soon(session._receive_loop, tg)
        try:
            yield session
        finally:
            tg.cancel_scope.cancel()
            receive.close()
