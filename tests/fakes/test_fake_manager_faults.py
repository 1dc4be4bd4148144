"""The fake manager's commands, deliveries, knobs, records and serving, over loopback HTTP."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from fakes.manager import Knobs, example_job, serve_fake_manager
from tests.fakes.test_fake_manager_support import (
    API,
    TOKEN,
    Harness,
    delivery_body,
    error_code,
    event,
    harness,
    heartbeat_body,
    runner_body,
)

pytestmark = pytest.mark.anyio

REPO_ROOT = Path(__file__).resolve().parents[2]

STEER = {
    "commandId": "cmd-steer-1",
    "type": "steer",
    "input": [{"type": "text", "text": "also update docs"}],
    "targetCommandId": "cmd-x",
}


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async with harness() as served:
        yield served


async def _poll(h: Harness, lease: str, **params: Any) -> httpx.Response:
    query = {"leaseId": lease, **{k: str(v) for k, v in params.items()}}
    return await h.client.get(f"{API}/runs/{h.run_id}/commands", params=query)


# -- §5 commands ------------------------------------------------------------------------


async def test_a_long_poll_returns_early_when_a_command_is_pushed(h: Harness) -> None:
    lease = await h.claim()
    async with anyio.create_task_group() as tg:
        responses: list[httpx.Response] = []

        async def poll() -> None:
            responses.append(await _poll(h, lease, waitSeconds=25))

        tg.start_soon(poll)
        with anyio.fail_after(5):
            await h.mgr.wait_until(
                lambda: any(r.path.endswith("/commands") for r in h.mgr.requests)
            )
            h.mgr.push_command(h.run_id, STEER)
    body = responses[0].json()
    assert body["commands"] == [STEER]
    assert isinstance(body["cursor"], str)


async def test_a_long_poll_with_nothing_pushed_answers_empty_once_the_wait_is_over() -> None:
    async with harness(max_wait_seconds=0.05) as h:
        lease = await h.claim()
        with anyio.fail_after(5):
            response = await _poll(h, lease, waitSeconds=25)  # clamped to 0.05 s
        assert response.status_code == 200
        assert response.json()["commands"] == []
        immediate = await _poll(h, lease, waitSeconds=0)
        assert immediate.json()["commands"] == []


async def test_the_cursor_returns_only_commands_pushed_after_it(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.push_command(h.run_id, STEER)
    first = (await _poll(h, lease, waitSeconds=0)).json()
    assert [c["commandId"] for c in first["commands"]] == ["cmd-steer-1"]
    cancel = {"commandId": "cmd-c", "type": "cancel", "reason": "user-cancelled"}
    h.mgr.push_command(h.run_id, {**cancel, "targetCommandId": "cmd-x"})
    second = (await _poll(h, lease, after=first["cursor"], waitSeconds=0)).json()
    assert [c["commandId"] for c in second["commands"]] == ["cmd-c"]
    third = (await _poll(h, lease, after=second["cursor"], waitSeconds=0)).json()
    assert third["commands"] == []
    assert third["cursor"] == second["cursor"]


async def test_commands_pending_turns_false_once_a_poll_returned_them(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.push_command(h.run_id, STEER)
    beat = await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    assert beat.json()["commandsPending"] is True
    await _poll(h, lease, waitSeconds=0)
    beat = await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    assert beat.json()["commandsPending"] is False


@pytest.mark.parametrize(
    "query",
    [
        {"after": "0", "waitSeconds": "0"},
        {"leaseId": "L", "waitSeconds": "-1"},
        {"leaseId": "L", "waitSeconds": "2.5"},
        {"leaseId": "L", "after": "not-a-cursor"},
        {"leaseId": "L", "after": "99"},
        {"leaseId": "L", "limit": "5"},
    ],
)
async def test_a_commands_query_off_the_contract_is_refused_with_400(
    h: Harness, query: dict[str, str]
) -> None:
    lease = await h.claim()
    params = {k: (lease if v == "L" else v) for k, v in query.items()}
    response = await h.client.get(f"{API}/runs/{h.run_id}/commands", params=params)
    assert (response.status_code, error_code(response)) == (400, "invalid-request")


async def test_commands_under_a_lost_lease_or_cancelled_attempt_are_refused(h: Harness) -> None:
    lease = await h.claim()
    forged = await _poll(h, "lse-forged", waitSeconds=0)
    assert (forged.status_code, error_code(forged)) == (409, "lease-lost")
    h.mgr.cancel_attempt(h.run_id, h.attempt_id)
    cancelled = await _poll(h, lease, waitSeconds=0)
    assert (cancelled.status_code, error_code(cancelled)) == (410, "attempt-cancelled")


# -- §6 delivery ------------------------------------------------------------------------


async def _deliver(h: Harness, lease: str, state: str, **detail: Any) -> httpx.Response:
    url = f"{API}/commands/{STEER['commandId']}/delivery"
    return await h.client.post(url, json=delivery_body(lease, state, **detail))


async def test_delivery_states_go_forward_and_each_state_repeats_idempotently(
    h: Harness,
) -> None:
    lease = await h.claim()
    h.mgr.push_command(h.run_id, STEER)
    for state in ("received", "received", "forwarded", "accepted", "accepted"):
        response = await _deliver(h, lease, state)
        assert response.status_code == 200, response.text
        assert response.json() == {"commandId": "cmd-steer-1", "state": state}
    recorded = [d.state for d in h.mgr.deliveries("cmd-steer-1")]
    assert recorded == ["received", "received", "forwarded", "accepted", "accepted"]
    assert h.mgr.delivery_state("cmd-steer-1") == "accepted"


@pytest.mark.parametrize(
    ("reached", "then"),
    [
        (["received", "forwarded"], "received"),
        (["received", "forwarded", "accepted"], "forwarded"),
        (["received", "accepted"], "rejected"),
        (["received", "rejected"], "accepted"),
    ],
)
async def test_a_backwards_delivery_transition_is_refused_with_delivery_state_conflict(
    h: Harness, reached: list[str], then: str
) -> None:
    lease = await h.claim()
    h.mgr.push_command(h.run_id, STEER)
    for state in reached:
        assert (await _deliver(h, lease, state, reason="no-active-turn")).status_code == 200
    response = await _deliver(h, lease, then, reason="no-active-turn")
    assert (response.status_code, error_code(response)) == (409, "delivery-state-conflict")
    assert response.json()["error"]["currentState"] == reached[-1]


async def test_a_delivery_may_skip_forward_to_rejected_with_a_reason(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.push_command(h.run_id, STEER)
    assert (await _deliver(h, lease, "received")).status_code == 200
    no_reason = await _deliver(h, lease, "rejected")
    assert (no_reason.status_code, error_code(no_reason)) == (400, "invalid-request")
    response = await _deliver(h, lease, "rejected", reason="no-active-turn")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "change",
    [{"state": "delivered"}, {"time": "now"}, {"detail": None}, {"extra": 1}],
)
async def test_a_delivery_body_off_the_contract_is_refused_with_400(
    h: Harness, change: dict[str, Any]
) -> None:
    lease = await h.claim()
    h.mgr.push_command(h.run_id, STEER)
    body = {**delivery_body(lease, "received"), **change}
    response = await h.client.post(f"{API}/commands/cmd-steer-1/delivery", json=body)
    assert (response.status_code, error_code(response)) == (400, "invalid-request")


async def test_a_delivery_for_an_unknown_command_or_a_lost_lease_is_refused(h: Harness) -> None:
    lease = await h.claim()
    unknown = await h.client.post(
        f"{API}/commands/cmd-nope/delivery", json=delivery_body(lease, "received")
    )
    assert (unknown.status_code, error_code(unknown)) == (404, "command-not-found")
    h.mgr.push_command(h.run_id, STEER)
    h.mgr.expire_lease(h.run_id, h.attempt_id)
    lost = await _deliver(h, lease, "received")
    assert (lost.status_code, error_code(lost)) == (409, "lease-lost")


# -- knobs ------------------------------------------------------------------------------


async def test_fail_next_answers_matching_requests_with_the_status_then_serves_normally(
    h: Harness,
) -> None:
    lease = await h.claim()
    rule = h.mgr.knobs.fail_next("POST", "/api/v1/runs/*/events", status=503, count=2)
    for _ in range(2):
        failed = await h.send_events(lease, [event(1, h.command_id)])
        assert (failed.status_code, error_code(failed)) == (503, "injected-fault")
    assert h.mgr.events(h.run_id, h.attempt_id) == []
    assert (await h.send_events(lease, [event(1, h.command_id)])).status_code == 200
    assert (rule.hits, rule.remaining) == (2, 0)


async def test_a_429_fault_carries_retry_after(h: Harness) -> None:
    h.mgr.knobs.fail_next("*", "*/claim", status=429)
    h.mgr.knobs.fail_next("*", "*/claim", status=429, retry_after_seconds=0)
    url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
    first = await h.client.post(url, json=runner_body())
    second = await h.client.post(url, json=runner_body())
    assert (first.status_code, first.headers["retry-after"]) == (429, "1")
    assert (second.status_code, second.headers["retry-after"]) == (429, "0")
    assert (await h.client.post(url, json=runner_body())).status_code == 200


async def test_a_fault_rule_leaves_other_methods_and_paths_alone(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.knobs.fail_next("GET", "/api/v1/runs/*/events", status=500)
    assert (await h.send_events(lease, [event(1, h.command_id)])).status_code == 200
    assert (await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))).status_code == 200


async def test_faults_come_before_authentication_like_a_failing_proxy(h: Harness) -> None:
    h.mgr.knobs.fail_next("*", "*", status=500)
    async with httpx.AsyncClient(base_url=h.mgr.url) as anonymous:
        response = await anonymous.get(f"{API}/runs/x/commands")
    assert response.status_code == 500


async def test_reset_next_drops_the_connection_without_an_answer_or_processing(
    h: Harness,
) -> None:
    lease = await h.claim()
    h.mgr.knobs.reset_next("POST", "*/events")
    with pytest.raises(httpx.TransportError):
        await h.send_events(lease, [event(1, h.command_id)])
    assert h.mgr.events(h.run_id, h.attempt_id) == []
    assert h.mgr.requests[-1].fault == "reset"
    assert h.mgr.requests[-1].status is None
    again = await h.send_events(lease, [event(1, h.command_id)])
    assert again.json() == {"ackedSeq": 1}


async def test_added_latency_delays_only_matching_requests(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.knobs.add_latency(0.3, method="POST", path_pattern="*/heartbeat")
    started = time.monotonic()
    await h.send_events(lease, [event(1, h.command_id)])
    assert time.monotonic() - started < 0.3
    started = time.monotonic()
    await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    assert time.monotonic() - started >= 0.3
    h.mgr.knobs.clear()
    assert h.mgr.knobs.latency_for("POST", "/api/v1/runs/r/heartbeat") == 0


async def test_knobs_given_at_start_apply_from_the_first_request() -> None:
    knobs = Knobs()
    knobs.fail_next("POST", "*/claim", status=500)
    async with harness(knobs) as h:
        url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
        assert (await h.client.post(url, json=runner_body())).status_code == 500
        assert h.mgr.knobs is knobs


# -- records, waiting, feeds -----------------------------------------------------------


async def test_every_request_is_recorded_with_method_path_status_and_bodies(h: Harness) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id)])
    await h.client.get(f"{API}/runs/{h.run_id}/commands", params={"leaseId": lease})
    claim, events, poll = h.mgr.requests
    assert (claim.method, claim.status, claim.body) == ("POST", 200, runner_body())
    assert events.path == f"{API}/runs/{h.run_id}/events"
    assert events.response == {"ackedSeq": 1}
    assert (poll.method, poll.status, poll.body) == ("GET", 200, None)
    assert poll.query == f"leaseId={lease}"
    assert claim.monotonic <= events.monotonic <= poll.monotonic


async def test_a_subscriber_receives_each_stored_event_once_as_it_is_stored(h: Harness) -> None:
    lease = await h.claim()
    with h.mgr.subscribe() as feed:
        batch = [event(1, h.command_id), event(2, h.command_id)]
        await h.send_events(lease, batch)
        await h.send_events(lease, batch)  # an identical resend stores nothing new
        await h.send_events(lease, [event(3, h.command_id)])
        with anyio.fail_after(5):
            seen = [await feed.receive() for _ in range(3)]
    assert [s.event["seq"] for s in seen] == [1, 2, 3]
    assert {(s.run_id, s.attempt_id) for s in seen} == {(h.run_id, h.attempt_id)}
    assert feed.dropped == 0


async def test_a_slow_subscriber_loses_events_but_storage_and_the_server_do_not(
    h: Harness,
) -> None:
    lease = await h.claim()
    with h.mgr.subscribe(max_buffer=2) as feed:
        batch = [event(seq, h.command_id) for seq in range(1, 6)]
        assert (await h.send_events(lease, batch)).json() == {"ackedSeq": 5}
        assert feed.dropped == 3
        with anyio.fail_after(5):
            kept = [(await feed.receive()).event["seq"] for _ in range(2)]
    assert kept == [1, 2]
    assert len(h.mgr.events(h.run_id, h.attempt_id)) == 5


async def test_a_feed_ends_when_the_fake_manager_shuts_down() -> None:
    async with serve_fake_manager(TOKEN) as mgr:
        feed = mgr.subscribe()
    with feed, anyio.fail_after(5):
        assert [stored async for stored in feed] == []


async def test_wait_until_returns_once_the_predicate_holds(h: Harness) -> None:
    lease = await h.claim()
    async with anyio.create_task_group() as tg:

        async def beat_twice() -> None:
            for _ in range(2):
                await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))

        tg.start_soon(beat_twice)
        with anyio.fail_after(5):
            await h.mgr.wait_until(lambda: len(h.mgr.heartbeats(h.run_id, h.attempt_id)) == 2)


# -- serving ----------------------------------------------------------------------------


async def test_the_server_listens_on_loopback_and_answers_at_once() -> None:
    async with serve_fake_manager(TOKEN) as mgr:
        assert mgr.url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=mgr.url) as client:
            assert (await client.get("/")).status_code == 401


async def test_the_server_stops_promptly_while_a_long_poll_is_open() -> None:
    job = example_job()
    responses: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with anyio.fail_after(10):
        async with (
            httpx.AsyncClient(headers=headers) as client,
            anyio.create_task_group() as tg,
            serve_fake_manager(TOKEN) as mgr,
        ):
            mgr.add_job(job)
            claim = await client.post(
                f"{mgr.url}{API}/runner-jobs/{job['runnerJobId']}/claim", json=runner_body()
            )
            lease = claim.json()["lease"]["leaseId"]

            async def poll() -> None:
                url = f"{mgr.url}{API}/runs/{job['runId']}/commands"
                params = {"leaseId": lease, "waitSeconds": "60"}
                responses.append(await client.get(url, params=params))

            tg.start_soon(poll)
            await mgr.wait_until(lambda: len(mgr.requests) == 2)
        # Leaving the block ended the poll: the answer is an empty batch.
    assert responses[0].json()["commands"] == []


async def test_the_module_serves_a_job_file_and_prints_its_url(tmp_path: Path) -> None:
    job = example_job()
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "token").write_text(TOKEN + "\n")
    command = [
        sys.executable,
        "-m",
        "fakes.manager",
        "--job",
        str(tmp_path / "job.json"),
        "--token-file",
        str(tmp_path / "token"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with anyio.fail_after(20):
        async with await anyio.open_process(command, cwd=REPO_ROOT, env=env) as process:
            assert process.stdout is not None
            lines = b""
            while lines.count(b"\n") < 2:
                lines += await process.stdout.receive()
            url, runner_job_id = lines.decode().split()[:2]
            assert runner_job_id == job["runnerJobId"]
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=url, headers=headers) as client:
                claim_url = f"{API}/runner-jobs/{runner_job_id}/claim"
                response = await client.post(claim_url, json=runner_body())
            assert response.json()["job"] == job
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 0
