"""Background loops that talk to the manager during an attempt: events and heartbeats.

`send_events` posts the event log in adaptive batches (§3): an event is sent at once when
no request is in flight, and events coalesce while one is outstanding (one request at a
time, at most 500 events and 1 MiB each), so latency is about one round trip while the
stream is light; posts start at least `MIN_POST_INTERVAL_SECONDS` apart, so a steady
stream costs at most 50 requests per second however fast the manager answers. When more
than `FLOOD_ARRIVALS_PER_REQUEST` backend messages arrived during the last request (a
flood: the stream outruns the round trip many times over), the next batch lingers up to
`BATCH_LINGER_SECONDS` or until it is full, so a flood costs no more requests per second
than the timed batcher before it. It honours `ackedSeq`, resynchronizes on `seq-gap`,
retries transient failures (`runner.manager.retry`) and never drops an event.
`send_heartbeats` posts one heartbeat right away and then one every
`heartbeatIntervalSeconds` (§4) on its own HTTP connection pool, so an event flood cannot
delay it. Both stop the attempt through `ManagerLink.lose` on
`lease-lost` (409) or `attempt-cancelled` (410).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import anyio
import anyio.lowlevel

from contract.failures import ManagerError
from contract.manager_api import EventsRequest, HeartbeatRequest, Resources
from runner.eventlog.events import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, EventLog
from runner.manager.client import ManagerCallError, ManagerClient
from runner.manager.retry import RetryPolicy, call_with_retries
from runner.safety.hygiene import ZombieReaper
from runner.safety.hygiene_stats import resource_snapshot
from runner.turn.liveness import LivenessTracker

log = logging.getLogger(__name__)

BATCH_MAX_EVENTS = MAX_BATCH_EVENTS
BATCH_LINGER_SECONDS = 0.2
"""A flood's batch waits this long (or until full): the cycle of the timed batcher before
(a 100 ms delta tick, then a 100 ms linger), so a flood costs no more requests."""
FLOOD_ARRIVALS_PER_REQUEST = 1000
"""This many backend messages during one request means a flood: the next batch lingers
(10 000 deltas/s at a 20 ms round trip are 200; the replayed flood of
`bench/bench_throughput.py` brings thousands)."""
MIN_POST_INTERVAL_SECONDS = 0.02
"""Events posts start at least this far apart (≤ 50/s while a stream lasts; + ≤ 20 ms of
latency). The first event after a quiet spell waits for nothing: the last post is older."""
EVENTS_RETRY = RetryPolicy(attempts=1_000_000, deadline_seconds=600.0, max_seconds=10.0)
"""Events are retried for as long as a lease can plausibly still be held."""
LOSING_CODES = frozenset({"lease-lost", "attempt-cancelled"})


@dataclass
class ManagerLink:
    """What every manager call of one attempt needs, and the lease-lost signal.

    Attributes:
        events_client: client for events, deliveries and the terminal report.
        heartbeat_client: client on its own connection pool for heartbeats.
        commands_client: client on its own connection pool for the long poll.
        lost: set when the manager answered `lease-lost` or `attempt-cancelled`.
        lost_error: that answer.
    """

    events_client: ManagerClient
    heartbeat_client: ManagerClient
    commands_client: ManagerClient
    run_id: str
    attempt_id: str
    lease_id: str
    heartbeat_interval_seconds: float
    lease_expires_at: str | None = None
    lost: anyio.Event = field(default_factory=anyio.Event)
    lost_error: ManagerError | None = None

    def lose(self, error: ManagerError) -> None:
        """Record a lost lease / cancelled attempt (§3: stop without further events)."""
        if self.lost_error is None:
            self.lost_error = error
            self.lost.set()

    def check(self, error: ManagerError) -> None:
        """`lose` if `error` is `lease-lost` or `attempt-cancelled`; else nothing."""
        if error.code in LOSING_CODES:
            self.lose(error)


async def send_events(link: ManagerLink, events: EventLog) -> None:
    """Deliver the event log until it is closed and fully acknowledged (§3).

    Whatever is unacknowledged when the previous request ends (or the first event after
    a quiet spell) goes out at once, up to `BATCH_MAX_EVENTS` and 1 MiB, no sooner than
    `MIN_POST_INTERVAL_SECONDS` after the previous post started, unless the stream is
    heavy (see the module docstring): then the batch lingers until it is full or
    `BATCH_LINGER_SECONDS` have passed.

    Raises:
        ManagerError: a non-transient refusal other than a seq gap (after `link.lose`
            where it is `lease-lost`/`attempt-cancelled`).
    """
    flood = False
    last_post = -MIN_POST_INTERVAL_SECONDS
    while True:
        if events.unacked == 0:
            if events.closed:
                return
            events.want()
            await events.wait_changed()
            continue
        linger = (
            BATCH_LINGER_SECONDS
            if flood
            else last_post + MIN_POST_INTERVAL_SECONDS - anyio.current_time()
        )
        if linger > 0:
            with anyio.move_on_after(linger):
                while not _batch_full(events) and not events.closed:
                    await events.wait_changed()
            events.want()
            await anyio.lowlevel.checkpoint()  # let the turn flush its coalesced deltas
        last_post = anyio.current_time()
        arrivals = events.arrivals
        batch = events.batch(max_events=BATCH_MAX_EVENTS)
        if not batch:
            continue
        request = EventsRequest(lease_id=link.lease_id, attempt_id=link.attempt_id, events=batch)
        try:
            response = await call_with_retries(
                EVENTS_RETRY, partial(link.events_client.post_events, link.run_id, request)
            )
        except ManagerCallError as exc:
            if exc.code == "seq-gap" and isinstance(exc.body.get("ackedSeq"), int):
                events.rewind(exc.body["ackedSeq"])
                continue
            link.check(exc)
            raise
        events.ack(response.acked_seq)
        flood = events.arrivals - arrivals >= FLOOD_ARRIVALS_PER_REQUEST


def _batch_full(events: EventLog) -> bool:
    return events.unacked >= BATCH_MAX_EVENTS or events.unacked_bytes >= MAX_BATCH_BYTES


async def send_heartbeats(
    link: ManagerLink,
    liveness: LivenessTracker,
    events: EventLog,
    *,
    backend_pid: Callable[[], int | None] = lambda: None,
) -> None:
    """Heartbeat now, then every `heartbeat_interval_seconds`, until cancelled (§4).

    A failed heartbeat is logged and the next one goes out on schedule; `lease-lost`
    sets `link.lost` and ends the loop. Each tick also measures the runner and backend
    trees (`resources`) and reaps orphans re-parented to the runner (subreaper).
    """
    interval = link.heartbeat_interval_seconds
    next_at = anyio.current_time()
    reaper = ZombieReaper()
    while True:
        pid = backend_pid()
        snapshot = await anyio.to_thread.run_sync(resource_snapshot, pid)
        await anyio.to_thread.run_sync(reaper.sweep, {pid} if pid else set())
        request = HeartbeatRequest(
            lease_id=link.lease_id,
            attempt_id=link.attempt_id,
            liveness=liveness.snapshot(events.last_seq),
            resources=Resources.model_validate(snapshot.total.to_wire()),
        )
        try:
            with anyio.fail_after(max(1.0, interval)):
                response = await call_with_retries(
                    RetryPolicy(attempts=3, deadline_seconds=interval, max_seconds=1.0),
                    partial(link.heartbeat_client.heartbeat, link.run_id, request),
                )
            link.lease_expires_at = response.lease.expires_at
        except ManagerError as exc:
            link.check(exc)
            if link.lost.is_set():
                return
            log.warning("heartbeat failed: %s", exc.message)
        except TimeoutError:
            log.warning("heartbeat timed out after %.1f s", interval)
        next_at += interval
        await anyio.sleep(max(0.0, next_at - anyio.current_time()))
