"""Secrets never leave the runner: a tool and the model print a canary in every form."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import anyio
import pytest

from fakes.manager import example_job
from fakes.stack import TOKEN, local_stack
from tests.e2e.helpers import describe, of_type

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]


async def test_a_canary_printed_plain_base64_json_escaped_and_split_never_reaches_the_manager(
    tmp_path: Path,
) -> None:
    canary = f'canary"{secrets.token_hex(12)}\\end'
    forms = [
        canary,
        base64.b64encode(canary.encode()).decode()[2:-2],
        json.dumps(canary)[1:-1],
    ]
    command = (
        'printenv AGENTRUN_CANARY_VALUE; printf %s "$AGENTRUN_CANARY_VALUE" | base64 -w0; echo; '
        "python3 -c 'import json, os; print(json.dumps(os.environ[\"AGENTRUN_CANARY_VALUE\"]))'"
    )
    steps = [
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": "call_canary",
            "arguments": {"cmd": command},
        },
        {"kind": "text", "text": f"The value is {canary} indeed.", "deltas": 9},
    ]
    async with local_stack(tmp_path, steps) as stack:
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        env = stack.runner_env(
            job["runnerJobId"],
            AGENTRUN_TRANSIENT_ENV_NAMES="AGENTRUN_CANARY_VALUE",
            AGENTRUN_CANARY_VALUE=canary,
        )
        with anyio.fail_after(60):
            result = await stack.run_runner(job["runnerJobId"], env=env)
        events = stack.manager.events(job["runId"], job["attemptId"])
        sent = json.dumps([r.body for r in stack.manager.requests], ensure_ascii=False)
        model_saw = json.dumps([r.body for r in stack.model.model_requests])

    assert result.returncode == 0, describe(result)
    # The canary really went through the tool (so masking, not absence, is being tested).
    assert json.dumps(canary)[1:-1] in model_saw
    [done] = [e for e in of_type(events, "item.completed") if e["data"]["itemId"] == "call_canary"]
    assert done["data"]["output"].count("***") >= 3
    assert of_type(events, "item.delta")
    for form in forms:
        assert form not in sent
        assert form not in result.stderr
    assert TOKEN not in sent
    assert TOKEN not in result.stderr
    [started] = of_type(events, "runner.started")
    assert started["data"]["transientEnvNames"] == ["AGENTRUN_CANARY_VALUE"]
    assert started["data"]["valuesPrinted"] is False


async def test_a_transient_variable_named_like_a_token_reaches_the_agents_commands(
    tmp_path: Path,
) -> None:
    value = f"tok-{secrets.token_hex(8)}"
    steps = [
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": "call_env",
            "arguments": {"cmd": 'printf %s "$DEMO_API_TOKEN" | wc -c'},
        },
        {"kind": "text", "text": "counted"},
    ]
    async with local_stack(tmp_path, steps) as stack:
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        env = stack.runner_env(
            job["runnerJobId"], AGENTRUN_TRANSIENT_ENV_NAMES="DEMO_API_TOKEN", DEMO_API_TOKEN=value
        )
        with anyio.fail_after(60):
            result = await stack.run_runner(job["runnerJobId"], env=env)
        events = stack.manager.events(job["runId"], job["attemptId"])

    assert result.returncode == 0, describe(result)
    [done] = [e for e in of_type(events, "item.completed") if e["data"]["itemId"] == "call_env"]
    # Codex's default policy would drop a *TOKEN* name: the count would be 0.
    assert done["data"]["output"].strip() == str(len(value))
