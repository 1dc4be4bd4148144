"""The warm backend (contract §2 v1.2): `codex app-server` spawned and initialized while
the runner claims its job.

`start_warm_backend` prepares `CODEX_HOME` from the provider Secret alone and the
backend's environment from the pod's (§1: transient env, proxy), then spawns the app-server
and runs `initialize` in a background task, before the claim is answered. The process starts
no thread and makes no model request: only `run_turn` (`runner.turn.backend_run`) can use it,
once the job is validated, through `open_backend`. A job that fails validation, a recovered
attempt, or a turn that needs another binary, environment or working directory never uses it:
`WarmBackend.release` stops it (bounded, as every app-server is stopped, `StdioTransport`).

Server requests can only come from a thread, so the process is spawned with a `LateHandler`
that the turn points at its own handler (the job's `approvalPolicy`) before any thread exists.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from adapters.codex.client import CodexClient, spawn_codex
from adapters.codex.session import JsonRpcError, ServerRequest, ServerRequestHandler
from contract.failures import RunnerError
from runner.turn.codex_home import CodexHome

log = logging.getLogger(__name__)


class LateHandler:
    """A server-request handler whose target is set after the spawn.

    Until `target` is set, every request is refused with a JSON-RPC error (none can come:
    Codex sends server requests only for a thread's turn, and the warm backend has none).
    """

    def __init__(self) -> None:
        self.target: ServerRequestHandler | None = None

    async def __call__(self, request: ServerRequest) -> dict[str, Any]:
        if self.target is None:
            raise JsonRpcError(
                request.method, -32603, f"no turn is running to answer {request.method}"
            )
        return await self.target(request)


@dataclass(frozen=True)
class BackendSpec:
    """What one app-server process is spawned with; a warm process serves a turn only
    when the turn's spec is equal (same binary, environment, working directory and
    arguments: the §13 permission profile is app-server configuration, so a turn whose
    job needs one never runs on a process spawned without it)."""

    binary: Path
    env: tuple[tuple[str, str], ...]
    cwd: Path
    args: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, binary: Path, env: dict[str, str], cwd: Path, args: Sequence[str] = ()
    ) -> BackendSpec:
        return cls(binary, tuple(sorted(env.items())), cwd, tuple(args))


@dataclass
class WarmBackend:
    """A spawned, initializing `codex app-server` waiting for a validated job.

    Attributes:
        spec: what it was spawned with.
        home: the `CODEX_HOME` prepared for it (the attempt uses the same one, so the
            provider files are not copied again under a running Codex).
        handler: its server-request handler (set by the turn that uses it).
        used: a turn took it (`open_backend`).
    """

    spec: BackendSpec
    home: CodexHome
    handler: LateHandler = field(default_factory=LateHandler)
    used: bool = False
    _initialized: Callable[[], Awaitable[CodexClient]] | None = None
    _ready: anyio.Event = field(default_factory=anyio.Event)
    _release: anyio.Event = field(default_factory=anyio.Event)
    _stopped: anyio.Event = field(default_factory=anyio.Event)

    async def run(self, runner_version: str) -> None:
        """Spawn the app-server and keep it until `release` (a task of the caller's group).

        A spawn failure is only logged: the turn then spawns its own backend, and that
        spawn reports the failure with its kind (`backend-spawn-failed`, …).
        """
        try:
            async with spawn_codex(
                self.spec.binary,
                env=dict(self.spec.env),
                cwd=self.spec.cwd,
                handler=self.handler,
                client_version=runner_version,
                extra_args=self.spec.args,
            ) as initialized:
                self._initialized = initialized
                self._ready.set()
                await self._release.wait()
        except RunnerError as exc:
            log.warning("the warm backend could not be started: %s", exc.message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # Teardown noise of a process whose turn already ended: never the runner's end.
            log.info("the warm backend's streams closed while it stopped")
        finally:
            self._ready.set()
            self._stopped.set()

    def release(self) -> None:
        """Stop the process (when no turn uses it, it is stopped unused, §2)."""
        self._release.set()

    async def stop(self) -> None:
        """`release`, then wait until the process is stopped (bounded by its teardown)."""
        self.release()
        await self._stopped.wait()

    async def take(self, spec: BackendSpec) -> Callable[[], Awaitable[CodexClient]] | None:
        """The wait for the initialized client, when this process can serve `spec`.

        Returns None (and releases the process) when it cannot: another binary,
        environment or cwd, or a spawn that failed.
        """
        await self._ready.wait()
        if self.used or self._initialized is None or self._release.is_set():
            return None
        if spec != self.spec:
            log.info("the warm backend does not fit the job; a new one is spawned")
            self.release()
            return None
        self.used = True
        return self._initialized


@asynccontextmanager
async def open_backend(
    warm: WarmBackend | None,
    spec: BackendSpec,
    handler: ServerRequestHandler,
    runner_version: str,
) -> AsyncIterator[Callable[[], Awaitable[CodexClient]]]:
    """The turn's app-server: the warm one when it fits `spec`, else a new spawn.

    Yields a wait for the initialized client, like `spawn_codex`. Leaving the block stops
    the process either way (shielded: the warm one's teardown runs in its own task).

    Raises:
        BackendError: as `spawn_codex` (on entering, or from the yielded wait); a warm
            process that failed to initialize raises its handshake error from the wait.
    """
    initialized = await warm.take(spec) if warm is not None else None
    if warm is not None and initialized is not None:
        warm.handler.target = handler
        try:
            yield initialized
        finally:
            with anyio.CancelScope(shield=True):
                await warm.stop()
        return
    async with spawn_codex(
        spec.binary,
        env=dict(spec.env),
        cwd=spec.cwd,
        handler=handler,
        client_version=runner_version,
        extra_args=spec.args,
    ) as spawned:
        yield spawned


@asynccontextmanager
async def start_warm_backend(
    tg: anyio.abc.TaskGroup,
    prepare: Callable[[], tuple[BackendSpec, CodexHome] | None],
    runner_version: str,
) -> AsyncIterator[WarmBackend | None]:
    """Start a warm backend in `tg` from `prepare()`'s spec; stop it on leaving.

    `prepare` runs in a worker thread (it copies the provider files); when it returns None
    (e.g. the provider home is missing), there is no warm backend, and the attempt
    reports the same problem itself when it prepares again.
    """
    prepared = await anyio.to_thread.run_sync(prepare)
    if prepared is None:
        yield None
        return
    warm = WarmBackend(*prepared)
    tg.start_soon(warm.run, runner_version)
    try:
        yield warm
    finally:
        with anyio.CancelScope(shield=True):
            await warm.stop()


__all__ = [
    "BackendSpec",
    "LateHandler",
    "WarmBackend",
    "open_backend",
    "start_warm_backend",
]
