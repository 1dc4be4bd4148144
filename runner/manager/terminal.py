"""Report the attempt's end (contract §7): last events, every ack, one terminal report.

`report_verdict` enters liveness `terminal`, emits the terminal `failure` event (if the
attempt failed) and `runner.terminal` (with what the descendant check found), waits until
the manager has acknowledged every event, persists the terminal body in the spool, and
posts it — retried while the lease can still be alive. `post_terminal` alone serves a
restarted runner that finds a persisted body.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio

from concurrency.taskgroups import first_of
from contract.failures import ManagerError
from contract.manager_api import TerminalRequest, TerminalSession, TerminalWorkspace
from runner.eventlog.events import EventLog, failure_data
from runner.eventlog.spool import Spool
from runner.manager.client import ManagerCallError
from runner.manager.delivery import ManagerLink
from runner.manager.retry import RetryPolicy, call_with_retries
from runner.safety.hygiene import kill_descendants
from runner.turn.liveness import LivenessTracker
from runner.turn.outcome import TurnFacts, Verdict

log = logging.getLogger(__name__)

FLUSH_DEADLINE_SECONDS = 300.0
MIN_TERMINAL_RETRY_SECONDS = 60.0


def lease_seconds_left(expires_at: str | None) -> float:
    """Seconds until the lease's `expiresAt` (RFC 3339), 0 when unknown or past."""
    if not expires_at:
        return 0.0
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def post_terminal(link: ManagerLink, body: dict[str, Any]) -> bool:
    """Post a terminal body until delivered, refused, or the lease has surely expired."""
    request = TerminalRequest.model_validate(body)
    deadline = max(MIN_TERMINAL_RETRY_SECONDS, lease_seconds_left(link.lease_expires_at) + 10)
    try:
        await call_with_retries(
            RetryPolicy(attempts=10_000, deadline_seconds=deadline, max_seconds=5.0),
            partial(link.events_client.terminal, link.run_id, request),
        )
    except ManagerError as exc:
        if isinstance(exc, ManagerCallError):
            link.check(exc)
        log.error("terminal report not delivered: %s", exc.message)
        return False
    return True


async def report_verdict(
    *,
    verdict: Verdict,
    facts: TurnFacts,
    link: ManagerLink,
    events: EventLog,
    liveness: LivenessTracker,
    spool: Spool,
    sender_done: anyio.Event,
    command_id: str,
    session_id: str,
    started_monotonic: float,
    subreaper: bool,
    workspace: TerminalWorkspace | None = None,
) -> bool:
    """Emit the closing events, wait for every ack, and deliver the terminal report.

    Args:
        workspace: the §7 `workspace` field (§12), None without a captured result.

    Returns:
        True when the manager accepted the terminal report.
    """
    liveness.set("terminal")
    if verdict.failure_kind is not None:
        data = failure_data(
            verdict.failure_kind,
            verdict.message,
            source=verdict.source,
            detail=verdict.detail,
            terminal=True,
        )
        await events.emit("failure", data, command_id=command_id)
    with anyio.CancelScope(shield=True):
        report = await anyio.to_thread.run_sync(
            partial(kill_descendants, 1.0, kill_wait_seconds=1.0)
        )
    await events.emit(
        "runner.terminal",
        {
            "status": verdict.status,
            "failureKind": str(verdict.failure_kind) if verdict.failure_kind else None,
            "processes": {**report.to_wire(), "subreaper": subreaper},
        },
        command_id=command_id,
    )
    last_seq = events.last_seq
    events.close()
    body = TerminalRequest(
        lease_id=link.lease_id,
        attempt_id=link.attempt_id,
        command_id=command_id,
        status=verdict.status,
        failure_kind=str(verdict.failure_kind) if verdict.failure_kind else None,
        failure_message=events.masker.mask(verdict.message) if verdict.message else None,
        final_response=events.masker.mask(facts.final_response)
        if facts.final_response is not None
        else None,
        session=TerminalSession(session_id=session_id, thread_id=facts.thread_id),
        turn_id=facts.turn_id,
        usage=facts.usage,
        workspace=workspace,
        last_seq=last_seq,
        duration_ms=int((time.monotonic() - started_monotonic) * 1000),
    ).wire()
    spool.record_terminal(body)
    return await deliver_after_acks(link, events, sender_done, body)


async def deliver_after_acks(
    link: ManagerLink, events: EventLog, sender_done: anyio.Event, body: dict[str, Any]
) -> bool:
    """§7: post `body` only once every event up to its `lastSeq` is acknowledged."""
    last_seq = int(body["lastSeq"])
    with anyio.move_on_after(FLUSH_DEADLINE_SECONDS):
        await first_of(partial(events.wait_acked, last_seq), sender_done.wait)
    if events.acked_seq < last_seq or link.lost.is_set():
        log.error("events up to %d not acknowledged; no terminal report", last_seq)
        return False
    return await post_terminal(link, body)
