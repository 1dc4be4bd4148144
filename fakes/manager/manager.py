"""`FakeManager`: the test-facing handle of one fake manager (state, knobs, records).

It owns the store, the transport knobs and the request log, exposes the ASGI app, and
offers what tests need: register jobs, push commands, read what the runner reported,
wait for it (never by sleeping), and the state knobs (expire/revoke a lease, cancel an
attempt or a job). Serving it over HTTP is `server.serve_fake_manager`'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.types import ASGIApp

from fakes.manager.app import build_app
from fakes.manager.artifacts import DEFAULT_MAX_ARTIFACT_BYTES, StoredArtifact
from fakes.manager.clock import Clock
from fakes.manager.frontdoor import FrontDoor
from fakes.manager.jobs import JobSpec
from fakes.manager.knobs import Knobs
from fakes.manager.recording import (
    RecordedDelivery,
    RecordedHeartbeat,
    RecordedRequest,
    Subscription,
)
from fakes.manager.store import Attempt, Store


class FakeManager:
    """One fake manager. Use `serve_fake_manager(...)` to get one served on loopback.

    Args:
        token: the bearer token every request must carry.
        knobs: transport fault knobs (a fresh `Knobs()` if None).
        clock: the fake clock leases expire on (a fresh `Clock()` if None).
        max_wait_seconds: the cap on a §5 long poll's `waitSeconds`.
        max_artifact_bytes: the largest decoded §12 artifact accepted (8 MiB by
            default); a larger upload is 413 `artifact-too-large`.

    Attributes:
        url: the base URL once served (e.g. "http://127.0.0.1:41234"), else "".
        knobs: the transport knobs; change them at any time.
        clock: the fake clock; `mgr.clock.advance(31)` expires a 30 s lease.
        requests: every request received, in arrival order (`RecordedRequest`).
        app: the ASGI app (front door + routes), e.g. for `httpx.ASGITransport`.
    """

    def __init__(
        self,
        token: str,
        *,
        knobs: Knobs | None = None,
        clock: Clock | None = None,
        max_wait_seconds: float = 60.0,
        max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    ) -> None:
        self.url = ""
        self.knobs = knobs or Knobs()
        self.clock = clock or Clock()
        self.requests: list[RecordedRequest] = []
        self._store = Store(self.clock, max_artifact_bytes)
        self.app: ASGIApp = FrontDoor(
            build_app(self._store, max_wait_seconds=max_wait_seconds),
            token=token,
            knobs=self.knobs,
            clock=self.clock,
            requests=self.requests,
            on_change=self._store.changed.notify,
        )

    # -- set-up -----------------------------------------------------------------------

    def add_job(
        self,
        job: dict[str, Any],
        *,
        lease_ttl_seconds: int = 30,
        heartbeat_interval_seconds: int = 10,
        check: bool = True,
    ) -> str:
        """Register one runner job (the `job` object of the §2 claim response).

        Args:
            job: the job dict, e.g. from `example_job()`; served exactly as given.
            lease_ttl_seconds: the lease's `ttlSeconds`; a lease expires this long
                after the claim or the last heartbeat (fake clock).
            heartbeat_interval_seconds: the claim response's `heartbeatIntervalSeconds`.
            check: validate `job` against the contract's shape first; pass False to
                serve a deliberately broken job (to test `job-spec-invalid`).

        Returns:
            The job's `runnerJobId`, the id to claim.

        Raises:
            pydantic.ValidationError: `check` and the job is not contract-shaped.
            ValueError: the runner job id or (runId, attemptId) is already registered.
        """
        if check:
            JobSpec.model_validate(job)
        for key in ("runnerJobId", "runId", "attemptId"):
            if not isinstance(job.get(key), str):
                raise ValueError(f"job.{key} must be a string even when check=False")
        attempt = self._store.add_job(job, lease_ttl_seconds, heartbeat_interval_seconds)
        return attempt.runner_job_id

    def push_command(self, run_id: str, command: dict[str, Any]) -> str:
        """Queue a §5 command (`steer` or `cancel`) for every attempt of `run_id`.

        Args:
            run_id: the run; its long polls wake up at once.
            command: the command object as §5 shows it; needs a new `commandId`.

        Returns:
            The command's `commandId` (for `deliveries()`).
        """
        return self._store.push_command(run_id, command)

    # -- reading what the runner reported ------------------------------------------------

    def events(self, run_id: str, attempt_id: str) -> list[dict[str, Any]]:
        """The stored §3 events of an attempt in seq order, exactly as received."""
        return list(self._attempt(run_id, attempt_id).events)

    def heartbeats(self, run_id: str, attempt_id: str) -> list[RecordedHeartbeat]:
        """The accepted §4 heartbeats of an attempt, with arrival times."""
        return list(self._attempt(run_id, attempt_id).heartbeats)

    def deliveries(self, command_id: str) -> list[RecordedDelivery]:
        """Every accepted §6 delivery post of a command, in order (repeats included)."""
        return list(self._store.deliveries.get(command_id, []))

    def delivery_state(self, command_id: str) -> str | None:
        """The command's current §6 delivery state, or None before any report."""
        return self._store.delivery_state.get(command_id)

    def terminal(self, run_id: str, attempt_id: str) -> dict[str, Any] | None:
        """The accepted §7 terminal body of an attempt, or None."""
        return self._attempt(run_id, attempt_id).terminal

    def artifacts(self, run_id: str, attempt_id: str) -> list[StoredArtifact]:
        """The §12 artifacts stored for an attempt, in upload order (repeats once)."""
        self._attempt(run_id, attempt_id)
        return self._store.artifacts.of_attempt(run_id, attempt_id)

    def artifact(self, run_id: str, attempt_id: str, name: str) -> StoredArtifact | None:
        """The attempt's §12 artifact called `name` (e.g. "workspace.patch"), or None."""
        self._attempt(run_id, attempt_id)
        return self._store.artifacts.get(run_id, attempt_id, name)

    def lease(self, run_id: str, attempt_id: str) -> dict[str, Any] | None:
        """The attempt's lease: `{"leaseId", "expiresAt", "runnerId", "live"}`, or None."""
        attempt = self._attempt(run_id, attempt_id)
        if attempt.lease is None:
            return None
        return {
            **attempt.lease_json(with_ttl=True),
            "runnerId": attempt.lease.runner_id,
            "live": attempt.lease.live(self.clock.now()),
        }

    def claimed_by(self, run_id: str, attempt_id: str) -> dict[str, Any] | None:
        """The §2 `runner` object of the claim that holds (or held) the lease."""
        return self._attempt(run_id, attempt_id).runner

    def is_heartbeat_stale(self, run_id: str, attempt_id: str) -> bool:
        """§4: no heartbeat (or claim) for 3 heartbeat intervals, on the fake clock."""
        attempt = self._attempt(run_id, attempt_id)
        last = attempt.heartbeats[-1].received_at if attempt.heartbeats else attempt.claimed_at
        if last is None:
            return False
        limit = timedelta(seconds=3 * attempt.heartbeat_interval_seconds)
        return self.clock.now() - last > limit

    # -- waiting ---------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` is true, re-checking after every state change.

        Unbounded by itself: wrap it in `anyio.fail_after(...)`.
        """
        while not predicate():
            await self._store.changed.wait()

    async def wait_terminal(self, run_id: str, attempt_id: str) -> dict[str, Any]:
        """Wait for the attempt's §7 terminal body (bound it with `anyio.fail_after`)."""
        attempt = self._attempt(run_id, attempt_id)
        await self.wait_until(lambda: attempt.terminal is not None)
        assert attempt.terminal is not None
        return attempt.terminal

    def subscribe(self, max_buffer: int = 1000) -> Subscription:
        """A live feed of every event as it is stored (all runs), for viewers.

        Use as `with mgr.subscribe() as feed: async for stored in feed: ...`. If the
        reader falls `max_buffer` events behind, further events are dropped *for this
        feed only* and counted in `feed.dropped`; storage and the server never wait.
        The feed ends when the fake manager shuts down.
        """
        return self._store.subscribers.subscribe(max_buffer)

    # -- state knobs -----------------------------------------------------------------

    def expire_lease(self, run_id: str, attempt_id: str) -> None:
        """Make the attempt's lease expire now: its requests get 409 `lease-lost`.

        Another runner may then claim the job (takeover); a heartbeat cannot revive it.
        """
        lease = self._attempt(run_id, attempt_id).lease
        if lease is None:
            raise ValueError("the attempt has not been claimed")
        lease.expires_at = self.clock.now()
        self._store.changed.notify()

    def revoke_lease(self, run_id: str, attempt_id: str) -> None:
        """Revoke the attempt's lease now (as a takeover would): 409 `lease-lost`."""
        lease = self._attempt(run_id, attempt_id).lease
        if lease is None:
            raise ValueError("the attempt has not been claimed")
        lease.revoked = True
        self._store.changed.notify()

    def cancel_attempt(self, run_id: str, attempt_id: str) -> None:
        """Cancel the attempt: requests get 410 `attempt-cancelled`, claims 410 `job-cancelled`."""
        self._attempt(run_id, attempt_id).cancelled = True
        self._store.changed.notify()

    def cancel_job(self, runner_job_id: str) -> None:
        """Cancel a runner job (before or after its claim): claims get 410 `job-cancelled`."""
        self._store.by_job[runner_job_id].cancelled = True
        self._store.changed.notify()

    def close(self) -> None:
        """End long polls and event feeds (done by `serve_fake_manager` on exit)."""
        self._store.close()

    def _attempt(self, run_id: str, attempt_id: str) -> Attempt:
        return self._store.attempt(run_id, attempt_id)
