"""The scripted model as an ASGI app: records every request and answers it from the script.

`ScriptedModel` is both the handle a test holds (requests seen, waits, hang releases) and
the ASGI callable uvicorn serves. Each `POST /v1/responses` takes the next step; when none
is left the answer is a loud HTTP 400 (not a 5xx, which Codex would retry). Faults below
HTTP (a reset with no response) reach the connection through uvicorn's h11 protocol.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from fakes.model.script import HttpErrorStep, ResetStep, Script, Step
from fakes.model.sse import encode_event, plan_stream
from fakes.serving import reset_connection

__all__ = ["EXHAUSTED_ERROR_CODE", "RecordedRequest", "ScriptedModel"]

logger = logging.getLogger("fakes.model")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

EXHAUSTED_ERROR_CODE = "scripted_model_exhausted"
"""`error.code` of the HTTP 400 sent when a request arrives after the last step."""

_RESPONSES_PATH = "/v1/responses"
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "api-key", "x-api-key", "openai-api-key"}
)


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server received.

    Attributes:
        method: e.g. `"POST"`.
        path: e.g. `"/v1/responses"`.
        headers: Lower-case names; credentials (`authorization`, `cookie`, ...) removed.
        body: The decoded JSON body, or `None` when empty or not JSON.
        raw_body: The body bytes as received.
        number: 1-based number among `POST /v1/responses` requests; `None` for other routes.
        step: The step served, or `None` for other routes and for requests after the script
            ran out.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    number: int | None
    step: Step | None


class ScriptedModel:
    """A scripted OpenAI Responses API: state, test-facing API and ASGI app.

    Serve it with `serve_scripted_model`, which sets `base_url`. All methods run on the
    server's event loop (the test's loop when served in-process).

    Args:
        script: The steps to serve, one per `POST /v1/responses`.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self._model_requests: list[RecordedRequest] = []
        self._arrivals: dict[int, anyio.Event] = {}
        self._releases: dict[int, anyio.Event] = {}
        self._release_all = anyio.Event()
        self._shutting_down = anyio.Event()

    # -- test-facing API -------------------------------------------------------------

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The `POST /v1/responses` requests, in arrival order (request N is index N - 1)."""
        return list(self._model_requests)

    @property
    def steps_served(self) -> int:
        """How many script steps were taken so far (requests after exhaustion not counted)."""
        return min(len(self._model_requests), len(self.script.steps))

    @property
    def exhausted_requests(self) -> list[RecordedRequest]:
        """Model requests that arrived after the last step and got the HTTP 400."""
        return [r for r in self._model_requests if r.step is None]

    async def wait_for_request(self, number: int) -> RecordedRequest:
        """Wait until `POST /v1/responses` number `number` (1-based) has arrived.

        Returns as soon as the request is recorded, before its answer is streamed. Bound the
        wait with `anyio.fail_after`.

        Args:
            number: 1 for the first model request.

        Returns:
            The recorded request.

        Raises:
            ValueError: `number` is below 1.
        """
        if number < 1:
            raise ValueError(f"request numbers start at 1, got {number}")
        if len(self._model_requests) < number:
            await self._arrivals.setdefault(number, anyio.Event()).wait()
        return self._model_requests[number - 1]

    def release(self, number: int) -> None:
        """End the `hang` step answering request `number` (now, or as soon as it starts).

        The body then ends without `response.completed`.
        """
        self._releases.setdefault(number, anyio.Event()).set()

    def release_all(self) -> None:
        """End every `hang` step, current and future."""
        self._release_all.set()

    def begin_shutdown(self) -> None:
        """End every open stream so the server can stop; called by `serve_scripted_model`."""
        self._shutting_down.set()

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope (HTTP only; uvicorn runs with lifespan off)."""
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        raw_body = await request.body()
        method = request.method
        path = request.url.path
        is_model_request = method == "POST" and path == _RESPONSES_PATH
        number = len(self._model_requests) + 1 if is_model_request else None
        step: Step | None = None
        if number is not None and number <= len(self.script.steps):
            step = self.script.steps[number - 1]
        recorded = RecordedRequest(
            method=method,
            path=path,
            headers={
                name: value
                for name, value in request.headers.items()
                if name.lower() not in _SECRET_HEADERS
            },
            body=_decode_json(raw_body),
            raw_body=raw_body,
            number=number,
            step=step,
        )
        self.requests.append(recorded)
        if number is None:
            logger.warning("scripted model: no route for %s %s", method, path)
            await _json_error(404, f"scripted model: no route for {method} {path}", "not_found")(
                scope, receive, send
            )
            return
        self._model_requests.append(recorded)
        arrival = self._arrivals.pop(number, None)
        if arrival is not None:
            arrival.set()
        if step is None:
            message = (
                f"scripted model: no step left for request {number} "
                f"(the script has {len(self.script.steps)} steps)"
            )
            logger.error(message)
            await _json_error(400, message, EXHAUSTED_ERROR_CODE)(scope, receive, send)
            return
        logger.info("scripted model: request %d -> %s", number, step.kind)
        if isinstance(step, HttpErrorStep):
            await _http_error_response(step)(scope, receive, send)
        elif isinstance(step, ResetStep):
            await reset_connection(receive, send)
        else:
            await self._stream(step, number, receive, send)

    async def _stream(self, step: Step, number: int, receive: Receive, send: Send) -> None:
        assert not isinstance(step, HttpErrorStep | ResetStep)
        plan = plan_stream(step, number)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        disconnected = False
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                nonlocal disconnected
                while (await receive())["type"] != "http.disconnect":
                    pass
                disconnected = True
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            for event in plan.events:
                await send(
                    {"type": "http.response.body", "body": encode_event(event), "more_body": True}
                )
            if plan.ending == "hang":
                await _first_of(
                    self._releases.setdefault(number, anyio.Event()),
                    self._release_all,
                    self._shutting_down,
                )
            group.cancel_scope.cancel()
        if disconnected:
            logger.info("scripted model: client left during request %d", number)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _first_of(*events: anyio.Event) -> None:
    """Return once any of `events` is set."""
    async with anyio.create_task_group() as group:

        async def wait_one(event: anyio.Event) -> None:
            await event.wait()
            group.cancel_scope.cancel()

        for event in events:
            group.start_soon(wait_one, event)


def _decode_json(raw_body: bytes) -> Any:
    if not raw_body:
        return None
    try:
        return json.loads(raw_body)
    except ValueError:
        return None


def _json_error(status: int, message: str, code: str | None, type_: str | None = None) -> Response:
    if type_ is None:
        type_ = "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse(
        {"error": {"message": message, "type": type_, "code": code}}, status_code=status
    )


def _http_error_response(step: HttpErrorStep) -> Response:
    response: Response
    if step.raw_body is not None:
        response = PlainTextResponse(step.raw_body, status_code=step.status)
    else:
        response = _json_error(step.status, step.message, step.code, step.type)
    if step.retry_after_seconds is not None:
        response.headers["retry-after"] = f"{step.retry_after_seconds:g}"
    return response
