"""The manager client over `httpx.MockTransport`: errors translated in one place (§8)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from contract.failures import FailureKind
from contract.manager_api import EventsRequest
from runner.manager.client import ManagerCallError, ManagerClient, make_http_client
from runner.manager.retry import RetryPolicy, call_with_retries, set_instant_retries

pytestmark = pytest.mark.anyio

TOKEN = "secret-token-value-xyz"


def client(handler: Callable[[httpx.Request], httpx.Response]) -> ManagerClient:
    return ManagerClient(
        make_http_client("http://mgr.test", TOKEN, transport=httpx.MockTransport(handler))
    )


def events_request() -> EventsRequest:
    return EventsRequest(lease_id="lse-1", attempt_id="att-1", events=[])


def error(status: int, code: str, **extra: object) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": "m", **extra}})


async def test_every_request_carries_the_bearer_token_and_no_other_field() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ackedSeq": 0, "unknownFieldIsIgnored": True})

    mgr = client(handler)
    response = await mgr.post_events("run-1", events_request())
    await mgr.http.aclose()
    assert response.acked_seq == 0
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(seen[0].content) == {"leaseId": "lse-1", "attemptId": "att-1", "events": []}


async def test_a_seq_gap_carries_the_managers_acked_seq_wherever_it_is_put() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            409, json={"error": {"code": "seq-gap", "message": "gap"}, "ackedSeq": 7}
        )

    mgr = client(handler)
    with pytest.raises(ManagerCallError) as caught:
        await mgr.post_events("run-1", events_request())
    await mgr.http.aclose()
    assert caught.value.code == "seq-gap"
    assert caught.value.body["ackedSeq"] == 7
    assert not caught.value.transient


@pytest.mark.parametrize(
    ("response", "transient", "kind"),
    [
        (error(503, "unavailable"), True, FailureKind.RUNNER_INTERNAL_ERROR),
        (error(429, "slow-down"), True, FailureKind.RUNNER_INTERNAL_ERROR),
        (error(409, "lease-lost"), False, FailureKind.LEASE_LOST),
        (error(410, "attempt-cancelled"), False, FailureKind.CANCELLED),
        (error(400, "invalid-request"), False, FailureKind.RUNNER_INTERNAL_ERROR),
        (httpx.Response(200, json={"ackedSeq": "seven"}), True, FailureKind.RUNNER_INTERNAL_ERROR),
        (
            httpx.Response(200, text="<html>not json</html>"),
            True,
            FailureKind.RUNNER_INTERNAL_ERROR,
        ),
    ],
)
async def test_manager_answers_are_classified_transient_or_final(
    response: httpx.Response, transient: bool, kind: FailureKind
) -> None:
    mgr = client(lambda request: response)
    with pytest.raises(ManagerCallError) as caught:
        await mgr.post_events("run-1", events_request())
    await mgr.http.aclose()
    assert caught.value.transient is transient
    assert caught.value.kind is kind
    assert TOKEN not in str(caught.value)


async def test_transient_failures_are_retried_honouring_retry_after_until_success() -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"code": "x"}}),
        error(503, "down"),
        httpx.Response(200, json={"ackedSeq": 3}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    mgr = client(handler)
    set_instant_retries(True)
    try:
        response = await call_with_retries(
            RetryPolicy(attempts=5, deadline_seconds=10),
            lambda: mgr.post_events("run-1", events_request()),
        )
    finally:
        set_instant_retries(False)
        await mgr.http.aclose()
    assert response.acked_seq == 3
    assert answers == []


async def test_a_non_transient_refusal_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return error(413, "batch-too-large")

    mgr = client(handler)
    with pytest.raises(ManagerCallError):
        await call_with_retries(
            RetryPolicy(attempts=5, deadline_seconds=10),
            lambda: mgr.post_events("run-1", events_request()),
        )
    await mgr.http.aclose()
    assert calls == 1


async def test_a_connection_error_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    mgr = client(handler)
    with pytest.raises(ManagerCallError) as caught:
        await mgr.post_events("run-1", events_request())
    await mgr.http.aclose()
    assert caught.value.transient
    assert caught.value.status_code is None
