"""Liveness phases from what the backend does (contract §11)."""

from __future__ import annotations

from runner.turn.liveness import LivenessTracker


def tracker() -> tuple[LivenessTracker, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    return LivenessTracker(lambda new, old: changes.append((old, new))), changes


def test_a_tool_turn_goes_model_tool_idle_model_with_one_event_per_transition() -> None:
    live, changes = tracker()
    live.model_output()
    live.model_output()
    live.tool_started("call_1", "commandExecution")
    assert live.snapshot(7).active_item is not None
    live.tool_finished("call_1")
    live.model_output()
    live.set("terminal")
    assert changes == [
        ("waiting-runner", "waiting-model"),
        ("waiting-model", "waiting-tool"),
        ("waiting-tool", "idle-after-tool"),
        ("idle-after-tool", "waiting-model"),
        ("waiting-model", "terminal"),
    ]
    assert live.snapshot(9).active_item is None


def test_model_output_during_a_running_tool_keeps_waiting_tool() -> None:
    live, _ = tracker()
    live.tool_started("call_1", "commandExecution")
    live.model_output()
    assert live.phase == "waiting-tool"


def test_terminal_is_final() -> None:
    live, changes = tracker()
    live.set("terminal")
    live.model_output()
    live.set("transport-disconnected")
    assert live.phase == "terminal"
    assert len(changes) == 1


def test_the_heartbeat_snapshot_carries_phase_seq_turn_and_item() -> None:
    live, _ = tracker()
    live.turn_id = "turn-1"
    live.tool_started("call_9", "mcpToolCall")
    snap = live.snapshot(42).wire()
    assert snap["phase"] == "waiting-tool"
    assert snap["lastEventSeq"] == 42
    assert snap["turnId"] == "turn-1"
    assert snap["activeItem"] == {"itemId": "call_9", "itemType": "mcpToolCall"}
