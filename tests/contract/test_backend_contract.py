"""The contract suite: the same scenarios against the real Codex (npm 0.171, the default
pin; npm 0.169; PyPI 0.163) and against the fake app-server; the runner must classify
them identically.

A scenario gives the scripted model's steps (real Codex) and the fake app-server's turns
(the fake), what the test does during the turn, and what the manager must end up with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from fakes.app_server import LAUNCHER
from fakes.manager import example_job, new_id, next_attempt
from fakes.model import SCRIPTS_DIR, load_script
from fakes.stack import LocalStack, local_stack
from tests.e2e.helpers import assert_contiguous, of_type
from tests.real_codex import REAL_CODEX

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

BACKENDS: dict[str, Callable[[], Path | None]] = {
    **REAL_CODEX,
    "fake-app-server": lambda: LAUNCHER,
}


@dataclass(frozen=True)
class Scenario:
    """One behaviour both backends can play."""

    name: str
    model_steps: list[Any]
    fake_turns: list[dict[str, Any]]
    expect_status: str
    expect_kind: str | None = None
    expect_final: str | None = None
    action: str | None = None
    """`steer` or `cancel`, sent once the turn has started."""
    resume: str | None = None
    """`previous`: a first attempt runs, the second resumes its thread; `missing`."""
    expect_types: list[str] = field(default_factory=list)


def answer(text: str) -> dict[str, Any]:
    return {"steps": [{"kind": "agentMessage", "text": text}]}


SCENARIOS = [
    Scenario(
        "plain-turn",
        [{"kind": "text", "text": "CONTRACT-ANSWER"}],
        [answer("CONTRACT-ANSWER")],
        "succeeded",
        expect_final="CONTRACT-ANSWER",
        expect_types=["thread.started", "turn.started", "turn.completed"],
    ),
    Scenario(
        "tool-call",
        [
            {
                "kind": "function_call",
                "name": "exec_command",
                "call_id": "call_contract",
                "arguments": {"cmd": "echo contract-exec"},
            },
            {"kind": "text", "text": "CONTRACT-DONE"},
        ],
        [
            {
                "steps": [
                    {
                        "kind": "commandExecution",
                        "id": "call_contract",
                        "command": "/bin/bash -lc 'echo contract-exec'",
                        "output": ["contract-exec\n"],
                        "exitCode": 0,
                    },
                    {"kind": "agentMessage", "text": "CONTRACT-DONE"},
                ]
            }
        ],
        "succeeded",
        expect_final="CONTRACT-DONE",
        expect_types=["item.started", "item.completed"],
    ),
    Scenario(
        "steer",
        [{"kind": "hang"}, {"kind": "text", "text": "AFTER-STEER"}],
        [
            {
                "steps": [{"kind": "hang"}],
                "afterSteer": [{"kind": "agentMessage", "text": "AFTER-STEER"}],
            }
        ],
        "succeeded",
        expect_final="AFTER-STEER",
        action="steer",
        expect_types=["steer.delivery"],
    ),
    Scenario(
        "interrupt",
        [{"kind": "hang"}],
        [{"steps": [{"kind": "hang"}]}],
        "cancelled",
        expect_kind="cancelled",
        action="cancel",
    ),
    Scenario(
        "resume",
        [{"kind": "text", "text": "FIRST"}, {"kind": "text", "text": "SECOND"}],
        [answer("FIRST"), answer("SECOND")],
        "succeeded",
        expect_final="SECOND",
        resume="previous",
        expect_types=["thread.resumed"],
    ),
    Scenario(
        "resume-missing-rollout",
        [],
        [],
        "failed",
        expect_kind="thread-resume-failed",
        resume="missing",
    ),
    Scenario(
        "provider-500",
        list(load_script(SCRIPTS_DIR / "http-500.json").steps),
        [
            {
                "steps": [
                    {
                        "kind": "fail",
                        "codexErrorInfo": "internalServerError",
                        "message": "We’re currently experiencing high demand, which may cause "
                        "temporary errors.",
                    }
                ]
            }
        ],
        "failed",
        expect_kind="provider-unavailable",
    ),
]


async def run_attempt(
    stack: LocalStack, job: dict[str, Any], codex: Path, scenario: Scenario, turn: int
) -> dict[str, Any]:
    # The fake plays its scenario's turns per process; each attempt is a new process.
    turns = scenario.fake_turns[turn:] or [answer("-")]
    (stack.provider_home / "fake-codex-scenario.json").write_text(
        json.dumps({"description": scenario.name, "turns": turns})
    )
    stack.manager.add_job(job, heartbeat_interval_seconds=1)
    env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(codex))
    run_id, attempt_id = job["runId"], job["attemptId"]

    def started() -> bool:
        return any(e["type"] == "turn.started" for e in stack.manager.events(run_id, attempt_id))

    async with stack.runner_process(env) as process:
        if scenario.action is not None:
            await stack.manager.wait_until(started)
            command: dict[str, Any] = {
                "commandId": new_id("cmd"),
                "type": scenario.action,
                "targetCommandId": job["command"]["commandId"],
            }
            if scenario.action == "steer":
                command["input"] = [{"type": "text", "text": "STEER"}]
            else:
                command["reason"] = "user-cancelled"
            stack.manager.push_command(run_id, command)
    assert process.returncode == 0
    terminal = stack.manager.terminal(run_id, attempt_id)
    assert terminal is not None
    return terminal


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
@pytest.mark.parametrize("backend", list(BACKENDS))
async def test_the_scenario_ends_the_same_on_every_backend(
    tmp_path: Path, backend: str, scenario: Scenario
) -> None:
    codex = BACKENDS[backend]()
    assert codex is not None, f"{backend} is not installed (scripts/bootstrap installs it)"
    async with local_stack(tmp_path, scenario.model_steps) as stack:
        job = example_job()
        with anyio.fail_after(120):
            if scenario.resume == "previous":
                first = await run_attempt(stack, job, codex, scenario, 0)
                job = next_attempt(job, thread_id=first["session"]["threadId"])
            elif scenario.resume == "missing":
                job["session"]["threadId"] = "01a1ffa0-0000-7000-8000-000000000000"
            terminal = await run_attempt(
                stack, job, codex, scenario, 1 if scenario.resume == "previous" else 0
            )
        events = stack.manager.events(job["runId"], job["attemptId"])

    assert terminal["status"] == scenario.expect_status
    assert terminal["failureKind"] == scenario.expect_kind
    if scenario.expect_final is not None:
        assert terminal["finalResponse"] == scenario.expect_final
    assert_contiguous(events)
    types = {e["type"] for e in events}
    assert set(scenario.expect_types) <= types
    if scenario.resume is not None:
        assert "thread.started" not in types
    if scenario.action == "steer":
        states = [e["data"]["state"] for e in of_type(events, "steer.delivery")]
        assert states == ["received", "forwarded", "accepted"]
