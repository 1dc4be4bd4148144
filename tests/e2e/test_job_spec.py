"""A job that fails validation ends the attempt as job-spec-invalid, leaking nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
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


def text_item_without_text(job: dict[str, Any]) -> None:
    job["command"]["input"] = [{"type": "text"}]


def input_item_of_unknown_type(job: dict[str, Any]) -> None:
    job["command"]["input"] = [{"type": "hologram", "text": "x"}]


def unknown_sandbox(job: dict[str, Any]) -> None:
    job["backend"]["sandbox"] = "none"


@pytest.mark.parametrize(
    "spoil",
    [
        bad_timeouts,
        unknown_backend,
        no_input,
        secret_in_url,
        text_item_without_text,
        input_item_of_unknown_type,
        unknown_sandbox,
    ],
)
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


def stderr_failure(result: Any) -> dict[str, Any]:
    """The one §1 JSON line on the runner's stderr that carries a `failureKind`."""
    lines = [json.loads(line) for line in result.stderr.splitlines() if '"failureKind"' in line]
    found: list[dict[str, Any]] = [
        line for line in lines if set(line) == {"failureKind", "message", "detail"}
    ]
    assert len(found) == 1, result.stderr
    return found[0]


async def test_a_claim_of_an_unknown_job_is_claim_refused_with_the_managers_code(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, []) as stack:
        with anyio.fail_after(60):
            result = await stack.run_runner("rj-nobody-registered")

    assert result.returncode == 2, describe(result)
    line = stderr_failure(result)
    assert line["failureKind"] == "claim-refused"
    assert line["detail"]["code"] == "job-not-found"


async def test_a_claim_of_a_job_another_runner_holds_is_claim_refused_already_claimed(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, []) as stack:
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        first = stack.runner_env(job["runnerJobId"])
        async with httpx.AsyncClient(base_url=stack.manager.url) as http:
            token = (await anyio.Path(first["AGENTRUN_RUNNER_TOKEN_FILE"]).read_text()).strip()
            claim = {
                "runner": {
                    "runnerId": "rnr-someone-else",
                    "pod": "p",
                    "node": None,
                    "namespace": None,
                    "capabilities": {
                        "backends": ["codex"],
                        "codexVersion": None,
                        "runnerVersion": "0",
                        "bootCommit": None,
                        "envIdentity": "x",
                        "python": "3.11",
                        "cpuCount": 1,
                        "memoryBytes": 1,
                    },
                }
            }
            answer = await http.post(
                f"/api/v1/runner-jobs/{job['runnerJobId']}/claim",
                json=claim,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200
        with anyio.fail_after(60):
            result = await stack.run_runner(job["runnerJobId"])

    assert result.returncode == 2, describe(result)
    line = stderr_failure(result)
    assert line["failureKind"] == "claim-refused"
    assert line["detail"]["code"] == "already-claimed"
    assert "runner-internal-error" not in result.stderr


async def test_a_runner_without_a_manager_url_prints_runner_env_invalid(tmp_path: Path) -> None:
    async with local_stack(tmp_path, []) as stack:
        env = stack.runner_env("rj-x", AGENTRUN_MANAGER_URL=None)
        with anyio.fail_after(60):
            result = await stack.run_runner("rj-x", env=env)

    assert result.returncode == 2, describe(result)
    assert stderr_failure(result)["failureKind"] == "runner-env-invalid"
