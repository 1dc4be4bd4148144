"""One attempt from claim to terminal report (contract §1–§7): `agentrun-runner run`.

`run_from_environ` reads §1, claims the job (§2), then runs the attempt with three
background loops — events (§3), heartbeats (§4) and the commands long poll (§5) — around
the work: validate the job, prepare `CODEX_HOME`, materialize the workspace and bundles,
run the turn on Codex. Whatever happens, it ends with one verdict: `liveness` terminal,
a `failure` event if it failed, `runner.terminal`, every event acknowledged, and one
terminal report (§7). Exit status: 0 when the terminal report was delivered, else 1 (2
when nothing could be claimed).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import signal
import socket
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import psutil
from pydantic import ValidationError

from adapters.codex.binary import PROJECT_ROOT, codex_version, resolve_codex_binary
from bundles.job import materialize_job
from runner import RUNNER_VERSION
from runner.backend_run import BackendPlan, TurnControl, run_turn
from runner.codex_home import backend_environment, link_workspace_skills, prepare_codex_home
from runner.commands import poll_commands
from runner.contract import (
    Capabilities,
    ClaimRequest,
    ClaimResponse,
    Job,
    RunnerInfo,
    TerminalRequest,
    TerminalSession,
    Usage,
)
from runner.delivery import ManagerLink, send_events, send_heartbeats
from runner.env import RunnerEnv
from runner.events import EventLog
from runner.failures import FailureKind, JobSpecError, ManagerError, RunnerError
from runner.hygiene import become_subreaper, kill_descendants
from runner.liveness import LivenessTracker
from runner.manager_client import ManagerClient, make_http_client
from runner.masking import Masker
from runner.outcome import InterruptReason, Verdict
from runner.retry import RetryPolicy, call_with_retries
from runner.taskgroups import first_of, task_group

log = logging.getLogger(__name__)

CLAIM_RETRY = RetryPolicy(attempts=10, deadline_seconds=120.0)
TERMINAL_RETRY = RetryPolicy(attempts=1_000, deadline_seconds=300.0)
FLUSH_DEADLINE_SECONDS = 300.0


def print_failure_line(error: RunnerError) -> None:
    """§1: a failure before the manager can be told is one JSON line on stderr."""
    line = {
        "failureKind": str(error.kind),
        "message": error.message,
        "retryable": error.retryable,
        "source": error.source,
    }
    print(json.dumps(line), file=sys.stderr, flush=True)


def _env_identity() -> str:
    """The env image identity boot computed (`AGENTRUN_ENV_IDENTITY`), else our own."""
    if os.environ.get("AGENTRUN_ENV_IDENTITY"):
        return os.environ["AGENTRUN_ENV_IDENTITY"]
    try:
        from boot.env_identity import compute_env_identity

        return compute_env_identity(PROJECT_ROOT)
    except Exception:  # the identity is informative; never fail an attempt on it
        return "unknown"


def claim_request(env: RunnerEnv, runner_id: str, codex: str | None) -> ClaimRequest:
    """The §2 claim body: who this runner is and what it can do."""
    return ClaimRequest(
        runner=RunnerInfo(
            runner_id=runner_id,
            pod=os.environ.get("AGENTRUN_POD_NAME") or socket.gethostname(),
            node=os.environ.get("AGENTRUN_NODE_NAME"),
            namespace=os.environ.get("AGENTRUN_POD_NAMESPACE"),
            capabilities=Capabilities(
                backends=["codex"],
                codex_version=codex,
                runner_version=RUNNER_VERSION,
                boot_commit=env.boot_commit,
                env_identity=_env_identity(),
                python=platform.python_version(),
                cpu_count=os.cpu_count() or 1,
                memory_bytes=psutil.virtual_memory().total,
            ),
        )
    )


async def run_from_environ() -> int:
    """`agentrun-runner run`: the whole attempt from the environment alone (§1)."""
    started = time.monotonic()
    subreaper = become_subreaper()
    try:
        env = RunnerEnv.from_environ()
        token = env.read_token()
    except RunnerError as exc:
        print_failure_line(exc)
        return 2
    masker = Masker({"AGENTRUN_RUNNER_TOKEN": token})
    runner_id = f"rnr-{uuid.uuid4().hex[:16]}"
    try:
        binary = resolve_codex_binary(env.codex_bin)
        version = await anyio.to_thread.run_sync(codex_version, binary.path)
    except RunnerError:
        version = None
    clients = [make_http_client(env.manager_url, token) for _ in range(3)]
    try:
        events_c, heartbeat_c, commands_c = (ManagerClient(c) for c in clients)
        try:
            claim = await call_with_retries(
                CLAIM_RETRY,
                lambda: events_c.claim(env.runner_job_id, claim_request(env, runner_id, version)),
            )
        except ManagerError as exc:
            print_failure_line(exc)
            return 2
        attempt = Attempt(env, masker, claim, events_c, heartbeat_c, commands_c, started)
        attempt.subreaper = subreaper
        return await attempt.run()
    finally:
        with anyio.CancelScope(shield=True):
            for client in clients:
                await client.aclose()


class Attempt:
    """The claimed attempt: its loops, its work and its one terminal report."""

    def __init__(
        self,
        env: RunnerEnv,
        masker: Masker,
        claim: ClaimResponse,
        events_client: ManagerClient,
        heartbeat_client: ManagerClient,
        commands_client: ManagerClient,
        started_monotonic: float,
    ) -> None:
        self.env = env
        self.masker = masker
        self.claim = claim
        self.started = started_monotonic
        raw = claim.job
        self.job: Job | None = None
        self.job_error: JobSpecError | None = None
        try:
            self.job = Job.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self.job_error = JobSpecError(f"job.{where}: {first['msg']}")
        max_event_bytes = self.job.limits.max_event_bytes if self.job else 65536
        self.events = EventLog(masker, max_event_bytes=max_event_bytes)
        self.command_id: str | None = (
            raw.get("command", {}).get("commandId")
            if isinstance(raw.get("command"), dict)
            else None
        )
        self.link = ManagerLink(
            events_client=events_client,
            heartbeat_client=heartbeat_client,
            commands_client=commands_client,
            run_id=str(raw.get("runId")),
            attempt_id=str(raw.get("attemptId")),
            lease_id=claim.lease.lease_id,
            heartbeat_interval_seconds=float(claim.heartbeat_interval_seconds),
        )
        self.liveness = LivenessTracker(self._liveness_changed)
        self.control = TurnControl()
        self.backend_pid: int | None = None
        self.thread_id: str | None = None
        self.sender_done = anyio.Event()
        self.subreaper = False

    def _liveness_changed(self, phase: str, previous: str) -> None:
        self.events.emit_nowait(
            "liveness", {"phase": phase, "previousPhase": previous}, command_id=self.command_id
        )

    async def run(self) -> int:
        """Run the attempt; returns the process exit status (§1)."""
        async with task_group() as loops:
            loops.start_soon(self._heartbeats)
            loops.start_soon(self._send_events)
            loops.start_soon(poll_commands, self.link, self.events, self.liveness, self.control)
            loops.start_soon(self._watch_signals)
            verdict: Verdict | None = None
            async with task_group() as work:

                async def watch_lost() -> None:
                    await self.link.lost.wait()
                    self.control.stop(InterruptReason.LEASE_LOST)
                    work.cancel_scope.cancel()

                work.start_soon(watch_lost)
                verdict = await self._work()
                work.cancel_scope.cancel()
            if verdict is None or self.link.lost.is_set():
                loops.cancel_scope.cancel()
                log.error("stopping without a terminal report: %s", self.link.lost_error)
                return 1
            delivered = await self._finish(verdict)
            loops.cancel_scope.cancel()
        return 0 if delivered else 1

    async def _send_events(self) -> None:
        try:
            await send_events(self.link, self.events)
        except ManagerError as exc:
            log.error("events can no longer be delivered: %s", exc.message)
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

    async def _work(self) -> Verdict:
        cid = self.command_id
        env = self.env
        await self.events.emit("runner.started", self._started_data(), command_id=cid)
        try:
            if self.job_error is not None or self.job is None:
                raise self.job_error or JobSpecError("job is missing")
            job = self.job
            home = await anyio.to_thread.run_sync(
                prepare_codex_home, env.runtime_home, env.provider_home, env.session_cache
            )
            for name, value in home.credentials.items():
                self.masker.add(name, value)
            transient = env.transient_env()
            for name, value in transient.items():
                self.masker.add(name, value)
            env.workspace.mkdir(parents=True, exist_ok=True)

            async def emit(type: str, data: dict[str, Any]) -> None:
                await self.events.emit(type, data, command_id=cid)

            materialized = await materialize_job(
                job.workspace,
                job.resource_bundles,
                workspace_root=env.workspace,
                mirror_base_url=env.git_mirror_url,
                scratch_dir=env.runtime_home / ".agentrun" / "git",
                emit=emit,
            )
            await anyio.to_thread.run_sync(link_workspace_skills, home, env.workspace)
            plan = BackendPlan(
                binary=resolve_codex_binary(env.codex_bin),
                env=backend_environment(home, transient, env.proxy),
                cwd=materialized.cwd,
                codex_home=home.path,
                prompt_items=materialized.prompt_items,
                runner_version=RUNNER_VERSION,
            )
            return await run_turn(
                job, plan, self.events, self.liveness, self.control, self._set_backend_pid
            )
        except RunnerError as exc:
            return Verdict.from_error(exc)
        except Exception as exc:
            log.exception("runner bug")
            return Verdict(
                "failed", FailureKind.RUNNER_INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
            )

    def _set_backend_pid(self, pid: int | None) -> None:
        self.backend_pid = pid

    def _started_data(self) -> dict[str, Any]:
        env = self.env
        boot_ms = (
            int(time.time() * 1000) - env.boot_started_at_ms if env.boot_started_at_ms else None
        )
        return {
            "runnerVersion": RUNNER_VERSION,
            "bootCommit": env.boot_commit,
            "envIdentity": _env_identity(),
            "python": platform.python_version(),
            "pid": os.getpid(),
            "bootDurationMs": boot_ms
            if boot_ms is not None
            else int((time.monotonic() - self.started) * 1000),
            "bootFetchMs": env.boot_fetch_ms,
            "sourcePath": str(Path(__file__).resolve().parent.parent),
            "bootCheckout": env.boot_checkout,
            "transientEnvNames": list(env.transient_env_names),
            "proxyEnvNames": sorted(env.proxy),
            "valuesPrinted": False,
        }

    async def _finish(self, verdict: Verdict) -> bool:
        """Report the verdict: events first (all acked), then the terminal report (§7)."""
        cid = self.command_id
        observer = self.control.observer
        self.liveness.set("terminal")
        if verdict.failure_kind is not None:
            kind = verdict.failure_kind
            await self.events.emit(
                "failure",
                {
                    "failureKind": str(kind),
                    "message": verdict.message,
                    "source": verdict.source,
                    "retryable": kind.retryable,
                    "terminal": True,
                    "detail": verdict.detail,
                },
                command_id=cid,
            )
        with anyio.CancelScope(shield=True):
            report = await anyio.to_thread.run_sync(
                partial(kill_descendants, 1.0, kill_wait_seconds=1.0)
            )
        await self.events.emit(
            "runner.terminal",
            {
                "status": verdict.status,
                "failureKind": str(verdict.failure_kind) if verdict.failure_kind else None,
                "processes": {**report.to_wire(), "subreaper": self.subreaper},
            },
            command_id=cid,
        )
        last_seq = self.events.last_seq
        self.events.close()
        with anyio.move_on_after(FLUSH_DEADLINE_SECONDS):
            await first_of(partial(self.events.wait_acked, last_seq), self.sender_done.wait)
        if self.events.acked_seq < last_seq or self.link.lost.is_set():
            log.error("events up to %d not acknowledged; no terminal report", last_seq)
            return False
        job = self.job
        raw = self.claim.job
        session = raw.get("session") if isinstance(raw.get("session"), dict) else {}
        assert isinstance(session, dict)
        request = TerminalRequest(
            lease_id=self.link.lease_id,
            attempt_id=self.link.attempt_id,
            command_id=str(cid),
            status=verdict.status,
            failure_kind=str(verdict.failure_kind) if verdict.failure_kind else None,
            failure_message=self.masker.mask(verdict.message) if verdict.message else None,
            final_response=self.masker.mask(observer.final_response)
            if observer is not None and observer.final_response is not None
            else None,
            session=TerminalSession(
                session_id=str(job.session.session_id if job else session.get("sessionId")),
                thread_id=self.control.thread_id
                or (job.session.thread_id if job else session.get("threadId")),
            ),
            turn_id=observer.turn_id if observer is not None else None,
            usage=observer.usage if observer is not None else Usage(),
            last_seq=last_seq,
            duration_ms=int((time.monotonic() - self.started) * 1000),
        )
        try:
            await call_with_retries(
                TERMINAL_RETRY, lambda: self.link.events_client.terminal(self.link.run_id, request)
            )
        except ManagerError as exc:
            log.error("terminal report not delivered: %s", exc.message)
            return False
        return True
