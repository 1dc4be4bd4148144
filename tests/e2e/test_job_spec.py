"""A job that fails validation ends the attempt as job-spec-invalid, leaking nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from fakes.manager import example_job
from fakes.stack import local_stack
from tests.e2e.helpers import describe, of_type

pytestmark = pytest.mark.anyio


def bad_timeouts(job: dict[str, Any]) -> None:
    job["timeouts"]["turnSeconds"] = 0


def unknown_backend(job: dict[str, Any]) -> None:
    job["backend"]["kind"] = "claude"


def no_input(job: dict[str, Any]) -> None:
    job["command"]["input"] = []


def secret_in_url(job: dict[str, Any]) -> None:
    job["workspace"] = {
        "repoUrl": "https://user:hunter2-secret@example.com/x.git",
        "ref": "main",
        "commitId": None,
        "path": "subject",
    }


@pytest.mark.parametrize("spoil", [bad_timeouts, unknown_backend, no_input, secret_in_url])
async def test_an_invalid_job_fails_as_job_spec_invalid_before_any_backend_starts(
    tmp_path: Path, spoil: Any
) -> None:
    async with local_stack(tmp_path, []) as stack:
        job = example_job()
        spoil(job)
        stack.manager.add_job(job, heartbeat_interval_seconds=1, check=False)
        env = stack.runner_env(
            job["runnerJobId"], AGENTRUN_GIT_MIRROR_URL="http://127.0.0.1:9/mirror"
        )
        with anyio.fail_after(60):
            result = await stack.run_runner(job["runnerJobId"], env=env)
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = stack.manager.events(job["runId"], job["attemptId"])
        sent = repr([r.body for r in stack.manager.requests])

    assert result.returncode == 0, describe(result)
    assert terminal is not None
    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "job-spec-invalid"
    assert of_type(events, "backend.started") == []
    assert "hunter2-secret" not in sent
    assert "hunter2-secret" not in result.stderr
