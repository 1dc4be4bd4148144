"""What the fake manager remembers for tests, and how tests wait on it without sleeping.

Records are plain frozen dataclasses appended to lists. Every state change calls
`ChangeSignal.notify()`, which wakes everyone in `wait()`; waiters re-check their own
condition, so a wait is always "until this predicate holds", bounded by the caller's
`anyio.fail_after`. Live viewers get stored events through bounded memory object
streams: a full subscriber loses events (counted in `Subscription.dropped`), the store
never does, and the server never blocks on a viewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream


@dataclass
class RecordedRequest:
    """One HTTP request as the fake saw it, including ones a knob failed or reset.

    Attributes:
        method: e.g. "POST".
        path: URL path without the query, e.g. "/api/v1/runs/run-1/events".
        query: the raw query string ("" when none).
        body: the parsed JSON body, or None when empty or not JSON.
        received_at: arrival time on the fake clock (UTC).
        monotonic: arrival time on `time.monotonic()` (seconds), for intervals.
        status: the response status, or None when the connection was reset (knob).
        response: the parsed JSON response body, or None.
        fault: "status" / "reset" / "body" when a knob produced the answer, else None.
    """

    method: str
    path: str
    query: str
    body: Any
    received_at: datetime
    monotonic: float
    status: int | None = None
    response: Any = None
    fault: str | None = None


@dataclass(frozen=True)
class RecordedHeartbeat:
    """One accepted §4 heartbeat: its body and arrival times (fake clock, monotonic)."""

    body: dict[str, Any]
    received_at: datetime
    monotonic: float


@dataclass(frozen=True)
class RecordedDelivery:
    """One accepted §6 delivery post (repeats of a state included)."""

    command_id: str
    state: str
    body: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class StoredEvent:
    """One §3 event as stored: the event dict exactly as received, and where/when."""

    run_id: str
    attempt_id: str
    event: dict[str, Any]
    stored_at: datetime


class ChangeSignal:
    """A broadcast "something changed" that any number of tasks can wait on."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def notify(self) -> None:
        """Wake every current waiter; later waiters wait for the next change."""
        self._event.set()
        self._event = anyio.Event()

    async def wait(self) -> None:
        """Block until the next `notify()`."""
        await self._event.wait()


@dataclass
class Subscription:
    """A live feed of stored events; use as a context manager and iterate it.

    Attributes:
        dropped: events this subscriber missed because its buffer was full.
    """

    _send: MemoryObjectSendStream[StoredEvent]
    _receive: MemoryObjectReceiveStream[StoredEvent]
    dropped: int = field(default=0)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StoredEvent:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def receive(self) -> StoredEvent:
        """The next stored event.

        Raises:
            anyio.EndOfStream: the fake manager shut down and the buffer is empty.
        """
        return await self._receive.receive()

    def offer(self, item: StoredEvent) -> bool:
        """Hand over one event without blocking; count it as dropped if full.

        Returns:
            False when this subscription is closed and should be forgotten.
        """
        try:
            self._send.send_nowait(item)
        except anyio.WouldBlock:
            self.dropped += 1
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def end(self) -> None:
        """Close the sending side: the reader sees the end after the buffered events."""
        self._send.close()

    def close(self) -> None:
        """Close both sides (idempotent)."""
        self._send.close()
        self._receive.close()


class Subscribers:
    """The set of live event feeds."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []

    def subscribe(self, max_buffer: int) -> Subscription:
        """Open a feed holding at most `max_buffer` unread events."""
        send, receive = anyio.create_memory_object_stream[StoredEvent](max_buffer)
        sub = Subscription(send, receive)
        self._subs.append(sub)
        return sub

    def publish(self, item: StoredEvent) -> None:
        """Offer `item` to every feed, never blocking; forget closed feeds."""
        self._subs = [sub for sub in self._subs if sub.offer(item)]

    def end_all(self) -> None:
        """End every feed (server shutdown); readers drain what is buffered."""
        for sub in self._subs:
            sub.end()
        self._subs.clear()
