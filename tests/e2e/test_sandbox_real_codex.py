"""A sandbox that cannot start fails the attempt loudly (issue 10, contract §10).

Real Codex 0.171 copied alone into a directory (no `codex-resources/bwrap`) with no `bwrap`
on `PATH`: the preflight fails, the attempt ends `failed` / `sandbox-error`, no thread or
turn is started and the scripted model receives no request. Inside a turn (the fake
app-server replaying what the real binary sends), the failure is a non-terminal `failure`
and the attempt still ends `sandbox-error`, never `succeeded`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.app_server import LAUNCHER
from fakes.app_server import SCENARIOS_DIR as FAKE_SCENARIOS
from fakes.manager import example_job
from fakes.model import SCRIPTS_DIR, load_script
from fakes.stack import local_stack
from tests.e2e.helpers import of_type, run_job
from tests.sandbox_helpers import path_without_bwrap, stripped_codex

pytestmark = pytest.mark.anyio


@pytest.mark.real_codex
async def test_a_codex_whose_sandbox_cannot_start_fails_before_the_model_is_called(
    tmp_path: Path,
) -> None:
    codex = stripped_codex(tmp_path)
    path = path_without_bwrap()
    script = load_script(SCRIPTS_DIR / "exec-then-answer.json")
    async with local_stack(tmp_path / "stack", script) as stack:
        job = example_job()
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(codex), PATH=path)
        done = await run_job(stack, job, env=env)
        model_requests = list(stack.model.model_requests)

    assert done.terminal["status"] == "failed"
    assert done.terminal["failureKind"] == "sandbox-error"
    assert model_requests == []
    types = {e["type"] for e in done.events}
    assert not types & {"backend.started", "thread.started", "turn.started", "turn.completed"}
    [failure] = of_type(done.events, "failure")
    assert failure["data"]["failureKind"] == "sandbox-error"
    assert (failure["data"]["terminal"], failure["data"]["retryable"]) == (True, False)
    assert failure["data"]["detail"]["exitCode"] == 101


@pytest.mark.real_codex
async def test_a_complete_codex_passes_the_preflight_and_runs_the_tool_call(
    tmp_path: Path,
) -> None:
    script = load_script(SCRIPTS_DIR / "exec-then-answer.json")
    async with local_stack(tmp_path, script) as stack:
        job = example_job()
        done = await run_job(stack, job)
        model_requests = list(stack.model.model_requests)

    assert done.terminal["status"] == "succeeded"
    assert len(model_requests) == 2
    assert not of_type(done.events, "failure")


async def test_a_command_whose_sandbox_cannot_start_in_the_turn_fails_the_attempt_with_its_cause(
    tmp_path: Path,
) -> None:
    scenario = json.loads((FAKE_SCENARIOS / "sandbox-unavailable-in-turn.json").read_text())
    async with local_stack(tmp_path, []) as stack:
        (stack.provider_home / "fake-codex-scenario.json").write_text(json.dumps(scenario))
        job = example_job()
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(LAUNCHER))
        done = await run_job(stack, job, env=env)

    assert done.terminal["status"] == "failed"
    assert done.terminal["failureKind"] == "sandbox-error"
    in_turn, terminal = of_type(done.events, "failure")
    assert (in_turn["data"]["failureKind"], in_turn["data"]["terminal"]) == ("sandbox-error", False)
    assert terminal["data"]["terminal"] is True
    [completed] = of_type(done.events, "turn.completed")
    assert in_turn["seq"] < completed["seq"] < terminal["seq"]
    # §10 v1.2: the in-turn sandbox-error carries its cause and remedy too.
    assert terminal["data"]["detail"]["cause"] == "bwrap-missing"
    assert "Remedy:" in terminal["data"]["message"]
    assert terminal["data"]["detail"]["codexMessage"]
