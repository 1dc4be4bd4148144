"""A 100 000-delta flood from the (fake) backend while the manager answers events in 2 s:
nothing lost, deltas coalesced, heartbeats keep coming, memory bounded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

from fakes.app_server import LAUNCHER, SCENARIOS_DIR
from fakes.manager import example_job
from fakes.stack import local_stack
from tests.e2e.helpers import assert_contiguous, describe, of_type, run_job

pytestmark = pytest.mark.anyio

MAX_RSS_BYTES = 400 * 1024 * 1024
"""Runner + fake backend together; the runner alone is measured in bench/."""


async def test_a_flood_under_a_slow_manager_is_delivered_whole_with_heartbeats_flowing(
    tmp_path: Path,
) -> None:
    async with local_stack(tmp_path, []) as stack:
        shutil.copy(
            SCENARIOS_DIR / "flood-100k-deltas.json",
            stack.provider_home / "fake-codex-scenario.json",
        )
        stack.manager.knobs.add_latency(2.0, method="POST", path_pattern="/api/v1/runs/*/events")
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(LAUNCHER))
        with anyio.fail_after(240):
            result = await stack.run_runner(job["runnerJobId"], env=env)
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = stack.manager.events(job["runId"], job["attemptId"])
        beats = stack.manager.heartbeats(job["runId"], job["attemptId"])

    assert result.returncode == 0, describe(result)
    assert terminal is not None
    assert terminal["status"] == "succeeded"
    assert_contiguous(events)
    deltas = of_type(events, "item.delta")
    text = "".join(d["data"]["text"] for d in deltas if d["data"]["itemType"] == "agentMessage")
    [message] = [
        e for e in of_type(events, "item.completed") if e["data"]["itemType"] == "agentMessage"
    ]
    assert text == "x" * 100_000
    assert message["data"]["truncated"] is True  # over limits.maxEventBytes (§3)
    assert terminal["finalResponse"] == text
    assert len(deltas) < 2_000
    # Events take 2 s each to be acknowledged, so heartbeats must have kept coming.
    assert len(beats) >= 2
    assert max(b.body["resources"]["rssBytes"] for b in beats) < MAX_RSS_BYTES


async def test_a_delta_burst_bigger_than_max_event_bytes_arrives_whole_in_several_events(
    tmp_path: Path,
) -> None:
    output = "".join(f"line {i:06d}\n" for i in range(20_000))  # 240 KB in one burst
    scenario = {
        "turns": [
            {
                "steps": [
                    {
                        "kind": "commandExecution",
                        "id": "call_burst",
                        "command": "cat big",
                        "output": [output],
                        "exitCode": 0,
                    },
                    {"kind": "agentMessage", "text": "done"},
                ]
            }
        ]
    }
    async with local_stack(tmp_path, []) as stack:
        (stack.provider_home / "fake-codex-scenario.json").write_text(json.dumps(scenario))
        job = example_job(max_event_bytes=16_384)
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(LAUNCHER))
        done = await run_job(stack, job, env=env)

    deltas = [d for d in of_type(done.events, "item.delta") if d["data"]["itemId"] == "call_burst"]
    assert len(deltas) > 1
    assert all("truncated" not in d["data"] for d in deltas)
    assert "".join(d["data"]["text"] for d in deltas) == output
