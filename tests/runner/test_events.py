"""The event log: contiguous seq, masking, size limits, acks, back-pressure."""

from __future__ import annotations

import json

import anyio
import pytest

from runner.eventlog.events import EventLog, fit_data, split_text
from runner.safety.masking import Masker

pytestmark = pytest.mark.anyio


async def test_events_get_contiguous_seq_from_one_and_masked_data() -> None:
    log = EventLog(Masker({"K": "supersecret"}))
    first = await log.emit("a", {"text": "x supersecret y"})
    second = await log.emit("b", {"nested": [{"supersecret": 1}]})
    assert first is not None
    assert second is not None
    assert (first.seq, second.seq) == (1, 2)
    assert first.data == {"text": "x *** y"}
    assert second.data == {"nested": [{"***": 1}]}


async def test_an_event_emitted_after_the_log_is_closed_is_dropped_not_numbered() -> None:
    log = EventLog(Masker({}))
    await log.emit("runner.terminal", {})
    log.close()
    assert await log.emit("steer.delivery", {}) is None
    assert log.emit_nowait("liveness", {}) is None
    assert log.last_seq == 1
    assert [e.type for e in log.batch()] == ["runner.terminal"]


def test_data_over_the_limit_is_trimmed_under_it_and_marked_truncated() -> None:
    data = {"itemType": "commandExecution", "output": "a" * 50_000 + "TAIL", "command": "ls"}
    fitted = fit_data(data, 4096)
    assert len(json.dumps(fitted, separators=(",", ":")).encode()) < 4096
    assert fitted["truncated"] is True
    assert fitted["output"].endswith("TAIL")
    assert fitted["command"] == "ls"


def test_data_under_the_limit_is_kept_as_is() -> None:
    data = {"text": "short"}
    assert fit_data(data, 4096) is data


async def test_acks_drop_delivered_events_and_batches_start_after_the_ack() -> None:
    log = EventLog(Masker())
    for i in range(5):
        await log.emit("e", {"i": i})
    log.ack(3)
    assert [e.seq for e in log.batch()] == [4, 5]
    log.ack(99)
    assert log.acked_seq == 5
    assert log.unacked == 0


async def test_emit_waits_while_too_many_events_are_unacknowledged() -> None:
    log = EventLog(Masker(), max_unacked=3)
    for i in range(3):
        await log.emit("e", {"i": i})
    with anyio.move_on_after(0.2) as blocked:
        await log.emit("e", {"i": 3})
    assert blocked.cancelled_caught
    async with anyio.create_task_group() as tg:
        tg.start_soon(log.emit, "e", {"i": 3})
        log.ack(1)
    assert log.last_seq == 4


@pytest.mark.parametrize("char", ["a", "é", "\u0001", "😀", '"'])
def test_split_text_keeps_every_character_and_each_piece_under_the_limit(char: str) -> None:
    text = char * 50_000 + "END"
    pieces = split_text(text, 4096)
    assert "".join(pieces) == text
    assert all(len(json.dumps(p, ensure_ascii=False).encode()) < 4096 for p in pieces)
    assert len(pieces) > 1
