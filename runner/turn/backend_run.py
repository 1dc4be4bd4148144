"""Run the command's turn on the Codex backend: spawn, thread, turn, watch, control.

`run_turn` spawns `codex app-server` with the prepared `CODEX_HOME`, resumes the
session's thread (`thread/resume`, never replaced by a new one: contract §2/§10) or
starts one, starts the turn and follows it to `turn/completed` while enforcing
`timeouts.turnSeconds` and `timeouts.idleSeconds`, forwarding steers and cancels, and
interrupting (`turn/interrupt`) when the runner must stop the turn. It returns the
`Verdict`; the caller reports it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from adapters.codex.binary import CodexBinary, codex_version
from adapters.codex.client import CodexClient
from adapters.codex.messages import dig, text_input
from adapters.codex.session import JsonRpcError
from adapters.codex.transport import StdioTransport
from concurrency.streams import take
from concurrency.taskgroups import first_of, task_group
from contract.failures import BackendError, FailureKind, RunnerError
from contract.manager_api import InputItem, Job, TextInputItem
from runner.eventlog.events import EventLog
from runner.safety.disk import DiskFull, Volume, watch_disk
from runner.safety.hygiene_stats import cgroup_oom_kill_count, classify_exit
from runner.safety.oom import score_commands
from runner.turn.classify import is_config_error
from runner.turn.liveness import LivenessTracker
from runner.turn.observer import TurnObserver
from runner.turn.outcome import InterruptReason, Verdict, verdict_for_interrupt, verdict_for_turn
from runner.turn.sandbox_diagnosis import diagnose
from runner.turn.sandbox_policy import SandboxPolicy
from runner.turn.sandbox_preflight import preflight_alongside
from runner.turn.server_requests import make_handler
from runner.turn.warm import BackendSpec, WarmBackend, open_backend

log = logging.getLogger(__name__)

INTERRUPT_WAIT_SECONDS = 10.0
MAX_INVALID_TOOL_CALLS_IN_A_ROW = 3
THREAD_REQUEST_TIMEOUT_SECONDS = 60.0


@dataclass
class TurnControl:
    """Shared between the turn and whoever controls it (commands, signals, lease).

    Attributes:
        reason: why the runner is stopping the turn, once it is.
        requested: set when `reason` is set.
        client / thread_id / observer: the live turn, once started.
        turn_active: set once the turn started, or once it never will (`end`).
        ending: the attempt's verdict is decided (§6: later commands are `rejected`
            with `attempt-ending`, and no event is emitted for them).
    """

    reason: InterruptReason | None = None
    requested: anyio.Event = field(default_factory=anyio.Event)
    client: CodexClient | None = None
    thread_id: str | None = None
    observer: TurnObserver | None = None
    turn_active: anyio.Event = field(default_factory=anyio.Event)
    ending: bool = False
    disk_full: DiskFull | None = None
    """What `watch_disk` found when the reason is `disk-full` (issue 21)."""

    def stop(self, reason: InterruptReason) -> None:
        """Ask the turn to stop for `reason` (the first reason wins)."""
        if self.reason is None:
            self.reason = reason
            self.requested.set()

    def end(self) -> None:
        """The verdict is decided: wake every command still waiting for a turn."""
        self.ending = True
        self.turn_active.set()


@dataclass
class BackendPlan:
    """Everything `run_turn` needs besides the job to spawn the backend.

    `cwd` is the backend process's working directory (the workspace root, which exists
    before anything is materialized into it); each thread gets its own (`TurnSetup`).
    `sandbox` says how the agent's commands are confined (§13): its `-c` arguments go
    to `codex app-server` itself, so every thread shares them, sub-agents' included.
    """

    binary: CodexBinary
    env: dict[str, str]
    cwd: Path
    codex_home: Path
    runner_version: str
    warm: WarmBackend | None = None
    """The app-server spawned during the claim (§2 warm backend), used when it fits."""
    volumes: tuple[Volume, ...] = ()
    """Volumes with a §1 `…_LIMIT_BYTES`, watched during the turn (`disk-full`)."""
    sandbox: SandboxPolicy | None = None


@dataclass
class TurnSetup:
    """What the workspace set-up decided: the thread's `cwd` and the prompt items."""

    cwd: Path
    prompt_items: list[dict[str, Any]] = field(default_factory=list)


def thread_params(job: Job, cwd: Path, sandbox: SandboxPolicy | None = None) -> dict[str, Any]:
    """`thread/start` params from the job's backend spec (Codex 0.169 schema).

    `sandbox` (the job's `SandboxPolicy`) decides the sandbox fields: none when the
    app-server was given our permission profile or under the `pod` enforcer; without a
    policy, `sandbox` is the job's mode.
    """
    params: dict[str, Any] = {
        "cwd": str(cwd),
        "approvalPolicy": job.backend.approval_policy,
        **(sandbox.thread_fields() if sandbox else {"sandbox": job.backend.sandbox}),
        "experimentalRawEvents": True,
    }
    if job.backend.model:
        params["model"] = job.backend.model
    # §1 (v1.1): the transient env must reach the agent's commands. Codex's default
    # `shell_environment_policy` drops names containing KEY, SECRET or TOKEN; the
    # backend's environment holds only what `backend_environment` put there, so those
    # default excludes are lifted (a job's own `configOverrides` still win).
    params["config"] = {
        "shell_environment_policy.ignore_default_excludes": True,
        **job.backend.config_overrides,
    }
    return params


def resume_params(
    job: Job, cwd: Path, thread_id: str, sandbox: SandboxPolicy | None = None
) -> dict[str, Any]:
    """`thread/resume` params: the job's own backend settings again (Codex 0.171 schema).

    A resumed thread does not keep the sandbox, approval policy, model or config it was
    started with (observed on 0.171: without `sandbox` the resumed turn's permission
    profile is read-only, so the agent cannot write the files it left; with our profile
    as the app-server's `default_permissions`, the resumed thread takes that profile);
    the schema has no `experimentalRawEvents` here.
    """
    params = thread_params(job, cwd, sandbox)
    params.pop("experimentalRawEvents", None)
    return {**params, "threadId": thread_id, "excludeTurns": True}


def codex_input(items: Sequence[InputItem]) -> list[dict[str, Any]]:
    """Command input items (§2/§5) as Codex `UserInput` items (`turn/start`, `turn/steer`)."""
    return [
        text_input(item.text)
        if isinstance(item, TextInputItem)
        else item.model_dump(by_alias=True, exclude_none=True)
        for item in items
    ]


def turn_input(job: Job, prompt_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `turn/start` input: prompt refs first, then the command's own input."""
    return [*prompt_items, *codex_input(job.command.input)]


async def run_turn(
    job: Job,
    plan: BackendPlan,
    events: EventLog,
    liveness: LivenessTracker,
    control: TurnControl,
    on_pid: Callable[[int | None], None],
    prepare: Callable[[], Awaitable[TurnSetup]],
) -> Verdict:
    """Run the command's turn; returns how the attempt ends.

    The app-server is spawned and `initialize`d (or the warm one of `plan.warm`, spawned
    during the claim, is taken: §2 v1.2), and the sandbox preflighted, while
    `prepare` materializes the workspace (issue 14: Codex's ~0.12 s start overlaps the
    fetches). An error of `prepare` wins over one of the backend's start; a stop asked
    for meanwhile (e.g. an early cancel, §5) ends the attempt before any thread exists.

    Raises:
        RunnerError: `prepare`'s errors, spawn, config, thread and protocol failures,
            with their kinds.
    """
    command_id = job.command.command_id

    async def emit(type: str, data: dict[str, Any]) -> None:
        await events.emit(type, data, command_id=command_id)

    def on_waiting(item_id: str, item_type: str) -> None:
        liveness.tool_started(item_id, item_type)

    handler = make_handler(job.backend.approval_policy, emit, on_waiting)
    if not plan.binary.path.is_file():
        raise BackendError(
            FailureKind.BACKEND_SPAWN_FAILED,
            f"the Codex binary {plan.binary.path} does not exist",
            detail={"origin": plan.binary.origin},
        )
    version = await anyio.to_thread.run_sync(codex_version, plan.binary.path)
    oom_before = cgroup_oom_kill_count()
    policy = plan.sandbox
    transport: StdioTransport | None = None
    try:
        async with (
            preflight_alongside(
                plan.binary.path,
                job.backend.sandbox if policy is None or policy.preflight else None,
                plan.env,
                plan.cwd,
                (policy.profile, policy.config_args) if policy and policy.profile else None,
            ) as preflight_passed,
            open_backend(
                plan.warm,
                BackendSpec.of(
                    plan.binary.path, plan.env, plan.cwd, policy.config_args if policy else ()
                ),
                handler,
                plan.runner_version,
            ) as initialized,
        ):
            setup = await prepare()
            if control.reason is not None:
                return verdict_for_interrupt(control.reason, None)
            try:
                client = await initialized()
            except BackendError:
                # A sandbox that cannot start explains a backend that died on its way up
                # (observed on 0.171 with our profile and no bubblewrap): its verdict wins.
                await preflight_passed()
                raise
            transport = client.transport
            on_pid(client.transport.pid)
            try:
                await preflight_passed()
                await emit(
                    "backend.started",
                    {
                        "backend": "codex",
                        "version": version,
                        "pid": client.transport.pid,
                        "codexHome": str(plan.codex_home),
                        "binaryOrigin": plan.binary.origin,
                        "warm": plan.warm is not None and plan.warm.used,
                        **({"sandbox": policy.report()} if policy else {}),
                    },
                )
                thread_id = await _open_thread(client, job, setup.cwd, emit, policy)
                control.client, control.thread_id = client, thread_id
                verdict = await _drive_turn(
                    client, job, setup, thread_id, events, liveness, control, plan.volumes, policy
                )
                return await _with_sandbox_cause(_with_disk_full(verdict, control))
            finally:
                on_pid(None)
    except BackendError as exc:
        if exc.kind is FailureKind.BACKEND_EXITED and transport is not None:
            cause = classify_exit(transport.process.returncode, oom_before, cgroup_oom_kill_count())
            exc.detail |= {"exitCause": str(cause), "oomKills": cause.oom_kills}
            if cause.kind == "oom-killed":
                exc.message += " (killed by the OOM killer)"
        raise


async def _open_thread(
    client: CodexClient,
    job: Job,
    cwd: Path,
    emit: Callable[[str, dict[str, Any]], Awaitable[None]],
    policy: SandboxPolicy | None,
) -> str:
    requested = job.session.thread_id
    # A thread call that never answers is bounded like any silence of the backend.
    timeout = min(THREAD_REQUEST_TIMEOUT_SECONDS, float(job.timeouts.idle_seconds))
    try:
        if requested is not None:
            result = await client.resume_thread(
                resume_params(job, cwd, requested, policy), timeout_seconds=timeout
            )
        else:
            result = await client.start_thread(
                thread_params(job, cwd, policy), timeout_seconds=timeout
            )
    except JsonRpcError as exc:
        if is_config_error(exc.message):
            raise BackendError(FailureKind.BACKEND_CONFIG_INVALID, exc.message) from exc
        kind = (
            FailureKind.THREAD_RESUME_FAILED
            if requested is not None
            else FailureKind.THREAD_START_FAILED
        )
        raise BackendError(kind, exc.message, detail={"code": exc.code}) from exc
    except BackendError as exc:
        if exc.kind is FailureKind.BACKEND_EXITED:
            raise
        kind = (
            FailureKind.THREAD_RESUME_FAILED
            if requested is not None
            else FailureKind.THREAD_START_FAILED
        )
        raise BackendError(kind, exc.message, detail=exc.detail) from exc
    thread_id = dig(result, "thread", "id")
    if not isinstance(thread_id, str):
        raise BackendError(
            FailureKind.THREAD_RESUME_FAILED if requested else FailureKind.THREAD_START_FAILED,
            "the backend's thread answer has no thread id",
        )
    if requested is not None:
        if thread_id != requested:
            raise BackendError(
                FailureKind.THREAD_RESUME_FAILED,
                "thread/resume answered with a different thread id",
            )
        await emit("thread.resumed", {"threadId": thread_id})
    else:
        await emit("thread.started", {"threadId": thread_id})
    return thread_id


async def _drive_turn(
    client: CodexClient,
    job: Job,
    setup: TurnSetup,
    thread_id: str,
    events: EventLog,
    liveness: LivenessTracker,
    control: TurnControl,
    volumes: tuple[Volume, ...] = (),
    policy: SandboxPolicy | None = None,
) -> Verdict:
    observer = TurnObserver(events, liveness, thread_id, job.command.command_id)
    control.observer = observer
    session = client.session
    backend_gone = anyio.Event()

    async def pump() -> None:
        while True:
            try:
                message = await take(session.downstream)
            except anyio.EndOfStream:
                break
            await observer.handle(message)
            if session.broken is not None and observer.outcome is None:
                control.stop(InterruptReason.PROTOCOL_ERROR)
            if observer.invalid_tool_calls_in_a_row >= MAX_INVALID_TOOL_CALLS_IN_A_ROW:
                control.stop(InterruptReason.INVALID_TOOL_CALLS)
            if observer.done.is_set():
                return
        backend_gone.set()

    async def flusher() -> None:
        # Deltas that arrived while a request was in flight go out as soon as the sender
        # is ready again (the observer flushes at once when the log is already drained).
        while True:
            await events.wait_wanted()
            await observer.flush_deltas()

    async def idle_watch() -> None:
        idle = float(job.timeouts.idle_seconds)
        while True:
            quiet_for = time.monotonic() - observer.last_activity
            if quiet_for >= idle:
                control.stop(InterruptReason.IDLE_TIMEOUT)
                return
            await anyio.sleep(max(0.05, min(1.0, idle - quiet_for)))

    async with task_group() as tg:
        tg.start_soon(pump)
        tg.start_soon(flusher)
        tg.start_soon(score_commands, client.transport.pid)  # commands die first (issue 21)

        def disk_full(full: DiskFull) -> None:
            control.disk_full = full
            control.stop(InterruptReason.DISK_FULL)

        tg.start_soon(partial(watch_disk, volumes, disk_full))
        if control.reason is not None:  # e.g. an early cancel: never call the model (§5)
            tg.cancel_scope.cancel()
            return verdict_for_interrupt(control.reason, None)
        try:
            result = await client.start_turn(
                thread_id,
                turn_input(job, setup.prompt_items),
                extra=policy.turn_fields(job.backend.config_overrides) if policy else None,
            )
        except JsonRpcError as exc:
            raise BackendError(
                FailureKind.PROVIDER_ERROR, f"turn/start refused: {exc.message}"
            ) from exc
        turn_id = dig(result, "turn", "id")
        if isinstance(turn_id, str):
            observer.turn_started(turn_id)
        control.turn_active.set()
        tg.start_soon(idle_watch)
        with anyio.move_on_after(float(job.timeouts.turn_seconds)) as deadline:
            await first_of(observer.done.wait, backend_gone.wait, control.requested.wait)
        if deadline.cancelled_caught:
            control.stop(InterruptReason.TURN_TIMEOUT)
        if control.reason is not None and not observer.done.is_set() and not backend_gone.is_set():
            await observer.emit(
                "runner.action",
                {
                    "action": "interrupt-turn",
                    "reason": str(control.reason),
                    "detail": {"turnId": observer.turn_id, "method": "turn/interrupt"},
                },
            )
            await _interrupt(client, thread_id, observer, backend_gone)
        await observer.flush_deltas()
        tg.cancel_scope.cancel()

    if observer.outcome is None:
        liveness.set("transport-disconnected")
        await observer.finish("interrupted", None)
        if control.reason is not None:
            return verdict_for_interrupt(control.reason, observer)
        raise BackendError(
            FailureKind.BACKEND_EXITED,
            "the app-server's stdout closed during the turn" + _stderr_hint(client),
        )
    return verdict_for_turn(observer, control.reason)


def _with_disk_full(verdict: Verdict, control: TurnControl) -> Verdict:
    """The `disk-full` verdict with the volume's message and §10 detail."""
    full = control.disk_full
    if verdict.failure_kind is not FailureKind.DISK_FULL or full is None:
        return verdict
    return dataclasses.replace(verdict, message=full.message(), detail=full.detail())


async def _with_sandbox_cause(verdict: Verdict) -> Verdict:
    """A `sandbox-error` of the turn (a command whose sandbox failed) with §10
    `detail.cause`; the headline names the remedy unless the cause is `other` (a denial
    of a sandbox that works keeps Codex's line)."""
    if verdict.failure_kind is not FailureKind.SANDBOX_ERROR or "cause" in verdict.detail:
        return verdict
    diagnosed = await diagnose(verdict.message or "", dict(verdict.detail))
    message = verdict.message if diagnosed.detail["cause"] == "other" else diagnosed.message
    return dataclasses.replace(verdict, message=message, detail=diagnosed.detail)


async def _interrupt(
    client: CodexClient, thread_id: str, observer: TurnObserver, backend_gone: anyio.Event
) -> None:
    """`turn/interrupt`, then wait (bounded) for `turn/completed interrupted` (§5)."""
    if observer.turn_id is not None:
        try:
            await client.interrupt_turn(thread_id, observer.turn_id)
        except (JsonRpcError, RunnerError) as exc:
            log.warning("turn/interrupt failed: %s", exc)
    with anyio.move_on_after(INTERRUPT_WAIT_SECONDS):
        await first_of(observer.done.wait, backend_gone.wait)
    if observer.outcome is None and not backend_gone.is_set():
        await observer.finish("interrupted", None)


def _stderr_hint(client: CodexClient) -> str:
    tail = client.transport.stderr_tail.text(3)
    return f"; stderr: {tail[-500:]}" if tail else ""


__all__ = ["BackendPlan", "TurnControl", "TurnSetup", "run_turn", "thread_params", "turn_input"]
