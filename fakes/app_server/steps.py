"""Play scenario steps inside a turn: items, deltas, errors, server requests, faults.

Item shapes and notification orders follow codex-app-server.md §4 (agentMessage,
reasoning, commandExecution, fileChange), §6 (approvals, `item/tool/call`,
`item/tool/requestUserInput`, and what each decision does), §7 (raw function call
outputs) and §8 (`error`, failed turns). The faults (malformed lines, a huge line, a
crash, a hang, stderr noise) are what the real server cannot be made to do on demand.
Deltas are generated lazily, so a 100 000-delta flood holds one delta at a time.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anyio

from fakes.app_server import scenario as s
from fakes.app_server import shapes
from fakes.app_server.turn import TurnCancelled, TurnFailed, TurnRun
from fakes.app_server.wire import encode, now_ms

ACCEPT_DECISIONS = ("accept", "acceptForSession")
FAKE_PROCESS_ID = "4242"


def delta_pieces(step: s.AgentMessageStep) -> Iterator[str]:
    """The deltas of an agentMessage step, one at a time (`text` split, or `deltaText` × N)."""
    if step.delta_text is not None:
        for _ in range(step.deltas):
            yield step.delta_text
        return
    text = step.text or ""
    count = step.deltas
    for index in range(count):
        yield text[index * len(text) // count : (index + 1) * len(text) // count]


def write_stderr(text: str) -> None:
    """Write text (newline added) to stderr directly, unbuffered."""
    data = (text + "\n").encode()
    while data:
        written = os.write(2, data)
        data = data[written:]


async def die(exit_code: int, signal_name: str | None, stderr: str | None, turn_wire: Any) -> None:
    """Flush stdout, say `stderr`, then exit with `exit_code` or die by `signal_name`."""
    await turn_wire.flush()
    if stderr:
        write_stderr(stderr)
    if signal_name is not None:
        os.kill(os.getpid(), signal.Signals[signal_name])
        await anyio.sleep_forever()
    sys.stdout.flush()
    os._exit(exit_code)


async def play_steps(turn: TurnRun, steps: Sequence[s.Step]) -> None:
    """Play `steps` in order.

    Raises:
        TurnFailed: a `fail` step (the turn ends `failed`).
        TurnCancelled: an approval was answered `cancel` (the turn ends `interrupted`).
    """
    for step in steps:
        await play_step(turn, step)


async def play_step(turn: TurnRun, step: s.Step) -> None:
    """Play one step (see the step models in `fakes.app_server.scenario`)."""
    host = turn.host
    if isinstance(step, s.AgentMessageStep):
        pieces: Iterator[str] | AsyncIterator[str] = delta_pieces(step)
        if step.deltas_per_second is not None or step.stamp_deltas:
            pieces = _paced(delta_pieces(step), step.deltas_per_second, step.stamp_deltas)
        await _agent_message(turn, step.id or host.next_item_id("msg"), pieces)
    elif isinstance(step, s.ReasoningStep):
        item_id = step.id or host.next_item_id("rs")
        await turn.item_started(shapes.reasoning(item_id, []))
        for part in step.summary:
            await turn.notify(
                "item/reasoning/summaryTextDelta",
                {"itemId": item_id, "delta": part, "summaryIndex": 0},
            )
        await turn.item_completed(shapes.reasoning(item_id, list(step.summary)))
    elif isinstance(step, s.CommandExecutionStep):
        item_id = step.id or host.next_item_id("call_exec")
        cwd = step.cwd or turn.thread.cwd
        await turn.item_started(
            shapes.command_execution(
                item_id, step.command, cwd, status="inProgress", process_id=FAKE_PROCESS_ID
            )
        )
        await _run_command(turn, item_id, step.command, cwd, step.output, step.exit_code)
    elif isinstance(step, s.FileChangeStep):
        item_id = step.id or host.next_item_id("call_patch")
        changes = list(step.changes)
        await turn.item_started(shapes.file_change(item_id, changes, turn.thread.cwd, "inProgress"))
        await turn.item_completed(
            shapes.file_change(item_id, changes, turn.thread.cwd, "completed")
        )
        await turn.notify("turn/diff/updated", {"diff": shapes.unified_diff(changes)})
    elif isinstance(step, s.TokenUsageStep):
        await turn.usage_update(step)
    elif isinstance(step, s.ErrorStep):
        await turn.notify("error", {"error": _turn_error(step), "willRetry": step.will_retry})
    elif isinstance(step, s.FailStep):
        raise TurnFailed(_turn_error(step))
    elif isinstance(step, s.RawFunctionCallOutputStep):
        await turn.raw_item(
            {"type": "function_call_output", "call_id": step.call_id, "output": step.output}
        )
    elif isinstance(step, s.CommandApprovalStep):
        await _command_approval(turn, step)
    elif isinstance(step, s.FileChangeApprovalStep):
        await _file_change_approval(turn, step)
    elif isinstance(step, s.DynamicToolCallStep):
        await _dynamic_tool_call(turn, step)
    elif isinstance(step, s.RequestUserInputStep):
        params = {
            "itemId": step.id or host.next_item_id("call_rui"),
            "questions": step.questions,
            "isBlocking": True,
            "autoResolutionMs": None,
        }
        await _ask(turn, "item/tool/requestUserInput", params, "waitingOnUserInput")
    elif isinstance(step, s.HangStep):
        await anyio.sleep_forever()
    elif isinstance(step, s.PauseStep):
        await anyio.sleep(step.ms / 1000)
    elif isinstance(step, s.CrashStep):
        await die(step.exit_code, step.signal, step.stderr, turn.wire)
    elif isinstance(step, s.MalformedLinesStep):
        line = step.text.encode() + b"\n"
        for _ in range(step.count):
            await turn.wire.write_line(line)
    elif isinstance(step, s.HugeLineStep):
        await _huge_line(turn, step)
    elif isinstance(step, s.StderrStep):
        for _ in range(step.repeat):
            for text in step.lines:
                write_stderr(text)


def _turn_error(step: s.ErrorStep | s.FailStep) -> dict[str, Any]:
    """A `TurnError` (§8): message, codexErrorInfo, additionalDetails."""
    return {
        "message": step.message,
        "codexErrorInfo": step.codex_error_info,
        "additionalDetails": step.additional_details,
    }


async def _paced(
    pieces: Iterator[str], per_second: float | None, stamp: bool
) -> AsyncIterator[str]:
    """`pieces` at `per_second` on average (sleeping in steps of >= 1 ms), each with
    `<µs since the epoch>` appended when `stamp`."""
    started = time.monotonic()
    for index, piece in enumerate(pieces):
        if per_second is not None:
            ahead = started + index / per_second - time.monotonic()
            if ahead > 0.001:
                await anyio.sleep(ahead)
        yield f"{piece}<{time.time_ns() // 1000}>" if stamp else piece


async def _agent_message(
    turn: TurnRun, item_id: str, pieces: Iterator[str] | AsyncIterator[str]
) -> None:
    await turn.item_started(shapes.agent_message(item_id, ""))
    parts: list[str] = []
    if isinstance(pieces, Iterator):
        for piece in pieces:
            parts.append(piece)
            await turn.notify("item/agentMessage/delta", {"itemId": item_id, "delta": piece})
    else:
        async for piece in pieces:
            parts.append(piece)
            await turn.notify("item/agentMessage/delta", {"itemId": item_id, "delta": piece})
    await turn.item_completed(shapes.agent_message(item_id, "".join(parts)))


async def _huge_line(turn: TurnRun, step: s.HugeLineStep) -> None:
    if step.form == "garbage":
        await turn.wire.write_line(b"<" + b"x" * max(0, step.size_bytes - 2) + b"\n")
        return
    item_id = turn.host.next_item_id("msg")
    overhead = len(
        encode(
            {
                "method": "item/agentMessage/delta",
                "params": {
                    "itemId": item_id,
                    "delta": "",
                    "threadId": turn.thread.id,
                    "turnId": turn.id,
                },
                "emittedAtMs": now_ms(),
            }
        )
    )
    await _agent_message(turn, item_id, iter(["x" * max(1, step.size_bytes - overhead)]))


async def _run_command(
    turn: TurnRun, item_id: str, command: str, cwd: str, output: list[str], exit_code: int
) -> None:
    """Output deltas, then `item/completed` (`failed` for a non-zero exit, §4)."""
    for chunk in output:
        await turn.notify("item/commandExecution/outputDelta", {"itemId": item_id, "delta": chunk})
    await turn.item_completed(
        shapes.command_execution(
            item_id,
            command,
            cwd,
            status="completed" if exit_code == 0 else "failed",
            output="".join(output),
            exit_code=exit_code,
            duration_ms=18,
            process_id=FAKE_PROCESS_ID,
        )
    )


async def _ask(
    turn: TurnRun, method: str, params: dict[str, Any], flag: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Send a server request with the thread `active [flag]` while it waits (§6)."""
    await turn.status("active", [flag])
    full = {"threadId": turn.thread.id, "turnId": turn.id, **params}
    result, error = await turn.host.ask(turn, method, full)
    await turn.status("active")
    return result, error


def _decision(result: dict[str, Any] | None) -> str:
    """`accept`, `decline`, `cancel` or `error` from an approval answer (§6)."""
    if result is None:
        return "error"
    decision = result.get("decision")
    if decision in ACCEPT_DECISIONS or isinstance(decision, dict):
        return "accept"
    return "cancel" if decision == "cancel" else "decline"


async def _command_approval(turn: TurnRun, step: s.CommandApprovalStep) -> None:
    item_id = step.id or turn.host.next_item_id("call_ap")
    cwd = turn.thread.cwd
    await turn.item_started(
        shapes.command_execution(item_id, step.command, cwd, status="inProgress", source="agent")
    )
    words = step.command.split()
    params: dict[str, Any] = {
        "kind": "command",
        "itemId": item_id,
        "startedAtMs": now_ms(),
        "environmentId": "local",
        "command": step.command,
        "cwd": cwd,
        "commandActions": [{"type": "unknown", "command": step.command}],
        "proposedExecpolicyAmendment": words,
        "availableDecisions": [
            "accept",
            {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": words}},
            "cancel",
        ],
    }
    if step.reason is not None:
        params["reason"] = step.reason
    result, error = await _ask(
        turn, "item/commandExecution/requestApproval", params, "waitingOnApproval"
    )
    decision = _decision(result if error is None else None)
    if decision == "accept":
        await _run_command(turn, item_id, step.command, cwd, step.output, step.exit_code)
        return
    status = "failed" if decision == "error" else "declined"
    await turn.item_completed(
        shapes.command_execution(item_id, step.command, cwd, status=status, source="agent")
    )
    if decision == "cancel":
        raise TurnCancelled


async def _file_change_approval(turn: TurnRun, step: s.FileChangeApprovalStep) -> None:
    item_id = step.id or turn.host.next_item_id("call_patch")
    changes, cwd = list(step.changes), turn.thread.cwd
    await turn.item_started(shapes.file_change(item_id, changes, cwd, "inProgress"))
    params = {"itemId": item_id, "startedAtMs": now_ms(), "reason": step.reason, "grantRoot": None}
    result, error = await _ask(turn, "item/fileChange/requestApproval", params, "waitingOnApproval")
    decision = _decision(result if error is None else None)
    status = {"accept": "completed", "error": "failed"}.get(decision, "declined")
    await turn.item_completed(shapes.file_change(item_id, changes, cwd, status))
    if decision == "accept":
        await turn.notify("turn/diff/updated", {"diff": shapes.unified_diff(changes)})
    if decision == "cancel":
        raise TurnCancelled


async def _dynamic_tool_call(turn: TurnRun, step: s.DynamicToolCallStep) -> None:
    item_id = step.id or turn.host.next_item_id("call_dyn")
    args, tool, namespace = dict(step.arguments), step.tool, step.namespace
    await turn.item_started(
        shapes.dynamic_tool_call(item_id, tool, args, namespace, status="inProgress")
    )
    params = {"callId": item_id, "namespace": namespace, "tool": tool, "arguments": args}
    await turn.status("active")
    full = {"threadId": turn.thread.id, "turnId": turn.id, **params}
    result, _error = await turn.host.ask(turn, "item/tool/call", full)
    content = result.get("contentItems") if result is not None else None
    success = bool(result.get("success")) if result is not None else False
    await turn.item_completed(
        shapes.dynamic_tool_call(
            item_id,
            tool,
            args,
            namespace,
            status="completed" if success else "failed",
            content_items=content if isinstance(content, list) else None,
            success=success,
        )
    )
