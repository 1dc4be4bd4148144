"""What only the fake app-server can produce on demand, through the whole runner:
a backend that keeps printing garbage, one that never answers, and server requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakes.app_server import LAUNCHER
from fakes.app_server import SCENARIOS_DIR as FAKE_SCENARIOS
from fakes.manager import example_job
from fakes.stack import local_stack
from tests.e2e.helpers import of_type, run_job

pytestmark = pytest.mark.anyio


async def run_with_fake(
    tmp_path: Path, scenario: dict[str, Any], **job_fields: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], Path]:
    async with local_stack(tmp_path, []) as stack:
        (stack.provider_home / "fake-codex-scenario.json").write_text(json.dumps(scenario))
        job = example_job(**job_fields)
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(LAUNCHER))
        done = await run_job(stack, job, env=env)
        terminal, events = done.terminal, done.events
    return terminal, events, Path(env["AGENTRUN_RUNTIME_HOME"])


async def test_a_backend_that_keeps_sending_garbage_is_a_backend_protocol_error(
    tmp_path: Path,
) -> None:
    scenario = {"turns": [{"steps": [{"kind": "malformedLines", "count": 50}, {"kind": "hang"}]}]}
    terminal, events, _ = await run_with_fake(tmp_path, scenario)

    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "backend-protocol-error"
    warnings = [w for w in of_type(events, "backend.warning") if "bad line" in w["data"]["message"]]
    assert len(warnings) >= 20


async def test_a_few_bad_lines_are_reported_and_the_turn_goes_on(tmp_path: Path) -> None:
    scenario = json.loads((FAKE_SCENARIOS / "malformed-lines.json").read_text())
    terminal, events, _ = await run_with_fake(tmp_path, scenario)

    assert terminal["status"] == "succeeded"
    assert any("bad line" in w["data"]["message"] for w in of_type(events, "backend.warning"))


async def test_a_backend_that_never_answers_thread_start_fails_the_attempt(
    tmp_path: Path,
) -> None:
    scenario = json.loads((FAKE_SCENARIOS / "never-answers-thread-start.json").read_text())
    terminal, _, _ = await run_with_fake(tmp_path, scenario, idle_seconds=2)

    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "thread-start-failed"


async def test_tool_calls_user_input_and_file_approvals_each_get_a_defined_refusal(
    tmp_path: Path,
) -> None:
    scenario = json.loads((FAKE_SCENARIOS / "server-requests-tools-and-input.json").read_text())
    terminal, events, runtime_home = await run_with_fake(tmp_path, scenario)

    assert terminal["status"] == "succeeded"
    decisions = {
        e["data"]["method"]: e["data"]["decision"]
        for e in of_type(events, "server-request.answered")
    }
    assert decisions == {
        "item/tool/call": "refuse",
        "item/tool/requestUserInput": "empty-answer",
        "item/fileChange/requestApproval": "decline",
    }
    record_file = runtime_home / "fake-codex-record.jsonl"
    record = [json.loads(line) for line in record_file.read_text().splitlines()]
    answered = [r for r in record if r.get("type") == "serverRequestAnswered"]
    assert len(answered) == 3


async def test_transient_retries_are_warnings_and_never_end_the_turn(tmp_path: Path) -> None:
    scenario = json.loads((FAKE_SCENARIOS / "retry-then-answer.json").read_text())
    terminal, events, _ = await run_with_fake(tmp_path, scenario)

    assert terminal["status"] == "succeeded"
    retries = [w for w in of_type(events, "backend.warning") if w["data"].get("willRetry")]
    assert retries
    assert [f for f in of_type(events, "failure") if f["data"]["terminal"]] == []
