"""A sandbox-error found inside the turn carries `detail.cause` too (contract §10 v1.2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.app_server import LAUNCHER
from fakes.app_server import SCENARIOS_DIR as FAKE_SCENARIOS
from fakes.manager import example_job
from fakes.stack import local_stack
from tests.e2e.helpers import of_type, run_job

pytestmark = pytest.mark.anyio


async def test_a_command_whose_sandbox_cannot_start_ends_with_its_cause_and_remedy(
    tmp_path: Path,
) -> None:
    scenario = json.loads((FAKE_SCENARIOS / "sandbox-unavailable-in-turn.json").read_text())
    async with local_stack(tmp_path, []) as stack:
        (stack.provider_home / "fake-codex-scenario.json").write_text(json.dumps(scenario))
        job = example_job()
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(LAUNCHER))
        done = await run_job(stack, job, env=env)

    assert done.terminal["failureKind"] == "sandbox-error"
    terminal = of_type(done.events, "failure")[-1]["data"]
    assert terminal["terminal"] is True
    assert terminal["detail"]["cause"] == "bwrap-missing"
    assert "Remedy:" in terminal["message"]
    assert terminal["detail"]["codexMessage"]
