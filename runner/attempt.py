"""One claimed attempt to its terminal report (contract §3–§7): `Attempt`.

`runner.launch.run_from_environ` reads §1 and claims the job (§2), then hands it to
`Attempt.run`, which runs three background loops — events (§3), heartbeats (§4) and the
commands long poll (§5) — around the work: validate the job, prepare `CODEX_HOME`,
materialize the workspace and bundles while the backend starts, run the turn on Codex.
Whatever happens, it ends with one verdict: `liveness` terminal, a `failure` event if it
failed, `runner.terminal`, every event acknowledged, and one terminal report (§7). Every
event is spooled first; a runner restarted in the same pod finishes the attempt from the
spool instead (`runner.recovery`). Exit status: 0 when the terminal report was
delivered, else 1.
"""

from __future__ import annotations

import logging
import os
import platform
import signal
import time
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import psutil

from adapters.codex.binary import resolve_codex_binary
from concurrency.taskgroups import task_group
from contract.failures import FailureKind, JobSpecError, ManagerError, RunnerError
from contract.manager_api import ClaimResponse, Job, TerminalWorkspace
from contract.validation import validate_job
from runner import RUNNER_VERSION
from runner.early import layout_masks
from runner.env import RunnerEnv
from runner.eventlog.events import EventLog
from runner.eventlog.spool import SPOOL_DIRNAME, Recovered, Spool
from runner.manager.claim import (
    env_identity,
    no_proxy_covers,
)
from runner.manager.client import ManagerClient
from runner.manager.commands import poll_commands
from runner.manager.delivery import ManagerLink, send_events, send_heartbeats
from runner.manager.terminal import deliver_after_acks, report_verdict
from runner.recovery import end_orphaned_backend, recovered_facts, recovered_verdict
from runner.safety.disk import disk_full_of, enospc_in, volumes_of
from runner.safety.hygiene import kill_descendants
from runner.safety.masking import Masker
from runner.turn.backend_run import BackendPlan, TurnControl, TurnSetup, run_turn
from runner.turn.codex_home import (
    backend_environment,
    link_workspace_skills,
    prepare_codex_home,
    remove_credentials,
)
from runner.turn.liveness import LivenessTracker
from runner.turn.outcome import InterruptReason, TurnFacts, Verdict, verdict_for_interrupt
from runner.turn.sandbox_policy import (
    CODEX_STATE_DIRNAME,
    build_policy,
    sandbox_report,
)
from runner.turn.warm import WarmBackend

if TYPE_CHECKING:
    from bundles.job import Materialized

log = logging.getLogger(__name__)

COMMANDS_DRAIN_SECONDS = 10.0
"""After the terminal report, how long deliveries of commands in hand may still take."""
LOST_LEASE_GRACE_SECONDS = 0.3
"""After `lease-lost`, each shutdown step of the backend waits this long (§3: stop)."""


class Attempt:
    """The claimed attempt: its loops, its work (or its recovery) and its terminal report."""

    def __init__(
        self,
        env: RunnerEnv,
        masker: Masker,
        claim: ClaimResponse,
        clients: tuple[ManagerClient, ManagerClient, ManagerClient],
        started_monotonic: float,
        subreaper: bool,
        warm: WarmBackend | None = None,
    ) -> None:
        self.env = env
        self.warm = warm
        self.masker = masker
        self.claim = claim
        self.started = started_monotonic
        self.subreaper = subreaper
        raw = claim.job
        self.job: Job | None = None
        self.job_error: JobSpecError | None = None
        try:
            self.job = validate_job(raw)  # the whole job, before any side effect (§2)
        except JobSpecError as exc:
            self.job_error = exc
        command = raw.get("command")
        self.command_id = str(command.get("commandId")) if isinstance(command, dict) else ""
        session = raw.get("session")
        self.session_id = str(session.get("sessionId")) if isinstance(session, dict) else ""
        self.requested_thread_id: str | None = (
            session.get("threadId") if isinstance(session, dict) else None
        )
        self.link = ManagerLink(
            events_client=clients[0],
            heartbeat_client=clients[1],
            commands_client=clients[2],
            run_id=str(raw.get("runId")),
            attempt_id=str(raw.get("attemptId")),
            lease_id=claim.lease.lease_id,
            heartbeat_interval_seconds=float(claim.heartbeat_interval_seconds),
            lease_expires_at=claim.lease.expires_at,
        )
        self.spool = Spool(env.runtime_home, self.link.attempt_id)
        self.recovered: Recovered | None = self.spool.recover() if self.spool.exists() else None
        self.spool.open()
        max_event_bytes = self.job.limits.max_event_bytes if self.job else 65536
        self.events = EventLog(masker, max_event_bytes=max_event_bytes, spool=self.spool)
        self.liveness = LivenessTracker(self._liveness_changed)
        if self.recovered is not None:
            self.events.restore(self.recovered.events, self.recovered.acked_seq)
            phases = self.recovered.of_type("liveness")
            if phases:
                self.liveness.phase = phases[-1].data.get("phase", "waiting-runner")
        self.control = TurnControl()
        self.materialized: Materialized | None = None
        self.terminal_workspace: TerminalWorkspace | None = None
        self.backend_pid: int | None = None
        self.sender_done = anyio.Event()
        self.commands_stop = anyio.Event()
        self.commands_done = anyio.Event()

    def _liveness_changed(self, phase: str, previous: str) -> None:
        self.events.emit_nowait(
            "liveness", {"phase": phase, "previousPhase": previous}, command_id=self.command_id
        )

    async def run(self) -> int:
        """Run (or finish) the attempt; returns the process exit status (§1)."""
        try:
            async with task_group() as loops:
                loops.start_soon(self._heartbeats)
                loops.start_soon(self._send_events)
                if self.recovered is None:
                    loops.start_soon(self._commands)
                    loops.start_soon(self._watch_signals)
                else:
                    self.commands_done.set()
                delivered = await self._run_until_reported()
                # The poll ran until the terminal report (§5); commands in hand finish
                # their deliveries (e.g. `rejected` / `attempt-ending`), bounded.
                self.commands_stop.set()
                with anyio.move_on_after(COMMANDS_DRAIN_SECONDS):
                    await self.commands_done.wait()
                loops.cancel_scope.cancel()
        finally:
            self.spool.close()
        return 0 if delivered else 1

    async def _run_until_reported(self) -> bool:
        if self.recovered is not None:
            return await self._finish_recovered(self.recovered)
        verdict: Verdict | None = None
        async with task_group() as work:

            async def watch_lost() -> None:
                await self.link.lost.wait()
                self.control.stop(InterruptReason.LEASE_LOST)
                if self.control.client is not None:
                    transport = self.control.client.transport
                    transport.grace_seconds = transport.term_seconds = LOST_LEASE_GRACE_SECONDS
                work.cancel_scope.cancel()

            work.start_soon(watch_lost)
            verdict = await self._work()
            verdict = await self._publish_workspace(verdict, self._facts())
            work.cancel_scope.cancel()
        if verdict is None or self.link.lost.is_set():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    partial(kill_descendants, 0.5, kill_wait_seconds=1.0)
                )
            log.error("stopping without a terminal report: %s", self.link.lost_error)
            return False
        return await self._report(verdict, self._facts())

    async def _finish_recovered(self, recovered: Recovered) -> bool:
        """A restarted runner: end the old backend, re-send, report — never a 2nd turn."""
        if self.warm is not None:
            self.warm.release()
        await anyio.to_thread.run_sync(end_orphaned_backend, recovered.backend)
        if recovered.terminal is not None:
            return await deliver_after_acks(
                self.link, self.events, self.sender_done, recovered.terminal
            )
        facts = recovered_facts(recovered)
        verdict = recovered_verdict(recovered)
        changed = recovered.of_type("workspace.changed")
        if changed:
            from runner.workspace.plan import terminal_workspace_of

            self.terminal_workspace = terminal_workspace_of(changed[-1].data)
        elif facts.turn_id is not None:
            from runner.workspace.plan import recovered_subject

            subject = recovered_subject(recovered, self.env.workspace)
            if subject is not None:
                verdict = await self._publish_workspace(verdict, facts, subject)
        if self.link.lost.is_set():
            return False
        return await self._report(verdict, facts)

    async def _commands(self) -> None:
        try:
            await poll_commands(
                self.link, self.events, self.liveness, self.control, self.commands_stop
            )
        finally:
            self.commands_done.set()

    def _facts(self) -> TurnFacts:
        observer = self.control.observer
        # A thread on which no turn started has no rollout and cannot be resumed
        # (Codex 0.169+): report the session's own thread then, not the new one.
        started = observer is not None and observer.turn_id is not None
        facts = TurnFacts(thread_id=self.control.thread_id if started else self.requested_thread_id)
        if observer is not None:
            facts.turn_id = observer.turn_id
            facts.final_response = observer.final_response
            facts.usage = observer.usage
        return facts

    async def _report(self, verdict: Verdict, facts: TurnFacts) -> bool:
        """The one place the attempt's end is decided (§3, §6, §7): from here on, commands
        are `rejected` / `attempt-ending`, and `runner.terminal` is the last event."""
        self.control.end()
        return await report_verdict(
            verdict=verdict,
            facts=facts,
            link=self.link,
            events=self.events,
            liveness=self.liveness,
            spool=self.spool,
            sender_done=self.sender_done,
            command_id=self.command_id,
            session_id=self.session_id,
            started_monotonic=self.started,
            subreaper=self.subreaper,
            workspace=self.terminal_workspace,
        )

    async def _publish_workspace(
        self, verdict: Verdict, facts: TurnFacts, subject: tuple[Path, str] | None = None
    ) -> Verdict:
        """§12 once the turn has ended: only for a job with a workspace whose turn
        started, never after a lost lease (`runner.workspace.step`)."""
        job = self.job
        if self.link.lost.is_set() or job is None or job.workspace is None:
            return verdict
        if subject is None:
            checkout = self.materialized.subject if self.materialized else None
            if checkout is None or facts.turn_id is None:
                return verdict
            subject = (checkout.path, checkout.commit_id)
        from runner.workspace.step import workspace_step  # git only for a workspace

        verdict, self.terminal_workspace = await workspace_step(
            job=job,
            subject=subject,
            verdict=verdict,
            thread_id=facts.thread_id,
            command_id=self.command_id,
            env=self.env,
            spool=self.spool,
            recorded=self.recovered.workspace if self.recovered else None,
            masker=self.masker,
            link=self.link,
            events=self.events,
        )
        return verdict

    async def _send_events(self) -> None:
        try:
            await send_events(self.link, self.events)
        except ManagerError as exc:
            # `seq-conflict` means this runner sent two contents for one seq: a runner bug.
            kind = "runner-internal-error" if exc.code == "seq-conflict" else str(exc.kind)
            log.error(
                "events can no longer be delivered: %s",
                exc.message,
                extra={"failureKind": kind, "code": exc.code},
            )
        finally:
            self.sender_done.set()

    async def _heartbeats(self) -> None:
        await send_heartbeats(
            self.link, self.liveness, self.events, backend_pid=lambda: self.backend_pid
        )

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                self.control.stop(InterruptReason.SIGTERM)

    def _set_backend_pid(self, pid: int | None) -> None:
        self.backend_pid = pid
        if pid is not None:
            with suppress(psutil.Error):
                self.spool.record_backend(pid, psutil.Process(pid).create_time())

    async def _work(self) -> Verdict:
        cid = self.command_id
        env = self.env
        await self.events.emit("runner.started", self._started_data(), command_id=cid)
        try:
            if self.job_error is not None or self.job is None:
                raise self.job_error or JobSpecError("job is missing")
            job = self.job
            home = (
                self.warm.home
                if self.warm is not None
                else await anyio.to_thread.run_sync(
                    prepare_codex_home, env.runtime_home, env.provider_home, env.session_cache
                )
            )
            for name, value in home.credentials.items():
                self.masker.add(name, value)
            transient = env.transient_env()
            for name, value in transient.items():
                self.masker.add(name, value)
            if self.masker.too_short:
                await self.events.emit(
                    "backend.warning",
                    {
                        "message": "secret values shorter than 6 characters are not masked",
                        "names": list(self.masker.too_short),
                        "valuesPrinted": False,
                    },
                    command_id=cid,
                )
            if job.workspace is not None or job.resource_bundles:
                # Before anything is spawned (§2); the checks import no git (issue 14).
                from bundles.checks import check_resources

                check_resources(job.workspace, job.resource_bundles, env.git_mirror_url)
            env.workspace.mkdir(parents=True, exist_ok=True)
            root = await anyio.to_thread.run_sync(env.workspace.resolve)
            masks = await anyio.to_thread.run_sync(layout_masks, env, home)
            plan = BackendPlan(
                binary=resolve_codex_binary(env.codex_bin),
                env=backend_environment(home, transient, env.proxy),
                cwd=root,
                codex_home=home.path,
                runner_version=RUNNER_VERSION,
                warm=self.warm,
                volumes=volumes_of(
                    [
                        ("AGENTRUN_RUNTIME_HOME", env.runtime_home, env.runtime_home_limit_bytes),
                        ("AGENTRUN_WORKSPACE", env.workspace, env.workspace_limit_bytes),
                    ]
                ),
                sandbox=build_policy(job.backend.sandbox, env.sandbox_enforcer, masks, home.path),
            )
            if self.control.reason is not None:  # §5 early cancel: nothing is spawned
                return verdict_for_interrupt(self.control.reason, None)

            async def prepare() -> TurnSetup:
                setup = await self._materialize(job, root)
                await anyio.to_thread.run_sync(link_workspace_skills, home, env.workspace)
                return setup

            try:
                return await run_turn(
                    job,
                    plan,
                    self.events,
                    self.liveness,
                    self.control,
                    self._set_backend_pid,
                    prepare,
                )
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(remove_credentials, home, (CODEX_STATE_DIRNAME,))
        except RunnerError as exc:
            if (
                exc.kind in (FailureKind.CANCELLED, FailureKind.LEASE_LOST)
                or (full := disk_full_of(exc, exc.message)) is None
            ):
                return Verdict.from_error(exc)
            return Verdict(
                "failed", FailureKind.DISK_FULL, full.message(), exc.source, full.detail()
            )
        except Exception as exc:
            if (full := enospc_in(exc)) is not None:  # §10: ENOSPC anywhere is disk-full
                log.warning("no space left on a device: %s", exc)
                return Verdict(
                    "failed", FailureKind.DISK_FULL, full.message(), "runner", full.detail()
                )
            log.exception("runner bug")
            return Verdict(
                "failed", FailureKind.RUNNER_INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
            )
        finally:
            if self.warm is not None:  # unused (an invalid job, an early error): stopped
                self.warm.release()

    async def _materialize(self, job: Job, root: Path) -> TurnSetup:
        """The workspace and bundles (§2), while the backend starts; the thread's cwd."""
        if job.workspace is None and not job.resource_bundles:
            return TurnSetup(cwd=root)
        # GitPython and the bundle code are imported only for a job that needs them
        # (issue 14: a plain job's start does not pay for them).
        from bundles.job import materialize_job

        cid = self.command_id

        async def emit(type: str, data: dict[str, Any]) -> None:
            await self.events.emit(type, data, command_id=cid)

        self.materialized = materialized = await materialize_job(
            job.workspace,
            job.resource_bundles,
            workspace_root=self.env.workspace,
            mirror_base_url=self.env.git_mirror_url,
            scratch_dir=self.env.runtime_home / SPOOL_DIRNAME / "git",
            emit=emit,
        )
        return TurnSetup(cwd=materialized.cwd, prompt_items=materialized.prompt_items)

    def _started_data(self) -> dict[str, Any]:
        env = self.env
        now_ms = int(time.time() * 1000)
        return {
            "runnerVersion": RUNNER_VERSION,
            "bootCommit": env.boot_commit,
            "envIdentity": env_identity(),
            "python": platform.python_version(),
            "pid": os.getpid(),
            "bootDurationMs": now_ms - env.boot_started_at_ms
            if env.boot_started_at_ms
            else int((time.monotonic() - self.started) * 1000),
            "bootFetchMs": env.boot_fetch_ms,
            "sourcePath": str(Path(__file__).resolve().parent.parent),
            "bootCheckout": env.boot_checkout,
            "transientEnvNames": list(env.transient_env_names),
            "tooShortToMask": list(self.masker.too_short),
            "proxyEnvNames": sorted(env.proxy),
            "noProxyCoversManager": no_proxy_covers(env.proxy, env.manager_url),
            # §9: the mode is the claimed job's `backend.sandbox` (null when the job
            # failed validation: no command will run).
            "sandbox": sandbox_report(
                self.job.backend.sandbox if self.job else None, env.sandbox_enforcer
            ),
            "valuesPrinted": False,
        }
