"""A command that fails because Codex's sandbox cannot start or denied it is a visible
`sandbox-error`: a non-terminal `failure` event, and the turn's verdict is `sandbox-error`.

The replayed notifications were recorded from the real Codex 0.171.0 binary copied alone
into a directory (no `codex-resources/bwrap` beside it), no `bwrap` on `PATH`,
`workspace-write`, the scripted model's `exec-then-answer.json`: no `commandExecution`
item, only a raw `function_call_output` with the launcher's panic, then a completed turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.codex.session import Notification
from contract.failures import FailureKind
from runner.eventlog.events import EventLog
from runner.safety.masking import Masker
from runner.turn.liveness import LivenessTracker
from runner.turn.observer import TurnObserver
from runner.turn.outcome import Verdict, verdict_for_turn
from runner.turn.sandbox_failures import sandbox_failure_line

pytestmark = pytest.mark.anyio

RECORDED = Path(__file__).parent / "data" / "codex-0.171-turn-without-bubblewrap.jsonl"
THREAD_ID = "01a2366e-276a-7f93-b1f1-ae6d2fe3695c"


def recorded() -> list[Notification]:
    lines = RECORDED.read_text().splitlines()
    return [Notification(d["method"], d["params"]) for d in map(json.loads, lines)]


async def replay(notifications: list[Notification]) -> tuple[Verdict, list[Any]]:
    events = EventLog(Masker())
    observer = TurnObserver(events, LivenessTracker(lambda a, b: None), THREAD_ID, "cmd-1")
    for message in notifications:
        await observer.handle(message)
    assert observer.done.is_set()
    return verdict_for_turn(observer, None), events.batch(max_events=1000)


def raw_output(call_id: str, output: str) -> Notification:
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return Notification("rawResponseItem/completed", {"threadId": THREAD_ID, "item": item})


def command_item(item_id: str, output: str) -> Notification:
    item = {
        "type": "commandExecution",
        "id": item_id,
        "command": "/bin/bash -lc 'ls'",
        "cwd": "/w",
        "status": "failed",
        "exitCode": 1,
        "aggregatedOutput": output,
    }
    return Notification("item/completed", {"threadId": THREAD_ID, "item": item})


def completed(status: str = "completed") -> Notification:
    turn = {"id": "turn-1", "status": status, "error": None}
    return Notification("turn/completed", {"threadId": THREAD_ID, "turn": turn})


async def test_the_recorded_turn_without_bubblewrap_ends_sandbox_error_not_succeeded() -> None:
    verdict, events = await replay(recorded())

    assert (verdict.status, verdict.failure_kind) == ("failed", FailureKind.SANDBOX_ERROR)
    [failure] = [e for e in events if e.type == "failure"]
    assert failure.data["failureKind"] == "sandbox-error"
    assert (failure.data["terminal"], failure.data["retryable"]) == (False, False)
    assert failure.data["detail"] == {"callId": "call_exec_1", "via": "rawResponseItem"}
    kinds = [e.type for e in events]
    assert kinds.index("failure") < kinds.index("turn.completed")


DENIED = (
    "failed in sandbox LinuxSeccomp with execution error: sandbox denied exec error, "
    "exit code: 1, stdout: , stderr: open /root/.cache/x: permission denied"
)


async def test_a_sandbox_denied_command_item_fails_the_turn_once_per_call() -> None:
    verdict, events = await replay(
        [command_item("call_1", DENIED), raw_output("call_1", DENIED), completed()]
    )

    assert verdict.failure_kind is FailureKind.SANDBOX_ERROR
    failures = [e for e in events if e.type == "failure"]
    assert [f.data["detail"]["via"] for f in failures] == ["commandExecution"]


async def test_a_failed_turn_after_a_sandbox_failure_is_sandbox_error() -> None:
    verdict, _ = await replay(
        [raw_output("call_1", "bwrap: setting up uid map: ..."), completed("failed")]
    )
    assert verdict.failure_kind is FailureKind.SANDBOX_ERROR


async def test_a_command_the_sandbox_only_confines_does_not_fail_the_turn() -> None:
    confined = (
        "Chunk ID: cadad6\nWall time: 0.0000 seconds\nProcess exited with code 1\n"
        "Output:\ntouch: cannot touch '/tmp/x': Read-only file system\n"
    )
    verdict, events = await replay([raw_output("call_1", confined), completed()])

    assert verdict.status == "succeeded"
    assert not [e for e in events if e.type == "failure"]


@pytest.mark.parametrize(
    "output",
    [
        "Process exited with code 101\nOutput:\n\nthread 'main' (7) panicked at x.rs:1:1:\n"
        "bubblewrap is unavailable: no system bwrap was found on PATH\nnote: run with",
        DENIED,
        "Command denied by sandbox: /bin/ls",
        "Landlock was not able to fully enforce all sandbox rules",
        "execution error: seccomp setup error",
        "bwrap: No permissions to create a new namespace",
    ],
)
def test_codex_sandbox_failure_texts_are_recognized(output: str) -> None:
    line = sandbox_failure_line(output)
    assert line is not None
    assert "\n" not in line


@pytest.mark.parametrize(
    "output",
    ["hello", "mkdir: cannot create directory 'x': Permission denied", "ran: bwrap --version"],
)
def test_ordinary_command_failures_are_not_sandbox_failures(output: str) -> None:
    assert sandbox_failure_line(output) is None
