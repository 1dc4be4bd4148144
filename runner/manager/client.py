"""HTTP client of the manager API v1 (contract §2–§8), on an injected `httpx.AsyncClient`.

Each method sends one request built from `contract.manager_api` models and returns the parsed
response; httpx and pydantic errors are translated here, in one place, into
`ManagerError` (kind, HTTP status, the §8 `error.code`, `transient`, `retry_after_seconds`).
A 2xx answer whose body is not the contract's shape is `invalid-response`, transient.
Retrying is the caller's choice (`runner.manager.retry`). The bearer token is set on the injected
client by `make_http_client` and never appears in a message.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from contract.failures import FailureKind, ManagerError
from contract.manager_api import (
    ArtifactRequest,
    ArtifactResponse,
    ClaimRequest,
    ClaimResponse,
    CommandsResponse,
    DeliveryRequest,
    ErrorBody,
    EventsRequest,
    EventsResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    TerminalRequest,
)

R = TypeVar("R", bound=BaseModel)

API = "/api/v1"

_KIND_BY_CODE = {
    "lease-lost": FailureKind.LEASE_LOST,
    "attempt-cancelled": FailureKind.CANCELLED,
    "job-cancelled": FailureKind.CANCELLED,
}


class ManagerCallError(ManagerError):
    """A manager call failed; see `code`, `status_code`, `transient`.

    Attributes:
        transient: §8 says retry (5xx, 429, connection error, timeout).
        retry_after_seconds: the `Retry-After` of a 429/503, if given.
        body: the parsed error body's extra members (e.g. `ackedSeq` of a `seq-gap`).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        code: str | None,
        transient: bool,
        retry_after_seconds: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        kind = _KIND_BY_CODE.get(code or "", FailureKind.RUNNER_INTERNAL_ERROR)
        super().__init__(kind, message, status_code=status_code, code=code)
        self.transient = transient
        self.retry_after_seconds = retry_after_seconds
        self.body = body or {}


def make_http_client(
    base_url: str, token: str, *, timeout_seconds: float = 30.0, transport: Any = None
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for the manager with the bearer token set (§1).

    Args:
        base_url: `AGENTRUN_MANAGER_URL`.
        token: the runner token read from `AGENTRUN_RUNNER_TOKEN_FILE`.
        timeout_seconds: per-request timeout (a long poll adds its own wait on top).
        transport: optional httpx transport (tests: `httpx.MockTransport`).
    """
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(timeout_seconds),
        transport=transport,
        trust_env=False,
        verify=_tls_context() if base_url.startswith("https:") else False,
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client of the process.

    Each `httpx.AsyncClient` otherwise loads the CA bundle into a context of its own
    (~1.5 MiB and tens of ms each, three per attempt). A plain `http://` manager URL needs
    none: the clients follow no redirects, so no TLS handshake can happen.
    """
    return httpx.create_ssl_context()


class ManagerClient:
    """Typed calls of the manager API; one instance per connection pool.

    Args:
        http: an `httpx.AsyncClient` from `make_http_client` (or a test double).
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _call(
        self,
        method: str,
        path: str,
        response_model: type[R],
        *,
        body: BaseModel | None = None,
        params: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
    ) -> R:
        json_body = body.model_dump(by_alias=True, mode="json") if body is not None else None
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_seconds is None else timeout_seconds
        try:
            response = await self.http.request(
                method, API + path, json=json_body, params=params, timeout=timeout
            )
        except httpx.TransportError as exc:
            raise ManagerCallError(
                f"{method} {path}: manager unreachable ({type(exc).__name__})",
                status_code=None,
                code=None,
                transient=True,
            ) from exc
        if response.status_code >= 400:
            raise _error_from_response(method, path, response)
        if response_model is _Any:
            return response_model()  # the runner uses nothing of this answer
        try:
            return response_model.model_validate(response.json())
        except (ValidationError, ValueError) as exc:
            # An answer that is not the contract's shape is a fault of the manager like
            # a 5xx (§5, §8): retried with back-off, never trusted.
            raise ManagerCallError(
                f"{method} {path}: manager answered {response.status_code} with a body "
                f"that is not a valid {response_model.__name__}",
                status_code=response.status_code,
                code="invalid-response",
                transient=True,
            ) from exc

    async def claim(self, runner_job_id: str, request: ClaimRequest) -> ClaimResponse:
        """§2 `POST /runner-jobs/{id}/claim`. 404/409/410 raise with their codes."""
        return await self._call(
            "POST", f"/runner-jobs/{runner_job_id}/claim", ClaimResponse, body=request
        )

    async def post_events(self, run_id: str, request: EventsRequest) -> EventsResponse:
        """§3 `POST /runs/{runId}/events`; returns `ackedSeq`."""
        return await self._call("POST", f"/runs/{run_id}/events", EventsResponse, body=request)

    async def heartbeat(self, run_id: str, request: HeartbeatRequest) -> HeartbeatResponse:
        """§4 `POST /runs/{runId}/heartbeat`; returns the renewed lease."""
        return await self._call(
            "POST", f"/runs/{run_id}/heartbeat", HeartbeatResponse, body=request
        )

    async def poll_commands(
        self, run_id: str, lease_id: str, after: str | None, wait_seconds: int
    ) -> CommandsResponse:
        """§5 long poll `GET /runs/{runId}/commands`; the HTTP timeout covers the wait."""
        params: dict[str, Any] = {"leaseId": lease_id, "waitSeconds": wait_seconds}
        if after is not None:
            params["after"] = after
        return await self._call(
            "GET",
            f"/runs/{run_id}/commands",
            CommandsResponse,
            params=params,
            timeout_seconds=wait_seconds + 30.0,
        )

    async def deliver(self, command_id: str, request: DeliveryRequest) -> None:
        """§6 `POST /commands/{commandId}/delivery` (idempotent per state)."""
        await self._call("POST", f"/commands/{command_id}/delivery", _Any, body=request)

    async def terminal(self, run_id: str, request: TerminalRequest) -> None:
        """§7 `POST /runs/{runId}/terminal` (idempotent for the same body)."""
        await self._call("POST", f"/runs/{run_id}/terminal", _Any, body=request)

    async def upload_artifact(self, run_id: str, request: ArtifactRequest) -> ArtifactResponse:
        """§12 `POST /runs/{runId}/artifacts`; idempotent by (attemptId, name, sha256).

        Raises:
            ManagerCallError: 409 `artifact-conflict` (same name, other content), 413,
                409 `lease-lost` / 410 as §3; transient ones as every call (§8).
        """
        return await self._call("POST", f"/runs/{run_id}/artifacts", ArtifactResponse, body=request)


class _Any(BaseModel):
    """Any JSON object response whose content the runner does not use."""


def _error_from_response(method: str, path: str, response: httpx.Response) -> ManagerCallError:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(payload, dict) and "ackedSeq" in payload:
        error.setdefault("ackedSeq", payload["ackedSeq"])  # §3 shows it beside `error`
    parsed = ErrorBody.model_validate(error) if isinstance(error, dict) else ErrorBody()
    status = response.status_code
    retry_after = _retry_after(response.headers.get("Retry-After"))
    return ManagerCallError(
        f"{method} {path}: {status} {parsed.code}: {parsed.message}"[:500],
        status_code=status,
        code=parsed.code if isinstance(error, dict) else None,
        transient=status >= 500 or status == 429,
        retry_after_seconds=retry_after,
        body=error if isinstance(error, dict) else {},
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
