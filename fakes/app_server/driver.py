"""A raw stdio client for app-servers (the fake or the real Codex), for tests.

It sees every line the server writes, in order, before any interpretation: each one
goes to an `observe` callback (a schema validator, a recorder, a counter), server
requests are answered by an `answer` callback, and the test waits for what it needs with
`request`, `until` and `until_eof`. Nothing is kept beyond the message being looked at,
so a 100 000-delta flood costs constant memory. It reuses the runner's stdio transport
(`adapters.codex.transport`) for spawning, line splitting and teardown only.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from adapters.codex.transport import Incoming, ProtocolError, StdioTransport, open_stdio_transport

Observe = Callable[[Incoming], None]
Answer = Callable[[str, dict[str, Any]], dict[str, Any] | None]
"""`(method, params) -> result`, or None to answer with a JSON-RPC error."""


class ServerExited(Exception):
    """The server's stdout closed while the driver waited for something."""


def default_answer(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Accept approvals, answer tools and questions (Codex 0.169 shapes, §6)."""
    if method in ("item/commandExecution/requestApproval", "item/fileChange/requestApproval"):
        return {"decision": "accept"}
    if method == "item/tool/call":
        return {"contentItems": [{"type": "inputText", "text": "ticket is open"}], "success": True}
    if method == "item/tool/requestUserInput":
        questions = params.get("questions") or []
        return {"answers": {str(q.get("id")): {"answers": ["Blue"]} for q in questions}}
    return None


def text_input(text: str) -> list[dict[str, Any]]:
    """`turn/start.input` with one text item."""
    return [{"type": "text", "text": text, "text_elements": []}]


class Driver:
    """A client connection to one app-server process. Use `open_driver`.

    Attributes:
        transport: the stdio transport (pid, stderr tail).
        server_requests: how many server requests were answered.
    """

    def __init__(self, transport: StdioTransport, observe: Observe, answer: Answer) -> None:
        self.transport = transport
        self._observe = observe
        self._answer = answer
        self._ids = itertools.count(1)
        self.server_requests = 0

    async def send(self, message: Mapping[str, Any]) -> None:
        """Write one raw message (no `jsonrpc` member is added)."""
        await self.transport.send(message)

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        """Send a client notification (e.g. `initialized`)."""
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = dict(params)
        await self.send(message)

    async def send_request(self, method: str, params: Mapping[str, Any] | None = None) -> int:
        """Send a request without waiting; returns its id."""
        request_id = next(self._ids)
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = dict(params)
        await self.send(message)
        return request_id

    async def next(self) -> Incoming:
        """The next server line (observed; server requests answered first).

        Raises:
            ServerExited: stdout closed.
        """
        try:
            message = await self.transport.incoming.receive()
        except anyio.EndOfStream:
            raise ServerExited("the server's stdout closed") from None
        self._observe(message)
        if isinstance(message, dict) and "method" in message and "id" in message:
            params = message.get("params") if isinstance(message.get("params"), dict) else {}
            assert isinstance(params, dict)
            result = self._answer(str(message["method"]), params)
            self.server_requests += 1
            if result is None:
                reply = {"id": message["id"], "error": {"code": -32000, "message": "refused"}}
            else:
                reply = {"id": message["id"], "result": result}
            await self.send(reply)
        return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read until a JSON message satisfies `predicate`; returns it.

        Raises:
            ServerExited: stdout closed first.
        """
        while True:
            message = await self.next()
            if isinstance(message, dict) and predicate(message):
                return message

    async def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and read until its response; returns the whole response."""
        request_id = await self.send_request(method, params)
        return await self.until(lambda m: m.get("id") == request_id and "method" not in m)

    async def until_eof(self) -> int:
        """Read to the end of stdout; returns how many lines were read."""
        count = 0
        while True:
            try:
                await self.next()
            except ServerExited:
                return count
            count += 1

    async def initialize(
        self, *, experimental: bool = True, opt_out: Sequence[str] = ()
    ) -> dict[str, Any]:
        """`initialize` + `initialized` as the runner sends them; returns the response."""
        response = await self.request(
            "initialize",
            {
                "clientInfo": {"name": "fake_driver", "title": "Fake driver", "version": "0.0.1"},
                "capabilities": {
                    "experimentalApi": experimental,
                    "optOutNotificationMethods": list(opt_out),
                },
            },
        )
        await self.notify("initialized")
        return response

    async def run_turn(self, thread_id: str, text: str = "Say hello.") -> dict[str, Any]:
        """`turn/start`, then read to this thread's `turn/completed`; returns its params.

        Raises:
            ServerExited: the server exited before the turn completed.
        """
        response = await self.request(
            "turn/start", {"threadId": thread_id, "input": text_input(text)}
        )
        assert "result" in response, response
        done = await self.until(
            lambda m: (
                m.get("method") == "turn/completed" and m["params"].get("threadId") == thread_id
            )
        )
        params = done["params"]
        assert isinstance(params, dict)
        return params


def _ignore(_message: Incoming) -> None:
    return None


@asynccontextmanager
async def open_driver(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    observe: Observe = _ignore,
    answer: Answer = default_answer,
) -> AsyncIterator[Driver]:
    """Spawn `argv` (e.g. `[python, -m, fakes.app_server, --scenario, F, app-server]`).

    Args:
        argv: the server command line.
        env: its whole environment (include `CODEX_HOME`).
        cwd: its working directory.
        observe: called with every line (dict or `ProtocolError`) in order.
        answer: answers server requests.
    """
    async with open_stdio_transport(argv, env=env, cwd=cwd, buffer_messages=64) as transport:
        yield Driver(transport, observe, answer)


__all__ = [
    "Answer",
    "Driver",
    "Observe",
    "ProtocolError",
    "ServerExited",
    "default_answer",
    "open_driver",
    "text_input",
]
