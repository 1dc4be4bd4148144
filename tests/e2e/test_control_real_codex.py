"""Steer, cancel, timeouts, invalid tool calls, approvals and backend death, with the
real Codex driven by the scripted model and the runner driven by the fake manager."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from fakes.manager import example_job, new_id
from fakes.model import SCRIPTS_DIR, load_script
from fakes.stack import LocalStack, RunnerResult, local_stack
from tests.e2e.helpers import describe, of_type, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

HANG = {"kind": "hang"}


class Attempt:
    """One runner process running in the background of a test."""

    def __init__(self, stack: LocalStack, job: dict[str, Any]) -> None:
        self.stack = stack
        self.job = job
        self.result: RunnerResult | None = None

    def events(self) -> list[dict[str, Any]]:
        return self.stack.manager.events(self.job["runId"], self.job["attemptId"])

    async def wait_event(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        await self.stack.manager.wait_until(lambda: any(predicate(e) for e in self.events()))
        return next(e for e in self.events() if predicate(e))

    def terminal(self) -> dict[str, Any]:
        terminal = self.stack.manager.terminal(self.job["runId"], self.job["attemptId"])
        assert terminal is not None, describe(self.result) if self.result else "no result"
        return terminal

    def push(self, type: str, **fields: Any) -> str:
        command = {
            "commandId": new_id("cmd"),
            "type": type,
            "targetCommandId": self.job["command"]["commandId"],
            **fields,
        }
        return self.stack.manager.push_command(self.job["runId"], command)


@asynccontextmanager
async def attempt_in_background(
    stack: LocalStack, *, sandbox: str | None = None, **job_fields: Any
) -> AsyncIterator[Attempt]:
    job = example_job(**job_fields)
    if sandbox is not None:
        job["backend"]["sandbox"] = sandbox
    stack.manager.add_job(job, heartbeat_interval_seconds=1)
    attempt = Attempt(stack, job)
    with anyio.fail_after(90):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                attempt.result = await stack.run_runner(job["runnerJobId"])

            tg.start_soon(run)
            yield attempt
    assert attempt.result is not None
    assert attempt.result.returncode == 0, describe(attempt.result)


async def run_to_end(stack: LocalStack, **job_fields: Any) -> Attempt:
    """Run one attempt to its end with nothing done meanwhile."""
    async with attempt_in_background(stack, **job_fields) as attempt:
        pass
    return attempt


async def test_a_steer_reaches_the_active_turn_and_is_delivered_received_forwarded_accepted(
    tmp_path: Path,
) -> None:
    steps = [HANG, {"kind": "text", "text": "AFTER-STEER"}]
    async with local_stack(tmp_path, steps) as stack:
        async with attempt_in_background(stack) as attempt:
            await stack.model.wait_for_request(1)
            steer_id = attempt.push("steer", input=[{"type": "text", "text": "STEER-MARKER"}])
        deliveries = [d.body["state"] for d in stack.manager.deliveries(steer_id)]
        second_request = json.dumps(stack.model.model_requests[1].body)

    assert deliveries == ["received", "forwarded", "accepted"]
    assert "STEER-MARKER" in second_request
    terminal = attempt.terminal()
    assert terminal["status"] == "succeeded"
    assert terminal["finalResponse"] == "AFTER-STEER"
    states = [e["data"]["state"] for e in of_type(attempt.events(), "steer.delivery")]
    assert states == ["received", "forwarded", "accepted"]


async def test_a_cancel_interrupts_the_turn_and_ends_the_attempt_cancelled(tmp_path: Path) -> None:
    async with local_stack(tmp_path, [HANG]) as stack:
        async with attempt_in_background(stack) as attempt:
            await stack.model.wait_for_request(1)
            cancel_id = attempt.push("cancel", reason="user-cancelled")
        deliveries = [d.body["state"] for d in stack.manager.deliveries(cancel_id)]

    terminal = attempt.terminal()
    assert terminal["status"] == "cancelled"
    assert terminal["failureKind"] == "cancelled"
    assert deliveries[0] == "received"
    [turn] = of_type(attempt.events(), "turn.completed")
    assert turn["data"]["status"] == "interrupted"


async def test_turn_seconds_elapsing_during_a_tool_ends_it_timed_out_and_closes_the_item(
    tmp_path: Path,
) -> None:
    steps = [
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": "call_sleep",
            "arguments": {"cmd": "sleep 30", "yield_time_ms": 30000},
        }
    ]
    async with local_stack(tmp_path, steps) as stack:
        attempt = await run_to_end(stack, turn_seconds=4)

    terminal = attempt.terminal()
    assert terminal["status"] == "timed-out"
    assert terminal["failureKind"] == "turn-timeout"
    closed = [
        e
        for e in of_type(attempt.events(), "item.completed")
        if e["data"]["itemId"] == "call_sleep"
    ]
    assert [c["data"]["status"] for c in closed] == ["interrupted"]
    beats = [
        h.body["liveness"]
        for h in stack.manager.heartbeats(attempt.job["runId"], attempt.job["attemptId"])
    ]
    assert beats[0]["phase"] == "waiting-runner"
    assert any(
        b["phase"] == "waiting-tool" and (b["activeItem"] or {}).get("itemId") == "call_sleep"
        for b in beats
    )


async def test_no_backend_activity_for_idle_seconds_ends_it_timed_out_with_idle_timeout(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, [HANG], stream_idle_timeout_ms=120_000) as stack:
        attempt = await run_to_end(stack, idle_seconds=2)

    terminal = attempt.terminal()
    assert terminal["status"] == "timed-out"
    assert terminal["failureKind"] == "idle-timeout"


async def test_three_invalid_tool_calls_in_a_row_fail_the_attempt_as_invalid_tool_call(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, load_script(SCRIPTS_DIR / "invalid-tool-calls.json")) as stack:
        attempt = await run_to_end(stack)

    terminal = attempt.terminal()
    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "provider-invalid-tool-call"
    passing = [f for f in of_type(attempt.events(), "failure") if not f["data"]["terminal"]]
    assert len(passing) == 3
    assert {f["data"]["failureKind"] for f in passing} == {"provider-invalid-tool-call"}


async def test_one_invalid_tool_call_is_a_non_terminal_failure_and_the_turn_succeeds(
    tmp_path: Path,
) -> None:
    script = load_script(SCRIPTS_DIR / "invalid-tool-calls.json")
    steps = [script.steps[0], script.steps[-1]]
    async with local_stack(tmp_path, steps) as stack, attempt_in_background(stack) as attempt:
        pass

    terminal = attempt.terminal()
    assert terminal["status"] == "succeeded"
    [passing] = of_type(attempt.events(), "failure")
    assert passing["data"]["terminal"] is False
    assert passing["data"]["failureKind"] == "provider-invalid-tool-call"


async def test_a_command_approval_under_untrusted_is_declined_and_the_command_never_runs(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "approved_file.txt"
    steps = [
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": "call_ap_1",
            "arguments": {"cmd": f"touch {marker}"},
        },
        {"kind": "text", "text": "It was declined."},
    ]
    async with local_stack(tmp_path / "stack", steps) as stack:
        job = example_job()
        job["backend"]["approvalPolicy"] = "untrusted"
        done = await run_job(stack, job)
        terminal, events = done.terminal, done.events

    assert terminal["status"] == "succeeded"
    answers = of_type(events, "server-request.answered")
    assert [(a["data"]["method"], a["data"]["decision"]) for a in answers] == [
        ("item/commandExecution/requestApproval", "decline")
    ]
    assert isinstance(answers[0]["data"]["requestId"], int)
    [command] = [e for e in of_type(events, "item.completed") if e["data"]["itemId"] == "call_ap_1"]
    assert command["data"]["status"] == "declined"
    assert not marker.exists()


async def test_the_backend_killed_mid_turn_ends_the_attempt_as_backend_exited(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, [HANG]) as stack, attempt_in_background(stack) as attempt:
        started = await attempt.wait_event(lambda e: e["type"] == "backend.started")
        await stack.model.wait_for_request(1)
        os.kill(started["data"]["pid"], signal.SIGKILL)

    terminal = attempt.terminal()
    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "backend-exited"
    phases = [e["data"]["phase"] for e in of_type(attempt.events(), "liveness")]
    assert phases[-2:] == ["transport-disconnected", "terminal"]


async def test_a_broken_config_toml_is_backend_config_invalid(tmp_path: Path) -> None:
    async with local_stack(tmp_path, []) as stack:
        config = stack.provider_home / "config.toml"
        config.write_text("[model_providers.broken\n" + config.read_text())
        job = example_job()
        done = await run_job(stack, job)
        terminal = done.terminal

    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "backend-config-invalid"


async def test_a_missing_codex_binary_is_backend_spawn_failed(tmp_path: Path) -> None:
    async with local_stack(tmp_path, []) as stack:
        job = example_job()
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(tmp_path / "nope"))
        done = await run_job(stack, job, env=env)
        terminal = done.terminal

    assert terminal["failureKind"] == "backend-spawn-failed"


async def test_a_daemon_the_agent_leaves_behind_is_killed_and_reported_at_the_end(
    tmp_path: Path,
) -> None:
    # Outside Codex's sandbox (whose PID namespace would end the daemon with it), a
    # double-forked daemon escapes the backend's process group and session; the runner,
    # as child subreaper, inherits it and must end it.
    pidfile = tmp_path / "daemon.pid"
    cmd = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' > /dev/null 2>&1 < /dev/null &"
    steps = [
        {"kind": "function_call", "name": "exec_command", "arguments": {"cmd": cmd}},
        {"kind": "text", "text": "started a daemon"},
    ]
    async with local_stack(tmp_path / "stack", steps) as stack:
        attempt = await run_to_end(stack, sandbox="danger-full-access")

    assert attempt.terminal()["status"] == "succeeded"
    [end] = of_type(attempt.events(), "runner.terminal")
    processes = end["data"]["processes"]
    assert processes["noDescendantSurvived"] is True
    assert processes["found"] >= 1
    daemon = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(daemon, 0)
