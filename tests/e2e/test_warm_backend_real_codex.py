"""The warm backend (contract §2 v1.2): `codex app-server` is spawned and initialized
while the job is claimed, used by a valid job's turn, and stopped unused otherwise.

The real Codex runs behind the recording wrapper of `test_backend_start_real_codex`, so
each test knows whether an app-server was invoked at all.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from fakes.manager import example_job
from fakes.stack import local_stack
from tests.e2e.helpers import of_type, run_job
from tests.e2e.test_backend_start_real_codex import invocations, processes_in, recording_codex

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]


async def test_a_valid_jobs_turn_runs_on_the_app_server_spawned_during_the_claim(
    tmp_path: Path,
) -> None:
    wrapper, log = recording_codex(tmp_path)
    async with local_stack(tmp_path / "stack", [{"kind": "text", "text": "warm"}]) as stack:
        job = example_job(text="Say warm.")
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(wrapper))
        done = await run_job(stack, job, env=env)

    assert done.terminal["status"] == "succeeded"
    assert done.terminal["finalResponse"] == "warm"
    [started] = of_type(done.events, "backend.started")
    assert started["data"]["warm"] is True
    assert invocations(log).count("app-server") == 1
    assert processes_in(Path(env["AGENTRUN_WORKSPACE"])) == []  # … and stopped


async def test_an_invalid_job_stops_the_warm_app_server_unused(tmp_path: Path) -> None:
    wrapper, log = recording_codex(tmp_path)
    async with local_stack(tmp_path / "stack", [{"kind": "text", "text": "never"}]) as stack:
        job = example_job(text="Say never.")
        job["backend"]["kind"] = "not-codex"
        stack.manager.add_job(job, heartbeat_interval_seconds=1, check=False)
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(wrapper))
        with anyio.fail_after(60):
            result = await stack.run_runner(job["runnerJobId"], env=env)
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = stack.manager.events(job["runId"], job["attemptId"])
        model_requests = len(stack.model.model_requests)

    assert result.returncode == 0
    assert terminal is not None
    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "job-spec-invalid"
    assert not of_type(events, "backend.started")
    assert not of_type(events, "thread.started")
    assert model_requests == 0
    assert invocations(log).count("app-server") == 1  # spawned during the claim …
    assert "sandbox" not in invocations(log)
    assert processes_in(Path(env["AGENTRUN_WORKSPACE"])) == []  # … and stopped
