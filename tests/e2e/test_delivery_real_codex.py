"""Delivery under faults: manager outage, lost lease, runner killed and restarted,
SIGTERM — with the real Codex, the scripted model and the fake manager's knobs."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest

from fakes.manager import example_job
from fakes.stack import LocalStack, local_stack
from tests.e2e.helpers import assert_contiguous, of_type

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

HANG = {"kind": "hang"}


def events_of(stack: LocalStack, job: dict[str, Any]) -> list[dict[str, Any]]:
    return stack.manager.events(job["runId"], job["attemptId"])


async def wait_event(stack: LocalStack, job: dict[str, Any], type: str) -> dict[str, Any]:
    await stack.manager.wait_until(lambda: any(e["type"] == type for e in events_of(stack, job)))
    return next(e for e in events_of(stack, job) if e["type"] == type)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_manager_outage_mid_turn_loses_and_duplicates_no_event(tmp_path: Path) -> None:
    steps = [
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": "call_during_outage",
            "arguments": {"cmd": "sleep 2; echo survived-the-outage"},
        },
        {"kind": "text", "text": "DONE-AFTER-THE-MANAGER-OUTAGE", "deltas": 20},
    ]
    async with local_stack(tmp_path, steps) as stack:
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1, lease_ttl_seconds=300)
        env = stack.runner_env(job["runnerJobId"])
        with anyio.fail_after(120):
            async with stack.runner_process(env) as process:
                await stack.model.wait_for_request(1)
                stack.manager.knobs.fail_next("*", "/api/v1/runs/*", status=503, count=10**6)
                await stack.model.wait_for_request(2)  # the turn went on while the manager was down
                stack.manager.knobs.clear()
                stack.manager.knobs.reset_next("*", "/api/v1/runs/*", count=3)
            terminal = await stack.manager.wait_terminal(job["runId"], job["attemptId"])
        events = events_of(stack, job)
        faults = [r for r in stack.manager.requests if r.fault is not None]

    assert process.returncode == 0
    assert len(faults) > 3
    assert terminal["status"] == "succeeded"
    assert terminal["finalResponse"] == "DONE-AFTER-THE-MANAGER-OUTAGE"
    assert_contiguous(events)
    assert terminal["lastSeq"] == len(events)
    bodies = [(e["type"], e["time"], repr(e["data"])) for e in events]
    assert len(set(bodies)) == len(bodies)
    [command] = [
        e for e in of_type(events, "item.completed") if e["data"]["itemId"] == "call_during_outage"
    ]
    assert "survived-the-outage" in command["data"]["output"]


async def test_a_lost_lease_stops_the_backend_and_the_runner_without_a_terminal(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, [HANG]) as stack:
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        env = stack.runner_env(job["runnerJobId"])
        with anyio.fail_after(60):
            async with stack.runner_process(env) as process:
                started = await wait_event(stack, job, "backend.started")
                await stack.model.wait_for_request(1)
                stack.manager.revoke_lease(job["runId"], job["attemptId"])
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])

    assert process.returncode == 1
    assert terminal is None
    assert gone(started["data"]["pid"])


async def test_a_runner_killed_and_restarted_in_the_same_pod_ends_the_attempt_once(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, [HANG]) as stack:
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        env = stack.runner_env(job["runnerJobId"])
        with anyio.fail_after(90):
            async with stack.runner_process(env) as first:
                started = await wait_event(stack, job, "backend.started")
                await stack.model.wait_for_request(1)
                await wait_event(stack, job, "turn.started")
                first.send_signal(signal.SIGKILL)
            before_restart = events_of(stack, job)
            async with stack.runner_process(env) as second:
                pass
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = events_of(stack, job)
        model_requests = len(stack.model.model_requests)

    assert first.returncode == -signal.SIGKILL
    assert second.returncode == 0
    assert terminal is not None
    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "runner-interrupted"
    assert (
        terminal["session"]["threadId"] == of_type(events, "thread.started")[0]["data"]["threadId"]
    )
    assert_contiguous(events)
    assert events[: len(before_restart)] == before_restart
    assert len(of_type(events, "runner.started")) == 1
    assert len(of_type(events, "runner.terminal")) == 1
    assert model_requests == 1  # no second turn
    assert gone(started["data"]["pid"])


async def test_sigterm_interrupts_the_turn_and_reports_runner_interrupted(tmp_path: Path) -> None:
    async with local_stack(tmp_path, [HANG]) as stack:
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        env = stack.runner_env(job["runnerJobId"])
        with anyio.fail_after(60):
            async with stack.runner_process(env) as process:
                await stack.model.wait_for_request(1)
                await wait_event(stack, job, "turn.started")
                process.send_signal(signal.SIGTERM)
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = events_of(stack, job)

    assert process.returncode == 0
    assert terminal is not None
    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "runner-interrupted"
    [turn] = of_type(events, "turn.completed")
    assert turn["data"]["status"] == "interrupted"
    assert os.getpid() > 0
