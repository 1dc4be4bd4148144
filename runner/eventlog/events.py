"""The attempt's event log: seq assignment, masking, size limits, and the unacked window.

`EventLog.emit` gives each event its `seq` (per attempt, from 1, contiguous, in the
order things happened; contract §3) and its time, masks every string (§9) and trims the
`data` under `limits.maxEventBytes` (longest strings first, `"truncated": true`). Events
stay in the log until the manager acknowledges them (`ackedSeq`); `emit` waits when
`max_unacked` events or `max_unacked_bytes` of them are outstanding, so memory stays
bounded and a slow manager slows the producer instead of growing a list. With a
`Spool`, each event is appended to disk before the sender can see it, and each ack is
recorded, so a restarted runner loses none.
`drained` says that every event is acknowledged (no request in flight, none waiting);
`want` is the sender asking producers that coalesce (the turn's deltas) to flush now,
and `arrivals` counts the backend messages folded into the log, so the sender can tell
a flood from a stream (`runner.manager.delivery`).
"""

from __future__ import annotations

import errno
import json
import logging
from collections import deque
from typing import Any

import anyio

from contract.failures import FailureKind
from contract.manager_api import Event, utc_now
from runner.eventlog.spool import Spool
from runner.safety.masking import Masker

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 1024 * 1024
"""§3: at most 500 events and 1 MiB per request."""
_ENVELOPE_BYTES = 4096


def failure_data(
    kind: FailureKind,
    message: str | None,
    *,
    source: str,
    detail: dict[str, Any],
    terminal: bool,
) -> dict[str, Any]:
    """The §9 `failure` event data: `failureKind, message, source, retryable, terminal,
    detail` (`retryable` from the kind, §10)."""
    return {
        "failureKind": str(kind),
        "message": message,
        "source": source,
        "retryable": kind.retryable,
        "terminal": terminal,
        "detail": detail,
    }


def spool_lost_data(spool: Spool) -> dict[str, Any]:
    """The `backend.warning` data when the spool stopped being written (issue 21)."""
    failure = spool.failure
    errno_name = errno.errorcode.get(failure.errno or 0, "") if failure is not None else ""
    return {
        "message": (
            f"the event spool cannot be written ({errno_name or 'error'}: "
            f"{failure.strerror if failure is not None else ''}): events are kept in memory "
            "only from here on, so a restart of the runner would lose them; the attempt goes on"
        ),
        "path": str(spool.dir),
        "errno": errno_name or None,
        "durability": "memory-only",
    }


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def fit_data(data: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """`data` cut to serialize under `max_bytes` bytes (§3), marked `"truncated": true`.

    The longest string fields are shortened first; command output keeps its tail, every
    other text keeps its head. Returns `data` itself when it already fits.
    """
    if _size(data) < max_bytes:
        return data
    budget = max_bytes - 64
    out: dict[str, Any] = json.loads(json.dumps(data))
    out["truncated"] = True
    for _ in range(64):
        excess = _size(out) - budget
        if excess <= 0:
            return out
        path, text = _longest_string(out)
        if path is None or not text:
            break
        keep = max(0, len(text) - excess - 16)
        cut = text[-keep:] if path[-1] in ("output", "aggregatedOutput") else text[:keep]
        _set(out, path, cut if keep else "")
    return {"truncated": True, "reason": "event data too large to keep under maxEventBytes"}


def split_text(text: str, max_bytes: int) -> list[str]:
    """`text` cut into pieces whose JSON string form is under `max_bytes` bytes each.

    Used so that a burst of coalesced deltas becomes several `item.delta` events instead
    of one event trimmed by `fit_data` (which would lose text). Never returns an empty
    list for a non-empty `text`.
    """
    pieces: list[str] = []
    start = 0
    while start < len(text):
        size = max_bytes
        while True:
            piece = text[start : start + size]
            encoded = len(json.dumps(piece, ensure_ascii=False).encode())
            if encoded < max_bytes or size == 1:
                break
            size = max(1, size * max_bytes // (encoded + 1) - 1)
        pieces.append(piece)
        start += len(piece)
    return pieces


def _longest_string(value: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...] | None, str]:
    best: tuple[tuple[Any, ...] | None, str] = (None, "")
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        if isinstance(child, str) and len(child) > len(best[1]):
            best = ((*path, key), child)
        elif isinstance(child, dict | list):
            found = _longest_string(child, (*path, key))
            if found[0] is not None and len(found[1]) > len(best[1]):
                best = found
    return best


def _set(value: Any, path: tuple[Any, ...], new: str) -> None:
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


class EventLog:
    """Events of one attempt, from `emit` until the manager acks them.

    Args:
        masker: applied to every string of every event.
        max_event_bytes: `limits.maxEventBytes` of the job (§2/§3).
        max_unacked: how many unacknowledged events may be held before `emit` waits.
        max_unacked_bytes: how many bytes of them (wire JSON) before `emit` waits.

    Attributes:
        last_seq: the seq of the newest event (0 before any).
        acked_seq: the highest seq the manager stored with all before it.
    """

    def __init__(
        self,
        masker: Masker,
        *,
        max_event_bytes: int = 65536,
        max_unacked: int = 10_000,
        max_unacked_bytes: int = 16 * 1024 * 1024,
        spool: Spool | None = None,
    ) -> None:
        self.masker = masker
        self.spool = spool
        self.max_event_bytes = max_event_bytes
        self.max_unacked = max_unacked
        self.max_unacked_bytes = max_unacked_bytes
        self.last_seq = 0
        self.acked_seq = 0
        self._unacked: deque[Event] = deque()
        self._sizes: dict[int, int] = {}
        """Wire size in bytes of each unacked event, by seq (measured once)."""
        self.unacked_bytes = 0
        self._changed = anyio.Event()
        self._wanted = anyio.Event()
        self.arrivals = 0
        """Backend messages folded into the log so far (producers count them)."""
        self.closed = False
        self._spool_warned = False

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def emit(
        self, type: str, data: dict[str, Any], *, command_id: str | None = None
    ) -> Event | None:
        """Append one event; waits while `max_unacked` events (or bytes) are outstanding.

        Returns:
            The event as it will be sent (seq, time, masked and trimmed data), or None
            when the log is closed: `runner.terminal` is the last event (§3), and
            whatever comes later is dropped, never numbered after it.
        """
        while self._full() and not self.closed:
            await self._changed.wait()
        return self.emit_nowait(type, data, command_id=command_id)

    def emit_nowait(
        self, type: str, data: dict[str, Any], *, command_id: str | None = None
    ) -> Event | None:
        """`emit` without back-pressure, for the few events of teardown and commands."""
        if self.closed:
            log.debug("event %s after the log was closed: dropped (§3)", type)
            return None
        masked = self.masker.mask_data(data)
        self.last_seq += 1
        event = Event(
            seq=self.last_seq,
            type=type,
            time=utc_now(),
            command_id=command_id,
            data=fit_data(masked, self.max_event_bytes),
        )
        if self.spool is not None:
            self.spool.append(event)
        self._unacked.append(event)
        self._sizes[event.seq] = size = _size(event.wire())
        self.unacked_bytes += size
        self._notify()
        if self.spool is not None and self.spool.failure is not None and not self._spool_warned:
            self._spool_warned = True
            self.emit_nowait("backend.warning", spool_lost_data(self.spool), command_id=command_id)
        return event

    def _full(self) -> bool:
        return (
            len(self._unacked) >= self.max_unacked or self.unacked_bytes >= self.max_unacked_bytes
        )

    def _hold(self, events: deque[Event]) -> None:
        self._unacked = events
        self._sizes = {e.seq: _size(e.wire()) for e in events}
        self.unacked_bytes = sum(self._sizes.values())

    def restore(self, events: list[Event], acked_seq: int) -> None:
        """Continue an attempt an earlier process spooled: its events, its last ack."""
        self.last_seq = len(events)
        self.acked_seq = min(acked_seq, self.last_seq)
        self._hold(deque(e for e in events if e.seq > self.acked_seq))
        self._notify()

    def ack(self, acked_seq: int) -> None:
        """Record the manager's `ackedSeq` (§3); drops the events it covers."""
        if acked_seq > self.acked_seq:
            self.acked_seq = min(acked_seq, self.last_seq)
            if self.spool is not None:
                self.spool.record_ack(self.acked_seq)
        while self._unacked and self._unacked[0].seq <= self.acked_seq:
            self.unacked_bytes -= self._sizes.pop(self._unacked.popleft().seq, 0)
        self._notify()

    def rewind(self, acked_seq: int) -> None:
        """After a `seq-gap`, the manager holds exactly 1..`acked_seq`: resend from there.

        Events already dropped from memory are read back from the spool.
        """
        spool = self.spool
        if acked_seq < self.acked_seq and spool is not None and spool.failure is None:
            spooled = spool.recover().events
            self._hold(deque(e for e in spooled if e.seq > acked_seq))
            self.acked_seq = acked_seq
            self._notify()
        else:
            self.ack(acked_seq)

    def batch(self, *, max_events: int = 200, max_bytes: int = MAX_BATCH_BYTES) -> list[Event]:
        """The oldest unacked events, at most `max_events` and about `max_bytes` in all."""
        out: list[Event] = []
        total = _ENVELOPE_BYTES
        for event in self._unacked:
            size = self._sizes.get(event.seq) or _size(event.wire())
            if out and (len(out) >= max_events or total + size > max_bytes):
                break
            out.append(event)
            total += size
        return out

    @property
    def unacked(self) -> int:
        """How many events wait for the manager's ack."""
        return len(self._unacked)

    @property
    def drained(self) -> bool:
        """Whether every event emitted so far is acknowledged (nothing queued or in flight)."""
        return not self._unacked

    def want(self) -> None:
        """The sender is ready for more: wake `wait_wanted` (producers flush what they hold)."""
        self._wanted.set()
        self._wanted = anyio.Event()

    async def wait_wanted(self) -> None:
        """Return at the next `want`."""
        await self._wanted.wait()

    async def wait_changed(self) -> None:
        """Return after the next `emit`, `ack` or `close`."""
        await self._changed.wait()

    async def wait_acked(self, seq: int) -> None:
        """Return once every event up to `seq` is acknowledged."""
        while self.acked_seq < seq:
            await self._changed.wait()

    def close(self) -> None:
        """No more events (§3: nothing after `runner.terminal`); wakes every waiter."""
        self.closed = True
        self._notify()
