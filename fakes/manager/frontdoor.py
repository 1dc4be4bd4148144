"""The raw ASGI layer in front of the routes: record, slow down, fail, authenticate.

It reads the whole body once, records the request (and later its answer), applies the
transport knobs, checks the bearer token (§1: every request carries
`Authorization: Bearer <token>`) and replays the body to the routes. An abrupt close
needs the socket: uvicorn's `send` is a bound method of its request cycle, whose
`transport` is aborted with `SO_LINGER` 0, so the client gets a TCP reset.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fakes.manager.clock import Clock
from fakes.manager.errors import error_body
from fakes.manager.knobs import FaultRule, Knobs
from fakes.manager.recording import RecordedRequest
from fakes.serving import reset_connection


class FrontDoor:
    """ASGI middleware applying knobs, auth and recording to every HTTP request.

    Args:
        app: the routes.
        token: the bearer token every request must carry.
        knobs: the fault-injection rules, read per request.
        clock: the fake clock, for `received_at`.
        requests: the list each `RecordedRequest` is appended to.
        on_change: called after a request is recorded and after it is answered.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        knobs: Knobs,
        clock: Clock,
        requests: list[RecordedRequest],
        on_change: Callable[[], None],
    ) -> None:
        self.app = app
        self.token = token
        self.knobs = knobs
        self.clock = clock
        self.requests = requests
        self.on_change = on_change

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        body = await _read_body(receive)
        record = RecordedRequest(
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            body=_try_json(body),
            received_at=self.clock.now(),
            monotonic=time.monotonic(),
        )
        self.requests.append(record)
        self.on_change()
        try:
            await self._dispatch(scope, receive, send, body, record)
        finally:
            self.on_change()

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, record: RecordedRequest
    ) -> None:
        method, path = record.method, record.path
        latency = self.knobs.latency_for(method, path)
        if latency > 0:
            await anyio.sleep(latency)
        fault = self.knobs.take_fault(method, path)
        if fault is not None and fault.kind == "reset":
            record.fault = "reset"
            await reset_connection(receive, send)
            return
        if fault is not None and fault.kind == "body":
            record.fault = "body"
            record.status = fault.status
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(fault.body)).encode()),
            ]
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": fault.body, "more_body": False})
            return
        if fault is not None:
            record.fault = "status"
            await _send_fault(send, fault, record)
            return
        if not self._authorized(scope):
            answer = error_body("unauthorized", "missing or wrong bearer token")
            headers = [(b"www-authenticate", b"Bearer")]
            await _send_json(send, 401, answer, record, headers)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    record.response = _try_json(b"".join(chunks))
            await send(message)

        await self.app(scope, replay, capture)

    def _authorized(self, scope: Scope) -> bool:
        expected = f"Bearer {self.token}".encode()
        values = [v for k, v in scope.get("headers", []) if k.lower() == b"authorization"]
        return len(values) == 1 and hmac.compare_digest(values[0], expected)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _try_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def _send_json(
    send: Send,
    status: int,
    answer: dict[str, Any],
    record: RecordedRequest,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    payload = json.dumps(answer, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *(extra_headers or []),
    ]
    record.status = status
    record.response = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _send_fault(send: Send, fault: FaultRule, record: RecordedRequest) -> None:
    headers: list[tuple[bytes, bytes]] = []
    if fault.retry_after_seconds is not None:
        headers.append((b"retry-after", str(fault.retry_after_seconds).encode()))
    answer = error_body("injected-fault", f"fake manager knob: HTTP {fault.status}")
    await _send_json(send, fault.status, answer, record, headers)
