"""The fake manager's state and the contract rules over it, free of HTTP.

One `Attempt` per runner job (§1: one Kubernetes Job per attempt) holds its job dict,
lease, append-only events, heartbeats and terminal body; commands are queued per run.
Every operation is synchronous and raises `ApiError` with the contract's status and
code, so the rules can be read (and tested) apart from routing; each change notifies
`changed` so waiters re-check.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fakes.manager.artifacts import DEFAULT_MAX_ARTIFACT_BYTES, ArtifactShelf
from fakes.manager.clock import Clock, format_time
from fakes.manager.errors import ApiError
from fakes.manager.jobs import new_id
from fakes.manager.models import (
    ClaimRequest,
    DeliveryRequest,
    EventsRequest,
    HeartbeatRequest,
    TerminalRequest,
)
from fakes.manager.recording import (
    ChangeSignal,
    RecordedDelivery,
    RecordedHeartbeat,
    StoredEvent,
    Subscribers,
)

_DELIVERY_RANK = {"received": 0, "forwarded": 1, "accepted": 2, "rejected": 2}


def canonical(value: Any) -> str:
    """Compact, key-sorted JSON: the form two bodies are compared in (§3, §7)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_size(value: Any) -> int:
    """UTF-8 byte length of `value` as compact JSON: how `data` is measured (§3)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass
class Lease:
    """A claim's lease (§2): valid until `expires_at` unless revoked."""

    lease_id: str
    runner_id: str
    expires_at: datetime
    ttl_seconds: int
    revoked: bool = False

    def live(self, now: datetime) -> bool:
        """Whether requests under this lease are still accepted at `now`."""
        return not self.revoked and now < self.expires_at


@dataclass
class Attempt:
    """One runner job = one attempt of one run, and everything reported for it."""

    job: dict[str, Any]
    lease_ttl_seconds: int
    heartbeat_interval_seconds: int
    cancelled: bool = False
    lease: Lease | None = None
    claimed_at: datetime | None = None
    runner: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[RecordedHeartbeat] = field(default_factory=list)
    terminal: dict[str, Any] | None = None
    commands_returned: int = 0

    @property
    def runner_job_id(self) -> str:
        return str(self.job["runnerJobId"])

    @property
    def run_id(self) -> str:
        return str(self.job["runId"])

    @property
    def attempt_id(self) -> str:
        return str(self.job["attemptId"])

    @property
    def max_event_bytes(self) -> int:
        """`limits.maxEventBytes` of the job, 65536 if the job (deliberately) lacks it."""
        limits = self.job.get("limits")
        value = limits.get("maxEventBytes") if isinstance(limits, dict) else None
        return value if isinstance(value, int) else 65536

    def lease_json(self, *, with_ttl: bool) -> dict[str, Any]:
        """The `lease` object: §2 adds `ttlSeconds`, §4 shows only id and expiry."""
        assert self.lease is not None
        body: dict[str, Any] = {
            "leaseId": self.lease.lease_id,
            "expiresAt": format_time(self.lease.expires_at),
        }
        if with_ttl:
            body["ttlSeconds"] = self.lease.ttl_seconds
        return body


class Store:
    """All runner jobs, commands, deliveries and artifacts (§12) of one fake manager."""

    def __init__(self, clock: Clock, max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES) -> None:
        self.clock = clock
        self.changed = ChangeSignal()
        self.subscribers = Subscribers()
        self.closed = False
        self.by_job: dict[str, Attempt] = {}
        self.by_attempt: dict[tuple[str, str], Attempt] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.command_run: dict[str, str] = {}
        self.delivery_state: dict[str, str] = {}
        self.deliveries: dict[str, list[RecordedDelivery]] = {}
        self.artifacts = ArtifactShelf(self._leased, clock, max_artifact_bytes)

    # -- set-up and knobs (called by tests) --------------------------------------------

    def add_job(
        self, job: dict[str, Any], lease_ttl_seconds: int, heartbeat_interval_seconds: int
    ) -> Attempt:
        """Register one runner job; ids must be unique (see `FakeManager.add_job`)."""
        attempt = Attempt(dict(job), lease_ttl_seconds, heartbeat_interval_seconds)
        key = (attempt.run_id, attempt.attempt_id)
        if attempt.runner_job_id in self.by_job or key in self.by_attempt:
            raise ValueError(f"runner job {attempt.runner_job_id} / attempt {key} exists")
        self.by_job[attempt.runner_job_id] = attempt
        self.by_attempt[key] = attempt
        self.commands.setdefault(attempt.run_id, [])
        command = job.get("command")
        if isinstance(command, dict) and isinstance(command.get("commandId"), str):
            self.command_run[command["commandId"]] = attempt.run_id
        self.changed.notify()
        return attempt

    def push_command(self, run_id: str, command: dict[str, Any]) -> str:
        """Queue a §5 command for `run_id`; returns its `commandId`."""
        command_id = command.get("commandId")
        if not isinstance(command_id, str) or command_id in self.command_run:
            raise ValueError("a command needs a new string commandId")
        self.commands.setdefault(run_id, []).append(dict(command))
        self.command_run[command_id] = run_id
        self.changed.notify()
        return command_id

    def attempt(self, run_id: str, attempt_id: str) -> Attempt:
        """The attempt, or KeyError."""
        return self.by_attempt[(run_id, attempt_id)]

    def close(self) -> None:
        """Shutdown: end long polls and event feeds."""
        self.closed = True
        self.subscribers.end_all()
        self.changed.notify()

    # -- lookups shared by the routes -------------------------------------------------

    def _leased(self, run_id: str, attempt_id: str, lease_id: str) -> Attempt:
        """The attempt a request under `lease_id` may act on (§3/§4/§7/§12 errors)."""
        if run_id not in self.commands:
            raise ApiError(404, "run-not-found", f"no run {run_id}")
        attempt = self.by_attempt.get((run_id, attempt_id))
        if attempt is None:
            raise ApiError(404, "attempt-not-found", f"run {run_id} has no attempt {attempt_id}")
        return self._check_lease(attempt, lease_id)

    def _leased_in_run(self, run_id: str, lease_id: str) -> Attempt:
        """The attempt of `run_id` holding `lease_id` (§5/§6 carry no attemptId)."""
        if run_id not in self.commands:
            raise ApiError(404, "run-not-found", f"no run {run_id}")
        for attempt in self.by_attempt.values():
            if attempt.run_id == run_id and attempt.lease and attempt.lease.lease_id == lease_id:
                return self._check_lease(attempt, lease_id)
        raise ApiError(409, "lease-lost", f"lease {lease_id} is not a lease of run {run_id}")

    def _check_lease(self, attempt: Attempt, lease_id: str) -> Attempt:
        if attempt.cancelled:
            raise ApiError(410, "attempt-cancelled", f"attempt {attempt.attempt_id} is cancelled")
        lease = attempt.lease
        if lease is None or lease.lease_id != lease_id:
            raise ApiError(409, "lease-lost", f"{lease_id} is not the attempt's current lease")
        if not lease.live(self.clock.now()):
            raise ApiError(409, "lease-lost", f"lease {lease_id} expired or was revoked")
        return attempt

    # -- §2 claim ---------------------------------------------------------------------

    def claim(self, runner_job_id: str, request: ClaimRequest) -> dict[str, Any]:
        """§2: lease the job to `request.runner.runnerId`.

        Raises:
            ApiError: 404 job-not-found, 410 job-cancelled, 409 already-claimed.
        """
        attempt = self.by_job.get(runner_job_id)
        if attempt is None:
            raise ApiError(404, "job-not-found", f"no runner job {runner_job_id}")
        if attempt.cancelled:
            raise ApiError(410, "job-cancelled", f"runner job {runner_job_id} is cancelled")
        runner_id = request.runner.runnerId
        now = self.clock.now()
        lease = attempt.lease
        same_runner = lease is not None and lease.runner_id == runner_id
        finished = attempt.terminal is not None
        if lease is not None and not same_runner and (lease.live(now) or finished):
            raise ApiError(409, "already-claimed", f"runner job {runner_job_id} is leased")
        if lease is None or not (lease.live(now) or finished):
            attempt.lease = Lease(
                new_id("lse"),
                runner_id,
                now + timedelta(seconds=attempt.lease_ttl_seconds),
                attempt.lease_ttl_seconds,
            )
            attempt.claimed_at = now
            attempt.runner = request.runner.model_dump(exclude_unset=True)
            self.changed.notify()
        return {
            "lease": attempt.lease_json(with_ttl=True),
            "heartbeatIntervalSeconds": attempt.heartbeat_interval_seconds,
            "job": attempt.job,
        }

    # -- §3 events --------------------------------------------------------------------

    def post_events(
        self, run_id: str, request: EventsRequest, raw_events: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """§3: store a batch atomically (all new events or none); answer `ackedSeq`.

        Args:
            run_id: from the path.
            request: the validated body (for lease, attempt and seqs).
            raw_events: the same events as received, which is what gets stored.

        Raises:
            ApiError: 400 non-contiguous batch, 413 event-too-large, 409 seq-gap /
                seq-conflict / attempt-finished / lease-lost, 410 attempt-cancelled.
        """
        attempt = self._leased(run_id, request.attemptId, request.leaseId)
        seqs = [event.seq for event in request.events]
        if any(b != a + 1 for a, b in itertools.pairwise(seqs)):
            raise ApiError(400, "invalid-request", f"batch seqs must be contiguous: {seqs}")
        for event in raw_events:
            size = json_size(event["data"])
            if size >= attempt.max_event_bytes:
                raise ApiError(
                    413,
                    "event-too-large",
                    f"event seq {event['seq']} has {size} bytes of data; the limit is "
                    f"under {attempt.max_event_bytes} (limits.maxEventBytes)",
                    seq=event["seq"],
                )
        acked = len(attempt.events)
        if seqs and seqs[0] > acked + 1:
            raise ApiError(
                409, "seq-gap", f"first seq {seqs[0]} leaves a gap after {acked}", ackedSeq=acked
            )
        fresh: list[dict[str, Any]] = []
        for seq, event in zip(seqs, raw_events, strict=True):
            if seq <= acked:
                if canonical(attempt.events[seq - 1]) != canonical(event):
                    raise ApiError(
                        409, "seq-conflict", f"seq {seq} was stored with other content", seq=seq
                    )
            else:
                fresh.append(event)
        if fresh and attempt.terminal is not None:
            raise ApiError(409, "attempt-finished", "the attempt already reported its terminal")
        now = self.clock.now()
        for event in fresh:
            attempt.events.append(event)
            self.subscribers.publish(StoredEvent(run_id, attempt.attempt_id, event, now))
        if fresh:
            self.changed.notify()
        return {"ackedSeq": len(attempt.events)}

    # -- §4 heartbeat -----------------------------------------------------------------

    def heartbeat(
        self, run_id: str, request: HeartbeatRequest, raw: dict[str, Any]
    ) -> dict[str, Any]:
        """§4: renew the lease by its ttl, record the heartbeat, say if commands wait.

        Raises:
            ApiError: 409 lease-lost, 410 attempt-cancelled, 404 unknown run/attempt.
        """
        attempt = self._leased(run_id, request.attemptId, request.leaseId)
        now = self.clock.now()
        assert attempt.lease is not None
        attempt.lease.expires_at = now + timedelta(seconds=attempt.lease.ttl_seconds)
        attempt.heartbeats.append(RecordedHeartbeat(raw, now, time.monotonic()))
        self.changed.notify()
        pending = len(self.commands[run_id]) > attempt.commands_returned
        return {"lease": attempt.lease_json(with_ttl=False), "commandsPending": pending}

    # -- §5 commands ------------------------------------------------------------------

    def poll_commands(
        self, run_id: str, lease_id: str, after: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """§5 without the waiting: the run's commands after queue position `after`.

        Returns:
            The new cursor position (queue length) and the commands after `after`.

        Raises:
            ApiError: 400 a cursor beyond the queue, 409 lease-lost, 410 attempt-cancelled.
        """
        attempt = self._leased_in_run(run_id, lease_id)
        queue = self.commands[run_id]
        if after > len(queue):
            raise ApiError(400, "invalid-request", f"cursor {after} is beyond this run's commands")
        attempt.commands_returned = max(attempt.commands_returned, len(queue))
        return len(queue), queue[after:]

    # -- §6 delivery ------------------------------------------------------------------

    def deliver(self, command_id: str, request: DeliveryRequest, raw: dict[str, Any]) -> str:
        """§6: move the command's delivery state forward (or repeat it); returns it.

        Raises:
            ApiError: 404 command-not-found, 409 lease-lost, 410 attempt-cancelled,
                409 delivery-state-conflict (backwards, or accepted <-> rejected).
        """
        run_id = self.command_run.get(command_id)
        if run_id is None:
            raise ApiError(404, "command-not-found", f"no command {command_id}")
        self._leased_in_run(run_id, request.leaseId)
        current = self.delivery_state.get(command_id)
        new = request.state
        backwards = current is not None and _DELIVERY_RANK[new] <= _DELIVERY_RANK[current]
        if current != new and backwards:
            raise ApiError(
                409,
                "delivery-state-conflict",
                f"delivery of {command_id} is {current}; it cannot go to {new}",
                currentState=current,
            )
        self.delivery_state[command_id] = new
        record = RecordedDelivery(command_id, new, raw, self.clock.now())
        self.deliveries.setdefault(command_id, []).append(record)
        self.changed.notify()
        return new

    # -- §7 terminal ------------------------------------------------------------------

    def terminal(
        self, run_id: str, request: TerminalRequest, raw: dict[str, Any]
    ) -> dict[str, Any]:
        """§7: accept the attempt's terminal status once; the same body again is 200.

        Raises:
            ApiError: 409 terminal-conflict, 409 events-missing / last-seq-mismatch,
                400 commandId or sessionId not the job's, 400 a `workspace` off §12
                (see `ArtifactShelf.check_workspace`), 409 lease-lost,
                410 attempt-cancelled, 404 unknown run/attempt.
        """
        if run_id not in self.commands:
            raise ApiError(404, "run-not-found", f"no run {run_id}")
        attempt = self.by_attempt.get((run_id, request.attemptId))
        if attempt is not None and attempt.terminal is not None:
            if canonical(attempt.terminal) != canonical(raw):
                raise ApiError(409, "terminal-conflict", "a different terminal was stored")
            return _terminal_answer(attempt)
        attempt = self._leased(run_id, request.attemptId, request.leaseId)
        job_command = attempt.job.get("command") or {}
        if request.commandId != job_command.get("commandId"):
            raise ApiError(400, "invalid-request", "commandId is not the job's command")
        if request.session.sessionId != (attempt.job.get("session") or {}).get("sessionId"):
            raise ApiError(400, "invalid-request", "session.sessionId is not the job's session")
        job_workspace = attempt.job.get("workspace")
        self.artifacts.check_workspace(run_id, attempt.attempt_id, request.workspace, job_workspace)
        acked = len(attempt.events)
        if request.lastSeq > acked:
            raise ApiError(
                409,
                "events-missing",
                f"lastSeq {request.lastSeq} but only 1..{acked} are stored",
                ackedSeq=acked,
            )
        if request.lastSeq < acked:
            raise ApiError(
                409,
                "last-seq-mismatch",
                f"lastSeq {request.lastSeq} but events up to {acked} are stored",
                ackedSeq=acked,
            )
        attempt.terminal = raw
        self.changed.notify()
        return _terminal_answer(attempt)


def _terminal_answer(attempt: Attempt) -> dict[str, Any]:
    assert attempt.terminal is not None
    return {
        "runId": attempt.run_id,
        "attemptId": attempt.attempt_id,
        "status": attempt.terminal["status"],
    }
