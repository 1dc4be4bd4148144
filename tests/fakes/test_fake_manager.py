"""The fake manager enforces contract §2-§8 over real loopback HTTP.

Each test serves a fresh fake manager (`harness()`) and talks to it with httpx, the
way the runner does; assertions are on status codes and §8 error codes, never on
message text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from pydantic import ValidationError

from fakes.manager import example_job, next_attempt, parse_time
from tests.fakes.test_fake_manager_support import (
    API,
    Harness,
    error_code,
    event,
    harness,
    heartbeat_body,
    runner_body,
    terminal_body,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async with harness() as served:
        yield served


# -- §1/§8 auth and error bodies --------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdA==", "test-token-4b1d"])
async def test_a_request_without_the_right_bearer_token_is_refused_with_401(
    h: Harness, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with httpx.AsyncClient(base_url=h.mgr.url, headers=headers) as anonymous:
        url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
        response = await anonymous.post(url, json=runner_body())
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert h.mgr.lease(h.run_id, h.attempt_id) is None


async def test_an_unknown_route_answers_404_with_an_error_body(h: Harness) -> None:
    response = await h.client.post(f"{API}/nowhere", json={})
    assert response.status_code == 404
    assert error_code(response) == "not-found"


async def test_a_body_that_is_not_a_json_object_is_refused_with_invalid_json(h: Harness) -> None:
    url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
    for content in (b"{not json", b"[1, 2]", b'{"a": NaN}'):
        response = await h.client.post(url, content=content)
        assert response.status_code == 400
        assert error_code(response) == "invalid-json"


# -- §2 claim ---------------------------------------------------------------------------


async def test_a_claim_returns_the_lease_the_heartbeat_interval_and_the_job_as_registered(
    h: Harness,
) -> None:
    url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
    response = await h.client.post(url, json=runner_body())
    assert response.status_code == 200
    body = response.json()
    assert body["job"] == h.job
    assert body["heartbeatIntervalSeconds"] == 10
    assert set(body["lease"]) == {"leaseId", "expiresAt", "ttlSeconds"}
    assert body["lease"]["ttlSeconds"] == 30
    expires_at = body["lease"]["expiresAt"]
    assert expires_at.endswith("Z")
    assert len(expires_at.split(".")[1]) == 4  # three digits of milliseconds and "Z"
    assert parse_time(expires_at) - h.mgr.clock.now() <= timedelta(seconds=30)
    assert h.mgr.claimed_by(h.run_id, h.attempt_id) == runner_body()["runner"]


async def test_a_claim_of_an_unknown_job_is_refused_with_job_not_found(h: Harness) -> None:
    response = await h.client.post(f"{API}/runner-jobs/rj-nope/claim", json=runner_body())
    assert response.status_code == 404
    assert error_code(response) == "job-not-found"


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `body` with the dotted `path` set to `value` (or removed: `...`)."""
    copied: dict[str, Any] = json.loads(json.dumps(body))
    *parents, last = path.split(".")
    target = copied
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return copied


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("runner.extra", "x"),
        ("runner.capabilities.gpu", True),
        ("surprise", 1),
        ("runner.runnerId", ...),
        ("runner.runnerId", ""),
        ("runner.pod", ...),
        ("runner.capabilities", ...),
        ("runner.capabilities.cpuCount", "2"),
        ("runner.capabilities.memoryBytes", True),
        ("runner.capabilities.bootCommit", "not-hex"),
    ],
)
async def test_a_claim_body_off_the_contract_is_refused_with_400(
    h: Harness, path: str, value: Any
) -> None:
    url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
    response = await h.client.post(url, json=_with(runner_body(), path, value))
    assert response.status_code == 400
    assert error_code(response) == "invalid-request"
    assert h.mgr.lease(h.run_id, h.attempt_id) is None


async def test_a_claim_may_report_unknown_environment_facts_as_null(h: Harness) -> None:
    body = runner_body()
    for key in ("pod", "node", "namespace"):
        body["runner"][key] = None
    for key in ("bootCommit", "envIdentity", "codexVersion"):
        body["runner"]["capabilities"][key] = None
    url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
    assert (await h.client.post(url, json=body)).status_code == 200


async def test_a_repeated_claim_by_the_same_runner_returns_the_same_lease_and_job(
    h: Harness,
) -> None:
    url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
    first = (await h.client.post(url, json=runner_body("rnr-1"))).json()
    second = (await h.client.post(url, json=runner_body("rnr-1"))).json()
    assert second == first


async def test_a_claim_by_another_runner_during_a_live_lease_is_refused_with_already_claimed(
    h: Harness,
) -> None:
    await h.claim("rnr-1")
    url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
    response = await h.client.post(url, json=runner_body("rnr-2"))
    assert response.status_code == 409
    assert error_code(response) == "already-claimed"


async def test_another_runner_takes_over_an_expired_lease_and_the_old_lease_is_lost(
    h: Harness,
) -> None:
    old = await h.claim("rnr-1")
    h.mgr.clock.advance(31)
    new = await h.claim("rnr-2")
    assert new != old
    response = await h.send_events(old, [event(1, h.command_id)])
    assert response.status_code == 409
    assert error_code(response) == "lease-lost"
    assert (await h.send_events(new, [event(1, h.command_id)])).status_code == 200


async def test_a_claim_of_a_cancelled_job_is_refused_with_job_cancelled(h: Harness) -> None:
    h.mgr.cancel_job(h.job["runnerJobId"])
    url = f"{API}/runner-jobs/{h.job['runnerJobId']}/claim"
    response = await h.client.post(url, json=runner_body())
    assert response.status_code == 410
    assert error_code(response) == "job-cancelled"


async def test_two_attempts_of_one_run_are_separate_runner_jobs_with_separate_seqs(
    h: Harness,
) -> None:
    second = next_attempt(h.job, thread_id="thr-1")
    h.mgr.add_job(second)
    lease_1 = await h.claim("rnr-1")
    lease_2 = await h.claim("rnr-2", job=second)
    assert (await h.send_events(lease_1, [event(1, h.command_id)])).status_code == 200
    body = {"leaseId": lease_2, "attemptId": second["attemptId"], "events": [event(1, "c")]}
    assert (await h.post("events", body)).status_code == 200
    assert len(h.mgr.events(h.run_id, h.attempt_id)) == 1
    assert len(h.mgr.events(h.run_id, second["attemptId"])) == 1
    assert second["attempt"] == 2
    assert second["session"]["threadId"] == "thr-1"


def test_add_job_refuses_a_malformed_job_unless_told_not_to_check() -> None:
    from fakes.manager import FakeManager

    mgr = FakeManager("t")
    broken = example_job()
    broken["backend"]["kind"] = "claude"
    with pytest.raises(ValidationError):
        mgr.add_job(broken)
    assert mgr.add_job(broken, check=False) == broken["runnerJobId"]
    with pytest.raises(ValueError, match="exists"):
        mgr.add_job(broken, check=False)


# -- §3 events --------------------------------------------------------------------------


async def test_contiguous_batches_are_stored_in_order_and_acked(h: Harness) -> None:
    lease = await h.claim()
    first = await h.send_events(lease, [event(1, h.command_id), event(2, h.command_id)])
    assert first.status_code == 200
    assert first.json() == {"ackedSeq": 2}
    second = await h.send_events(lease, [event(3, h.command_id, "turn.started", turnId="t")])
    assert second.json() == {"ackedSeq": 3}
    stored = h.mgr.events(h.run_id, h.attempt_id)
    assert [e["seq"] for e in stored] == [1, 2, 3]
    assert stored[2]["data"] == {"turnId": "t"}


async def test_an_empty_batch_answers_the_acked_seq(h: Harness) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id)])
    response = await h.send_events(lease, [])
    assert response.json() == {"ackedSeq": 1}


async def test_resending_stored_events_with_identical_content_is_accepted(h: Harness) -> None:
    lease = await h.claim()
    batch = [event(1, h.command_id), event(2, h.command_id)]
    await h.send_events(lease, batch)
    again = await h.send_events(lease, [*batch, event(3, h.command_id)])
    assert again.status_code == 200
    assert again.json() == {"ackedSeq": 3}
    assert len(h.mgr.events(h.run_id, h.attempt_id)) == 3


async def test_a_stored_seq_with_different_content_is_refused_with_seq_conflict(
    h: Harness,
) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id, text="a")])
    response = await h.send_events(
        lease, [event(1, h.command_id, text="b"), event(2, h.command_id)]
    )
    assert response.status_code == 409
    assert error_code(response) == "seq-conflict"
    assert len(h.mgr.events(h.run_id, h.attempt_id)) == 1


async def test_a_batch_that_skips_a_seq_is_refused_with_seq_gap_and_the_acked_seq(
    h: Harness,
) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id), event(2, h.command_id)])
    response = await h.send_events(lease, [event(4, h.command_id)])
    assert response.status_code == 409
    assert error_code(response) == "seq-gap"
    assert response.json()["error"]["ackedSeq"] == 2
    assert len(h.mgr.events(h.run_id, h.attempt_id)) == 2


async def test_a_batch_whose_seqs_are_not_contiguous_is_refused_and_nothing_is_stored(
    h: Harness,
) -> None:
    lease = await h.claim()
    response = await h.send_events(lease, [event(1, h.command_id), event(3, h.command_id)])
    assert response.status_code == 400
    assert error_code(response) == "invalid-request"
    assert h.mgr.events(h.run_id, h.attempt_id) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("seq", 0),
        ("seq", "1"),
        ("seq", True),
        ("seq", 1.0),
        ("type", ...),
        ("type", ""),
        ("time", "2025-01-02T03:04:05Z"),
        ("time", "2025-01-02T03:04:05.123456Z"),
        ("time", "2025-01-02T03:04:05.123+02:00"),
        ("time", "2025-13-02T03:04:05.123Z"),
        ("commandId", ...),
        ("data", ["not", "an", "object"]),
        ("data", ...),
        ("extra", 1),
    ],
)
async def test_an_event_off_the_contract_shape_is_refused_with_400(
    h: Harness, path: str, value: Any
) -> None:
    lease = await h.claim()
    response = await h.send_events(lease, [_with(event(1, h.command_id), path, value)])
    assert response.status_code == 400
    assert error_code(response) == "invalid-request"


async def test_a_batch_with_an_unknown_top_level_field_is_refused_with_400(h: Harness) -> None:
    lease = await h.claim()
    body = {"leaseId": lease, "attemptId": h.attempt_id, "events": [], "runId": h.run_id}
    response = await h.post("events", body)
    assert response.status_code == 400


async def test_more_than_500_events_in_a_batch_are_refused_with_413(h: Harness) -> None:
    lease = await h.claim()
    batch = [event(seq, h.command_id, text="x") for seq in range(1, 502)]
    response = await h.send_events(lease, batch)
    assert response.status_code == 413
    assert (await h.send_events(lease, batch[:500])).json() == {"ackedSeq": 500}


async def test_a_batch_body_over_1_mib_is_refused_with_413(h: Harness) -> None:
    lease = await h.claim()
    batch = [event(seq, h.command_id, text="y" * 40_000) for seq in range(1, 28)]
    response = await h.send_events(lease, batch)
    assert response.status_code == 413
    assert h.mgr.events(h.run_id, h.attempt_id) == []


async def test_an_event_whose_data_reaches_max_event_bytes_is_refused_with_413() -> None:
    async with harness(max_event_bytes=100) as h:
        lease = await h.claim()
        # {"text":"…"} is 11 bytes of JSON around the text: 88 + 11 = 99 < 100.
        fits = await h.send_events(lease, [event(1, h.command_id, text="z" * 88)])
        assert fits.status_code == 200
        too_big = await h.send_events(lease, [event(2, h.command_id, text="z" * 89)])
        assert too_big.status_code == 413
        assert error_code(too_big) == "event-too-large"


async def test_events_under_an_expired_lease_are_refused_with_lease_lost(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.expire_lease(h.run_id, h.attempt_id)
    response = await h.send_events(lease, [event(1, h.command_id)])
    assert response.status_code == 409
    assert error_code(response) == "lease-lost"


async def test_events_under_a_lease_id_that_is_not_the_attempts_are_refused_with_lease_lost(
    h: Harness,
) -> None:
    await h.claim()
    response = await h.send_events("lse-forged", [event(1, h.command_id)])
    assert response.status_code == 409
    assert error_code(response) == "lease-lost"


async def test_events_of_a_cancelled_attempt_are_refused_with_attempt_cancelled(
    h: Harness,
) -> None:
    lease = await h.claim()
    h.mgr.cancel_attempt(h.run_id, h.attempt_id)
    response = await h.send_events(lease, [event(1, h.command_id)])
    assert response.status_code == 410
    assert error_code(response) == "attempt-cancelled"


async def test_events_for_an_unknown_run_or_attempt_are_refused_with_404(h: Harness) -> None:
    lease = await h.claim()
    body = {"leaseId": lease, "attemptId": h.attempt_id, "events": []}
    response = await h.client.post(f"{API}/runs/run-nope/events", json=body)
    assert (response.status_code, error_code(response)) == (404, "run-not-found")
    body["attemptId"] = "att-nope"
    response = await h.post("events", body)
    assert (response.status_code, error_code(response)) == (404, "attempt-not-found")


async def test_new_events_after_the_terminal_are_refused_with_attempt_finished(
    h: Harness,
) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id)])
    assert (await h.post("terminal", terminal_body(h.job, lease, 1))).status_code == 200
    assert (await h.send_events(lease, [event(1, h.command_id)])).status_code == 409
    response = await h.send_events(lease, [event(2, h.command_id)])
    assert (response.status_code, error_code(response)) == (409, "attempt-finished")


# -- §4 heartbeat -----------------------------------------------------------------------


async def test_a_heartbeat_renews_the_lease_and_says_whether_commands_are_pending(
    h: Harness,
) -> None:
    lease = await h.claim()
    h.mgr.clock.advance(20)
    response = await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "lease": {"leaseId": lease, "expiresAt": body["lease"]["expiresAt"]},
        "commandsPending": False,
    }
    assert parse_time(body["lease"]["expiresAt"]) > h.mgr.clock.now() + timedelta(seconds=29)
    h.mgr.push_command(h.run_id, {"commandId": "cmd-s1", "type": "steer", "input": []})
    pending = await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    assert pending.json()["commandsPending"] is True


@pytest.mark.parametrize(
    "phase",
    [
        "waiting-runner",
        "waiting-model",
        "waiting-tool",
        "idle-after-tool",
        "transport-disconnected",
        "terminal",
    ],
)
async def test_a_heartbeat_in_each_runner_phase_is_accepted(h: Harness, phase: str) -> None:
    lease = await h.claim()
    response = await h.post("heartbeat", heartbeat_body(lease, h.attempt_id, phase))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("liveness.phase", "runner-heartbeat-stale"),
        ("liveness.phase", "thinking"),
        ("liveness.phaseSince", "yesterday"),
        ("liveness.lastEventSeq", -1),
        ("liveness.activeItem", {"itemId": "i"}),
        ("liveness.mood", "ok"),
        ("liveness.turnId", ...),
        ("resources", ...),
        ("resources.rssBytes", 1.5),
        ("attemptId", ...),
    ],
)
async def test_a_heartbeat_off_the_contract_is_refused_with_400(
    h: Harness, path: str, value: Any
) -> None:
    lease = await h.claim()
    response = await h.post("heartbeat", _with(heartbeat_body(lease, h.attempt_id), path, value))
    assert response.status_code == 400
    assert error_code(response) == "invalid-request"
    assert h.mgr.heartbeats(h.run_id, h.attempt_id) == []


async def test_heartbeats_are_recorded_with_their_bodies_and_arrival_times(h: Harness) -> None:
    lease = await h.claim()
    for phase in ("waiting-runner", "waiting-model"):
        await h.post("heartbeat", heartbeat_body(lease, h.attempt_id, phase))
    beats = h.mgr.heartbeats(h.run_id, h.attempt_id)
    assert [b.body["liveness"]["phase"] for b in beats] == ["waiting-runner", "waiting-model"]
    assert beats[0].monotonic <= beats[1].monotonic
    assert beats[0].received_at <= beats[1].received_at


async def test_a_lease_without_heartbeats_expires_after_its_ttl(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.clock.advance(29)
    assert (await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))).status_code == 200
    h.mgr.clock.advance(29)  # 58 s after the claim, 29 s after the heartbeat
    assert (await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))).status_code == 200
    h.mgr.clock.advance(30)
    response = await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    assert (response.status_code, error_code(response)) == (409, "lease-lost")


async def test_a_run_without_a_heartbeat_for_three_intervals_is_stale(h: Harness) -> None:
    lease = await h.claim()
    await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    h.mgr.clock.advance(29)  # 3 intervals of 10 s are 30 s; 1 s of margin for real time
    assert not h.mgr.is_heartbeat_stale(h.run_id, h.attempt_id)
    h.mgr.clock.advance(1.01)
    assert h.mgr.is_heartbeat_stale(h.run_id, h.attempt_id)


async def test_a_heartbeat_under_a_revoked_lease_is_refused_with_lease_lost(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.revoke_lease(h.run_id, h.attempt_id)
    response = await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    assert (response.status_code, error_code(response)) == (409, "lease-lost")


async def test_a_heartbeat_of_a_cancelled_attempt_is_refused_with_attempt_cancelled(
    h: Harness,
) -> None:
    lease = await h.claim()
    h.mgr.cancel_attempt(h.run_id, h.attempt_id)
    response = await h.post("heartbeat", heartbeat_body(lease, h.attempt_id))
    assert (response.status_code, error_code(response)) == (410, "attempt-cancelled")


# -- §7 terminal ------------------------------------------------------------------------


async def test_a_terminal_after_every_event_is_stored_is_accepted_and_awaitable(
    h: Harness,
) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id), event(2, h.command_id)])
    body = terminal_body(h.job, lease, 2)
    async with anyio.create_task_group() as tg:
        results: list[dict[str, Any]] = []

        async def wait() -> None:
            results.append(await h.mgr.wait_terminal(h.run_id, h.attempt_id))

        tg.start_soon(wait)
        with anyio.fail_after(5):
            response = await h.post("terminal", body)
    assert response.status_code == 200
    assert results == [body]
    assert h.mgr.terminal(h.run_id, h.attempt_id) == body


async def test_the_same_terminal_again_is_accepted_and_a_different_one_is_a_conflict(
    h: Harness,
) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id)])
    body = terminal_body(h.job, lease, 1)
    assert (await h.post("terminal", body)).status_code == 200
    assert (await h.post("terminal", body)).status_code == 200
    response = await h.post("terminal", {**body, "durationMs": 99})
    assert (response.status_code, error_code(response)) == (409, "terminal-conflict")
    assert h.mgr.terminal(h.run_id, h.attempt_id) == body


async def test_a_terminal_before_every_event_to_last_seq_is_stored_is_refused(
    h: Harness,
) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id)])
    response = await h.post("terminal", terminal_body(h.job, lease, 3))
    assert (response.status_code, error_code(response)) == (409, "events-missing")
    assert response.json()["error"]["ackedSeq"] == 1
    assert h.mgr.terminal(h.run_id, h.attempt_id) is None


async def test_a_terminal_whose_last_seq_is_below_the_stored_events_is_refused(
    h: Harness,
) -> None:
    lease = await h.claim()
    await h.send_events(lease, [event(1, h.command_id), event(2, h.command_id)])
    response = await h.post("terminal", terminal_body(h.job, lease, 1))
    assert (response.status_code, error_code(response)) == (409, "last-seq-mismatch")


@pytest.mark.parametrize(
    ("status", "failure_kind"),
    [
        ("succeeded", "provider-error"),
        ("failed", None),
        ("cancelled", None),
        ("timed-out", None),
        ("failed", "no-such-kind"),
        ("done", None),
    ],
)
async def test_a_terminal_breaking_the_status_and_failure_kind_rule_is_refused(
    h: Harness, status: str, failure_kind: str | None
) -> None:
    lease = await h.claim()
    body = terminal_body(h.job, lease, 0)
    body.update(status=status, failureKind=failure_kind)
    response = await h.post("terminal", body)
    assert (response.status_code, error_code(response)) == (400, "invalid-request")


@pytest.mark.parametrize(
    ("status", "failure_kind"),
    [("failed", "provider-error"), ("cancelled", "cancelled"), ("timed-out", "turn-timeout")],
)
async def test_a_terminal_with_a_failure_kind_for_a_non_success_status_is_accepted(
    h: Harness, status: str, failure_kind: str
) -> None:
    lease = await h.claim()
    body = terminal_body(h.job, lease, 0, status=status, failure_kind=failure_kind)
    assert (await h.post("terminal", body)).status_code == 200


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("commandId", "cmd-other"),
        ("session.sessionId", "ses-other"),
        ("usage.outputTokens", "5"),
        ("finalResponse", ...),
        ("extra", True),
    ],
)
async def test_a_terminal_off_the_contract_or_for_another_command_is_refused_with_400(
    h: Harness, path: str, value: Any
) -> None:
    lease = await h.claim()
    response = await h.post("terminal", _with(terminal_body(h.job, lease, 0), path, value))
    assert (response.status_code, error_code(response)) == (400, "invalid-request")


async def test_a_terminal_under_a_lost_lease_is_refused_with_lease_lost(h: Harness) -> None:
    lease = await h.claim()
    h.mgr.expire_lease(h.run_id, h.attempt_id)
    response = await h.post("terminal", terminal_body(h.job, lease, 0))
    assert (response.status_code, error_code(response)) == (409, "lease-lost")
