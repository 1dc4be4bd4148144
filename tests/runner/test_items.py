"""Item summaries for `item.*` events (§9): cut text says so."""

from __future__ import annotations

from runner.turn.items import OUTPUT_TAIL_CHARS, item_summary


def command_item(output: str) -> dict[str, object]:
    """A `commandExecution` item as Codex 0.169 sends it in `item/completed`."""
    return {
        "type": "commandExecution",
        "id": "call_1",
        "command": "/bin/bash -lc 'yes | head'",
        "cwd": "/w",
        "processId": "1",
        "source": "unifiedExecStartup",
        "status": "completed",
        "commandActions": [],
        "aggregatedOutput": output,
        "exitCode": 0,
        "durationMs": 5,
    }


def test_cut_command_output_is_marked_truncated_with_its_full_size() -> None:
    output = "é" * (OUTPUT_TAIL_CHARS + 10)
    summary = item_summary(command_item(output))
    assert summary["truncated"] is True
    assert summary["outputBytes"] == len(output.encode())
    assert summary["output"] == output[-OUTPUT_TAIL_CHARS:]
    assert "outputTruncated" not in summary


def test_whole_command_output_carries_no_truncated_flag() -> None:
    summary = item_summary(command_item("hello\n"))
    assert summary["output"] == "hello\n"
    assert "truncated" not in summary
