"""Adaptive batching (issue 14): send at once when the line is free, coalesce while busy.

The sender posts over `httpx.MockTransport`; a handler that holds each request until
the test releases it stands for a request in flight. Only counts and order are
asserted, never durations: the linger is set far beyond the suite's patience, so a
sender that lingered where it must not would show as a hang (bounded by `fail_after`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from adapters.codex.session import Notification
from runner.eventlog.events import EventLog
from runner.manager import delivery
from runner.manager.client import ManagerClient, make_http_client
from runner.manager.delivery import ManagerLink, send_events
from runner.safety.masking import Masker
from runner.turn.liveness import LivenessTracker
from runner.turn.observer import MAX_PENDING_DELTAS, TurnObserver

pytestmark = pytest.mark.anyio

THREAD_ID = "thr-1"
BOUND_SECONDS = 10.0
"""Bounds every wait of these tests; none of them should come near it."""


class HeldManager:
    """A manager whose every events request waits until `release()`; records the seqs."""

    def __init__(self) -> None:
        self.posts: list[list[int]] = []
        self.arrived = anyio.Event()
        self._release = anyio.Event()

    def release(self) -> None:
        self._release.set()
        self._release = anyio.Event()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        seqs = [e["seq"] for e in json.loads(request.content)["events"]]
        self.posts.append(seqs)
        self.arrived.set()
        self.arrived = anyio.Event()
        await self._release.wait()
        return httpx.Response(200, json={"ackedSeq": seqs[-1]})

    async def wait_posts(self, count: int) -> None:
        while len(self.posts) < count:
            await self.arrived.wait()


@asynccontextmanager
async def sender(log: EventLog, manager: HeldManager) -> AsyncIterator[None]:
    http = make_http_client("http://mgr.test", "t", transport=httpx.MockTransport(manager.handler))
    client = ManagerClient(http)
    link = ManagerLink(client, client, client, "run-1", "att-1", "lse-1", 10.0)
    async with http, anyio.create_task_group() as tg:
        tg.start_soon(send_events, link, log)
        yield
        tg.cancel_scope.cancel()


@pytest.fixture(autouse=True)
def endless_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "BATCH_LINGER_SECONDS", 1e9)


async def test_an_event_is_sent_at_once_when_no_request_is_in_flight() -> None:
    log, manager = EventLog(Masker()), HeldManager()
    with anyio.fail_after(BOUND_SECONDS):
        async with sender(log, manager):
            log.emit_nowait("a", {})
            await manager.wait_posts(1)
            assert manager.posts == [[1]]
            manager.release()


async def test_events_coalesce_while_a_request_is_outstanding() -> None:
    log, manager = EventLog(Masker()), HeldManager()
    with anyio.fail_after(BOUND_SECONDS):
        async with sender(log, manager):
            log.emit_nowait("a", {})
            await manager.wait_posts(1)
            for _ in range(3):
                log.emit_nowait("b", {})
            manager.release()
            await manager.wait_posts(2)
            manager.release()
            await log.wait_acked(4)
    assert manager.posts == [[1], [2, 3, 4]]


async def test_after_a_flood_during_a_request_the_next_batch_waits_until_it_is_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery, "FLOOD_ARRIVALS_PER_REQUEST", 10)
    log, manager = EventLog(Masker()), HeldManager()
    with anyio.fail_after(BOUND_SECONDS):
        async with sender(log, manager):
            log.emit_nowait("a", {})
            await manager.wait_posts(1)
            log.arrivals += 10  # the backend flooded while request 1 was out
            log.emit_nowait("b", {})
            manager.release()
            for _ in range(delivery.BATCH_MAX_EVENTS):
                await anyio.lowlevel.checkpoint()  # the sender could post here: it must not
                log.emit_nowait("c", {})
            await manager.wait_posts(2)
            manager.release()
    assert [len(p) for p in manager.posts[:2]] == [1, delivery.BATCH_MAX_EVENTS]
    assert manager.posts[1][0] == 2


async def test_a_post_right_after_another_waits_for_the_interval_and_takes_what_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery, "MIN_POST_INTERVAL_SECONDS", 1e9)
    log, manager = EventLog(Masker()), HeldManager()
    with anyio.fail_after(BOUND_SECONDS):
        async with sender(log, manager):
            log.emit_nowait("a", {})  # the first post: no earlier one to keep apart from
            await manager.wait_posts(1)
            manager.release()
            await log.wait_acked(1)
            log.emit_nowait("b", {})
            for _ in range(50):
                await anyio.lowlevel.checkpoint()  # the sender could post here: it must not
            log.emit_nowait("c", {})
            assert manager.posts == [[1]]
            log.close()  # the end of the log ends the wait
            await manager.wait_posts(2)
            manager.release()
            await log.wait_acked(3)
    assert manager.posts == [[1], [2, 3]]


def delta(text: str) -> Notification:
    return Notification(
        "item/agentMessage/delta", {"threadId": THREAD_ID, "itemId": "msg-1", "delta": text}
    )


def texts(log: EventLog) -> list[Any]:
    return [e.data["text"] for e in log.batch(max_events=500) if e.type == "item.delta"]


async def test_a_delta_is_flushed_at_once_when_the_log_is_drained() -> None:
    log = EventLog(Masker())
    observer = TurnObserver(log, LivenessTracker(lambda a, b: None), THREAD_ID, "cmd-1")
    await observer.handle(delta("Hel"))
    assert texts(log) == ["Hel"]


async def test_deltas_coalesce_while_events_are_unacknowledged_and_flush_when_wanted() -> None:
    log = EventLog(Masker())
    observer = TurnObserver(log, LivenessTracker(lambda a, b: None), THREAD_ID, "cmd-1")
    await observer.handle(delta("Hel"))  # drained: out at once, now in flight
    for part in ("lo, ", "wor", "ld"):
        await observer.handle(delta(part))
    assert texts(log) == ["Hel"]
    log.ack(1)
    await observer.flush_deltas()  # what the turn's flusher does on `EventLog.want`
    assert texts(log) == ["lo, world"]


async def test_pending_deltas_are_flushed_once_about_max_event_bytes_of_text_waits() -> None:
    log = EventLog(Masker(), max_event_bytes=4096)
    observer = TurnObserver(log, LivenessTracker(lambda a, b: None), THREAD_ID, "cmd-1")
    await observer.handle(delta("x"))
    for _ in range(40):
        await observer.handle(delta("y" * 100))
    # 3 072 characters of room: the 31st delta triggers the flush; the last 9 still wait.
    assert "".join(texts(log)) == "x" + "y" * 3100
    await observer.flush_deltas()
    assert "".join(texts(log)) == "x" + "y" * 4000


async def test_pending_deltas_are_flushed_once_max_pending_deltas_wait_however_small() -> None:
    log = EventLog(Masker())
    observer = TurnObserver(log, LivenessTracker(lambda a, b: None), THREAD_ID, "cmd-1")
    await observer.handle(delta("x"))  # drained: out at once, now in flight
    for _ in range(MAX_PENDING_DELTAS + 1):
        await observer.handle(delta("y"))
    assert texts(log) == ["x", "y" * MAX_PENDING_DELTAS]
