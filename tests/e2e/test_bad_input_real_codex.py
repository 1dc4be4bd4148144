"""Contract v1.1 against a manager that sends bad input or bad timing (§3, §5, §6), with
the real Codex driven by the scripted model and the runner driven by the fake manager."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from fakes.manager import example_job, new_id
from fakes.stack import local_stack
from tests.e2e.helpers import describe, of_type
from tests.e2e.test_control_real_codex import HANG, attempt_in_background

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]


async def test_a_cancel_queued_before_the_turn_starts_ends_cancelled_without_a_model_call(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, [HANG]) as stack:
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        cancel_id = stack.manager.push_command(
            job["runId"], {"commandId": new_id("cmd"), "type": "cancel", "reason": "early"}
        )
        with anyio.fail_after(60):
            result = await stack.run_runner(job["runnerJobId"])
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = stack.manager.events(job["runId"], job["attemptId"])
        model_requests = len(stack.model.requests)
        deliveries = [d.body["state"] for d in stack.manager.deliveries(cancel_id)]

    assert result.returncode == 0, describe(result)
    assert terminal is not None
    assert terminal["status"] == "cancelled"
    assert terminal["failureKind"] == "cancelled"
    assert model_requests == 0
    assert of_type(events, "turn.started") == []
    assert deliveries == ["received"]


async def test_a_malformed_steer_is_rejected_naming_the_field_and_the_attempt_goes_on(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, [HANG]) as stack:
        async with attempt_in_background(stack) as attempt:
            await stack.model.wait_for_request(1)
            bad = attempt.push("steer", input=[{"type": "text"}])
            not_a_list = attempt.push("steer", input="also docs")
            await stack.manager.wait_until(
                lambda: (
                    stack.manager.delivery_state(bad) == "rejected"
                    and stack.manager.delivery_state(not_a_list) == "rejected"
                )
            )
            attempt.push("cancel", reason="done testing")
        rejected = {
            cid: stack.manager.deliveries(cid)[-1].body["detail"] for cid in (bad, not_a_list)
        }

    assert attempt.terminal()["status"] == "cancelled"
    assert rejected[bad]["reason"] == "invalid-command"
    assert rejected[bad]["field"] == "input[0].text"
    assert rejected[not_a_list]["field"] == "input"


async def test_a_steer_arriving_while_the_terminal_is_sent_is_rejected_with_no_later_event(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, [{"kind": "text", "text": "done"}]) as stack:
        stack.manager.knobs.add_latency(1.0, method="POST", path_pattern="/api/v1/runs/*/terminal")
        async with attempt_in_background(stack) as attempt:
            await attempt.wait_event(lambda e: e["type"] == "runner.terminal")
            steer = attempt.push("steer", input=[{"type": "text", "text": "too late"}])
        deliveries = stack.manager.deliveries(steer)

    events = attempt.events()
    terminal = attempt.terminal()
    assert events[-1]["type"] == "runner.terminal"
    assert terminal["lastSeq"] == events[-1]["seq"] == len(events)
    assert of_type(events, "steer.delivery") == []
    assert [d.body["state"] for d in deliveries] == ["rejected"]
    assert deliveries[0].body["detail"]["reason"] == "attempt-ending"
    assert terminal["status"] == "succeeded"


async def test_garbage_commands_answers_do_not_stop_the_poll_and_a_later_cancel_is_seen(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, [HANG]) as stack:
        knobs = stack.manager.knobs
        commands = "/api/v1/runs/*/commands"
        knobs.answer_next("GET", commands, b"<html>not json</html>")
        knobs.answer_next("GET", commands, b'{"commands": "not a list"}')
        knobs.fail_next("GET", commands, status=500)
        async with attempt_in_background(stack) as attempt:
            await stack.model.wait_for_request(1)
            await stack.manager.wait_until(
                lambda: all(rule.remaining == 0 for rule in knobs.faults)
            )
            cancel_id = attempt.push("cancel", reason="after garbage")
        states = [d.body["state"] for d in stack.manager.deliveries(cancel_id)]

    assert attempt.terminal()["status"] == "cancelled"
    assert states == ["received"]
