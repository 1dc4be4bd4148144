"""One attempt end to end: `python -m runner run` against the fake manager over real
HTTP, the real `codex app-server` (default pin), and the scripted model on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.manager import example_job, next_attempt
from fakes.model import SCRIPTS_DIR, load_script
from fakes.stack import local_stack
from tests.e2e.helpers import assert_contiguous, of_type, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

ATTEMPT_SECONDS = 60


async def test_a_plain_answer_succeeds_with_the_models_text_and_every_event_acked_first(
    tmp_path: Path,
) -> None:
    script = load_script(SCRIPTS_DIR / "plain-answer.json")
    async with local_stack(tmp_path, script) as stack:
        job = example_job(text="Say hello.")
        done = await run_job(stack, job, timeout_seconds=ATTEMPT_SECONDS)
        terminal = done.terminal
        events = done.events
        requests = stack.manager.requests

    assert terminal["status"] == "succeeded"
    assert terminal["failureKind"] is None
    assert terminal["finalResponse"] == "Hello there, this is the scripted model answering."
    assert terminal["usage"] == {"inputTokens": 100, "cachedInputTokens": 20, "outputTokens": 7}
    assert_contiguous(events)
    assert terminal["lastSeq"] == len(events)
    assert events[0]["type"] == "runner.started"
    assert events[-1]["type"] == "runner.terminal"
    assert (
        of_type(events, "thread.started")[0]["data"]["threadId"]
        == (terminal["session"]["threadId"])
    )
    # The terminal report is the last request, after the events batch acked lastSeq.
    posts = [r for r in requests if r.method == "POST" and r.status == 200]
    assert posts[-1].path.endswith("/terminal")
    last_events = [r for r in posts if r.path.endswith("/events")][-1]
    assert last_events.response["ackedSeq"] == terminal["lastSeq"]


async def test_a_turn_that_runs_exec_command_reports_the_command_item_and_waiting_tool(
    tmp_path: Path,
) -> None:
    script = load_script(SCRIPTS_DIR / "exec-then-answer.json")
    async with local_stack(tmp_path, script) as stack:
        job = example_job(text="Run the command.")
        done = await run_job(stack, job, timeout_seconds=ATTEMPT_SECONDS)
        terminal = done.terminal
        events = done.events

    assert terminal["status"] == "succeeded"
    started = [
        e for e in of_type(events, "item.started") if e["data"]["itemType"] == "commandExecution"
    ]
    completed = [
        e for e in of_type(events, "item.completed") if e["data"]["itemType"] == "commandExecution"
    ]
    assert len(started) == 1
    assert len(completed) == 1
    assert started[0]["data"]["itemId"] == completed[0]["data"]["itemId"] == "call_exec_1"
    assert completed[0]["data"]["exitCode"] == 0
    assert "hello-from-exec" in completed[0]["data"]["output"]
    phases = [e["data"]["phase"] for e in of_type(events, "liveness")]
    assert "waiting-tool" in phases
    assert phases.index("waiting-tool") < phases.index("idle-after-tool")
    assert phases[-1] == "terminal"
    assert terminal["finalResponse"] == "Done: the command printed hello-from-exec."


async def test_a_second_attempt_with_the_first_threads_id_resumes_it_with_its_history(
    tmp_path: Path,
) -> None:
    steps = [
        {"kind": "text", "text": "FIRST-ANSWER"},
        {"kind": "text", "text": "SECOND-ANSWER"},
    ]
    async with local_stack(tmp_path, steps) as stack:
        first = example_job(text="FIRST-PROMPT")
        done_first = await run_job(stack, first, timeout_seconds=ATTEMPT_SECONDS)
        thread_id = done_first.terminal["session"]["threadId"]

        second = next_attempt(first, thread_id=thread_id)
        second["command"]["input"] = [{"type": "text", "text": "SECOND-PROMPT"}]
        done_second = await run_job(stack, second, timeout_seconds=ATTEMPT_SECONDS)
        terminal2 = done_second.terminal
        events2 = done_second.events
        model_requests = stack.model.model_requests

    assert terminal2["status"] == "succeeded"
    assert [e["data"]["threadId"] for e in of_type(events2, "thread.resumed")] == [thread_id]
    assert of_type(events2, "thread.started") == []
    assert terminal2["session"]["threadId"] == thread_id
    assert terminal2["finalResponse"] == "SECOND-ANSWER"
    history = json.dumps(model_requests[1].body)
    assert "FIRST-PROMPT" in history
    assert "FIRST-ANSWER" in history
    assert "SECOND-PROMPT" in history


async def test_resume_of_a_thread_with_no_rollout_fails_with_thread_resume_failed(
    tmp_path: Path,
) -> None:
    missing = "01a1ffa0-0000-7000-8000-000000000000"
    async with local_stack(tmp_path, [{"kind": "text", "text": "never sent"}]) as stack:
        job = example_job(text="Continue.", thread_id=missing)
        done = await run_job(stack, job, timeout_seconds=ATTEMPT_SECONDS)
        terminal = done.terminal
        events = done.events
        model_requests = stack.model.model_requests

    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "thread-resume-failed"
    assert terminal["session"]["threadId"] == missing
    assert of_type(events, "thread.started") == []
    assert of_type(events, "turn.started") == []
    failures = of_type(events, "failure")
    assert [f["data"]["failureKind"] for f in failures] == ["thread-resume-failed"]
    assert failures[0]["data"]["retryable"] is False
    assert model_requests == []
