"""A command the kernel's OOM killer ended carries `oomKilled: true` on its item (§9 v1.2):
the cgroup's `oom_kill` counter rose between its `item/started` and `item/completed`."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.codex.session import Notification
from runner.eventlog.events import EventLog
from runner.safety.masking import Masker
from runner.safety.oom import OomWatch
from runner.turn.liveness import LivenessTracker
from runner.turn.observer import TurnObserver

pytestmark = pytest.mark.anyio

THREAD_ID = "thread-1"


def command(method: str, item_id: str) -> Notification:
    item = {
        "type": "commandExecution",
        "id": item_id,
        "command": "/bin/bash -lc 'eat-memory'",
        "cwd": "/w",
        "status": "failed" if method == "item/completed" else "inProgress",
        "exitCode": 137 if method == "item/completed" else None,
        "aggregatedOutput": "",
    }
    return Notification(method, {"threadId": THREAD_ID, "turnId": "turn-1", "item": item})


async def completed_items(counter: list[int], rises_during: set[str]) -> list[dict[str, Any]]:
    events = EventLog(Masker())
    observer = TurnObserver(events, LivenessTracker(lambda a, b: None), THREAD_ID, "cmd-1")
    observer.oom = OomWatch(read=lambda: counter[0])
    for item_id in ("call-a", "call-b"):
        await observer.handle(command("item/started", item_id))
        if item_id in rises_during:
            counter[0] += 1
        await observer.handle(command("item/completed", item_id))
    batch = events.batch(max_events=100)
    return [e.data for e in batch if e.type == "item.completed"]


async def test_only_the_command_during_which_the_oom_kill_counter_rose_is_oom_killed() -> None:
    items = await completed_items([3], {"call-b"})
    by_id = {i["itemId"]: i for i in items}
    assert "oomKilled" not in by_id["call-a"]
    assert by_id["call-b"]["oomKilled"] is True


async def test_no_command_is_oom_killed_without_a_cgroup_counter() -> None:
    events = EventLog(Masker())
    observer = TurnObserver(events, LivenessTracker(lambda a, b: None), THREAD_ID, "cmd-1")
    observer.oom = OomWatch(read=lambda: None)
    await observer.handle(command("item/started", "call-a"))
    await observer.handle(command("item/completed", "call-a"))
    [done] = [e.data for e in events.batch(max_events=100) if e.type == "item.completed"]
    assert "oomKilled" not in done
