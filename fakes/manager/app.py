"""The routes of the fake manager (contract §2-§7, §12) as a Starlette app over a `Store`.

Each route parses the body strictly (JSON object, then a request model that forbids
unknown fields), hands it to the store, and returns the store's answer; every refusal
is an `ApiError` turned into a §8 body by one exception handler. Only the §5 long poll
waits, on the store's change signal, bounded by `waitSeconds`. Two GET routes that are
not the runner's (operators, the demo) list a run's artifacts and serve one's bytes.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn, TypeVar

import anyio
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.manager.errors import ApiError, error_body
from fakes.manager.models import (
    ArtifactRequest,
    ClaimRequest,
    DeliveryRequest,
    EventsRequest,
    HeartbeatRequest,
    TerminalRequest,
)
from fakes.manager.store import Store

MAX_BATCH_EVENTS = 500
"""§3: at most 500 events per request."""
MAX_BATCH_BYTES = 1024 * 1024
"""§3: at most 1 MiB per request body."""
COMMAND_QUERY_PARAMS = frozenset({"leaseId", "after", "waitSeconds"})
"""§5 query parameters; any other is a 400 like an unknown body field."""
ARTIFACT_LIST_QUERY_PARAMS = frozenset({"attemptId"})
"""Query parameters of the operator's artifact listing."""

M = TypeVar("M", bound=BaseModel)


def build_app(store: Store, *, max_wait_seconds: float = 60.0) -> Starlette:
    """The Starlette app serving the contract's routes over `store`.

    Args:
        store: state and rules.
        max_wait_seconds: upper bound a §5 `waitSeconds` is clamped to.

    Returns:
        An ASGI app; wrap it in `FrontDoor` for auth, knobs and recording.
    """

    async def claim(request: Request) -> Response:
        body = await _json_object(request)
        answer = store.claim(request.path_params["runnerJobId"], _parse(ClaimRequest, body))
        return JSONResponse(answer)

    async def events(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BATCH_BYTES:
            raise ApiError(413, "batch-too-large", f"{len(raw)} bytes; at most 1 MiB (§3)")
        body = _loads_object(raw)
        batch = body.get("events")
        if isinstance(batch, list) and len(batch) > MAX_BATCH_EVENTS:
            raise ApiError(413, "batch-too-large", f"{len(batch)} events; at most 500 (§3)")
        parsed = _parse(EventsRequest, body)
        return JSONResponse(store.post_events(request.path_params["runId"], parsed, batch or []))

    async def heartbeat(request: Request) -> Response:
        body = await _json_object(request)
        parsed = _parse(HeartbeatRequest, body)
        return JSONResponse(store.heartbeat(request.path_params["runId"], parsed, body))

    async def commands(request: Request) -> Response:
        run_id = request.path_params["runId"]
        lease_id, after, wait_seconds = _command_query(request, max_wait_seconds)
        with anyio.move_on_after(wait_seconds):
            while True:
                _, found = store.poll_commands(run_id, lease_id, after)
                if found or store.closed:
                    break
                await store.changed.wait()
        cursor, found = store.poll_commands(run_id, lease_id, after)
        return JSONResponse({"cursor": str(cursor), "commands": found})

    async def delivery(request: Request) -> Response:
        body = await _json_object(request)
        command_id = request.path_params["commandId"]
        state = store.deliver(command_id, _parse(DeliveryRequest, body), body)
        return JSONResponse({"commandId": command_id, "state": state})

    async def terminal(request: Request) -> Response:
        body = await _json_object(request)
        parsed = _parse(TerminalRequest, body)
        return JSONResponse(store.terminal(request.path_params["runId"], parsed, body))

    async def upload_artifact(request: Request) -> Response:
        raw = await request.body()
        limit = store.artifacts.max_body_bytes
        if len(raw) > limit:
            raise ApiError(
                413,
                "artifact-too-large",
                f"{len(raw)} bytes of body; an artifact body is at most {limit} (§12)",
                maxBytes=store.artifacts.max_artifact_bytes,
            )
        parsed = _parse(ArtifactRequest, _loads_object(raw))
        stored = store.artifacts.upload(request.path_params["runId"], parsed)
        store.changed.notify()
        return JSONResponse({"artifactId": stored.artifact_id})

    async def list_artifacts(request: Request) -> Response:
        run_id = request.path_params["runId"]
        attempt_id = _artifact_query(request)
        if run_id not in store.commands:
            raise ApiError(404, "run-not-found", f"no run {run_id}")
        found = [
            a.metadata()
            for a in store.artifacts.of_run(run_id)
            if attempt_id is None or a.attempt_id == attempt_id
        ]
        return JSONResponse({"artifacts": found})

    async def artifact_content(request: Request) -> Response:
        run_id = request.path_params["runId"]
        stored = store.artifacts.by_id(run_id, request.path_params["artifactId"])
        return Response(stored.content, headers={"content-type": stored.media_type})

    routes = [
        Route("/api/v1/runner-jobs/{runnerJobId}/claim", claim, methods=["POST"]),
        Route("/api/v1/runs/{runId}/events", events, methods=["POST"]),
        Route("/api/v1/runs/{runId}/heartbeat", heartbeat, methods=["POST"]),
        Route("/api/v1/runs/{runId}/commands", commands, methods=["GET"]),
        Route("/api/v1/commands/{commandId}/delivery", delivery, methods=["POST"]),
        Route("/api/v1/runs/{runId}/terminal", terminal, methods=["POST"]),
        Route("/api/v1/runs/{runId}/artifacts", upload_artifact, methods=["POST"]),
        Route("/api/v1/runs/{runId}/artifacts", list_artifacts, methods=["GET"]),
        Route("/api/v1/runs/{runId}/artifacts/{artifactId}", artifact_content, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _loads_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ApiError(400, "invalid-json", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalid-json", "the body must be a JSON object")
    return value


async def _json_object(request: Request) -> dict[str, Any]:
    return _loads_object(await request.body())


def _parse(model: type[M], body: dict[str, Any]) -> M:
    """Validate a body against a request model; 400 `invalid-request` on any error."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = [
            {"loc": ".".join(str(part) for part in err["loc"]), "msg": err["msg"]}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems[:5])
        raise ApiError(400, "invalid-request", summary, problems=problems) from exc


def _artifact_query(request: Request) -> str | None:
    """The listing's optional `attemptId` filter; 400 on any other or a repeated one."""
    items = request.query_params.multi_items()
    names = [name for name, _ in items]
    unknown = sorted(set(names) - ARTIFACT_LIST_QUERY_PARAMS)
    if unknown or len(names) != len(set(names)):
        raise ApiError(400, "invalid-request", f"only one attemptId may be given: {names}")
    return dict(items).get("attemptId")


def _command_query(request: Request, max_wait_seconds: float) -> tuple[str, int, float]:
    """§5 query: `leaseId` (required), `after` (cursor, optional), `waitSeconds` (int).

    Returns:
        The lease id, the queue position after which to return commands, and the
        wait in seconds (clamped to `max_wait_seconds`; 0 when absent).

    Raises:
        ApiError: 400 on unknown, repeated, missing or malformed parameters.
    """
    items = request.query_params.multi_items()
    names = [name for name, _ in items]
    unknown = sorted(set(names) - COMMAND_QUERY_PARAMS)
    if unknown:
        raise ApiError(400, "invalid-request", f"unknown query parameters: {unknown}")
    if len(names) != len(set(names)):
        raise ApiError(400, "invalid-request", "a query parameter is repeated")
    params = dict(items)
    lease_id = params.get("leaseId", "")
    if not lease_id:
        raise ApiError(400, "invalid-request", "leaseId is required")
    cursor = params.get("after", "")
    if cursor and not (cursor.isascii() and cursor.isdigit()):
        raise ApiError(400, "invalid-request", f"after={cursor!r} is not a cursor of this run")
    wait = params.get("waitSeconds", "0")
    if not (wait.isascii() and wait.isdigit()):
        raise ApiError(400, "invalid-request", "waitSeconds must be a non-negative integer")
    return lease_id, int(cursor or "0"), min(float(wait), max_wait_seconds)
