"""A workspace that fills up to its limit ends the attempt `disk-full` with a terminal
report, before the kubelet would evict the pod (contract §1, §10; issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.manager import example_job
from fakes.stack import local_stack
from tests.e2e.helpers import assert_contiguous, of_type, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

LIMIT_BYTES = 4 * 1024 * 1024


async def test_a_command_that_fills_the_workspace_ends_the_attempt_disk_full(
    tmp_path: Path,
) -> None:
    cmd = f"head -c {LIMIT_BYTES} /dev/urandom > big.bin && sleep 60"
    steps = [
        {"kind": "function_call", "name": "exec_command", "arguments": {"cmd": cmd}},
        {"kind": "text", "text": "wrote a big file"},
    ]
    async with local_stack(tmp_path / "stack", steps) as stack:
        job = example_job()
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_WORKSPACE_LIMIT_BYTES=str(LIMIT_BYTES))
        done = await run_job(stack, job, env=env, timeout_seconds=90)

    assert (done.terminal["status"], done.terminal["failureKind"]) == ("failed", "disk-full")
    assert_contiguous(done.events)
    [failure] = of_type(done.events, "failure")
    detail = failure["data"]["detail"]
    assert detail["path"] == env["AGENTRUN_WORKSPACE"]
    assert detail["limitBytes"] == LIMIT_BYTES
    assert detail["usedBytes"] >= LIMIT_BYTES * 0.95
    [action] = of_type(done.events, "runner.action")
    assert action["data"]["reason"] == "disk-full"


async def test_a_malformed_limit_is_runner_env_invalid(tmp_path: Path) -> None:
    async with local_stack(tmp_path / "stack", []) as stack:
        job = example_job()
        stack.manager.add_job(job)
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_RUNTIME_HOME_LIMIT_BYTES="1Gi")
        result = await stack.run_runner(job["runnerJobId"], env=env)
    assert result.returncode == 2
    assert '"failureKind": "runner-env-invalid"' in result.stderr
