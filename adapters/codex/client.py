"""Typed Codex app-server operations on top of the JSON-RPC session.

`open_codex` spawns the native binary as `codex app-server` with a given `CODEX_HOME`,
runs the `initialize`/`initialized` handshake, and yields a `CodexClient` whose methods
(`start_thread`, `resume_thread`, `start_turn`, `steer_turn`, `interrupt_turn`) send the
params they are given and return the `result` objects. The params are not validated here:
the runner builds them from a job the contract models already validated
(`contract.validation`), and `tests/adapters/test_request_params.py` checks every
builder's output against the generated models of the pinned Codex 0.171 schema (building
those models at run time cost ~0.25 s of every start, issue 14). Errors are the
session's (`JsonRpcError`, `BackendClosed`, `RequestTimeout`) except at spawn and
handshake, which raise `BackendError(backend-spawn-failed)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from adapters.codex.session import (
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    BackendClosed,
    JsonRpcError,
    JsonRpcSession,
    ServerRequestHandler,
    open_session,
)
from adapters.codex.transport import StdioTransport, open_stdio_transport
from concurrency.taskgroups import deferred, task_group
from contract.failures import BackendError, FailureKind

CLIENT_NAME = "agentrun_runner"
INITIALIZE_TIMEOUT_SECONDS = 30.0
OPT_OUT_NOTIFICATIONS = (
    "account/rateLimits/updated",
    "remoteControl/status/changed",
    "thread/readState/changed",
)
"""Notifications the runner never uses (opt-out is by exact method name, §2)."""


@dataclass(frozen=True)
class InitializeResult:
    """What `initialize` answered: `userAgent` and `codexHome` (Codex 0.169 §2)."""

    user_agent: str
    codex_home: str | None


class CodexClient:
    """One initialized `codex app-server` connection.

    Attributes:
        session: the JSON-RPC session (its `downstream` carries notifications).
        transport: the stdio transport (pid, stderr tail).
        info: the `initialize` result.
    """

    def __init__(
        self, session: JsonRpcSession, transport: StdioTransport, info: InitializeResult
    ) -> None:
        self.session = session
        self.transport = transport
        self.info = info

    async def start_thread(
        self, params: dict[str, Any], *, timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    ) -> dict[str, Any]:
        """`thread/start`; returns the result (`thread.id` is the new thread id).

        Raises:
            JsonRpcError: e.g. `-32600 failed to load configuration: …` (§3).
        """
        return await self.session.request(
            "thread/start",
            params,
            timeout_seconds=timeout_seconds,
        )

    async def resume_thread(
        self, params: dict[str, Any], *, timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    ) -> dict[str, Any]:
        """`thread/resume`; the result's `thread.turns` holds the earlier history (§10).

        Raises:
            JsonRpcError: e.g. `-32600 no rollout found for thread id …` (§8).
        """
        return await self.session.request(
            "thread/resume",
            params,
            timeout_seconds=timeout_seconds,
        )

    async def start_turn(
        self,
        thread_id: str,
        items: Sequence[dict[str, Any]],
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`turn/start` with user input items; the result's `turn.id` is the turn id (§4).

        `extra` adds `TurnStartParams` fields (e.g. `sandboxPolicy`).
        """
        params = {"threadId": thread_id, "input": list(items), **(extra or {})}
        return await self.session.request("turn/start", params)

    async def steer_turn(
        self, thread_id: str, turn_id: str, items: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        """`turn/steer` into the active turn; `expectedTurnId` is required (§5).

        Raises:
            JsonRpcError: `no active turn to steer`, `expected active turn id …`.
        """
        params = {"threadId": thread_id, "expectedTurnId": turn_id, "input": list(items)}
        return await self.session.request("turn/steer", params)

    async def interrupt_turn(self, thread_id: str, turn_id: str) -> dict[str, Any]:
        """`turn/interrupt`; Codex then sends `turn/completed` `interrupted` (§5)."""
        params = {"threadId": thread_id, "turnId": turn_id}
        return await self.session.request("turn/interrupt", params, timeout_seconds=10.0)


@asynccontextmanager
async def open_codex(
    binary: Path,
    *,
    env: Mapping[str, str],
    cwd: Path,
    handler: ServerRequestHandler,
    client_version: str,
    experimental_api: bool = True,
    grace_seconds: float = 2.0,
) -> AsyncIterator[CodexClient]:
    """Spawn `codex app-server`, initialize it, and yield the client.

    Args and errors as `spawn_codex`; the handshake's errors are raised on entering.
    """
    async with spawn_codex(
        binary,
        env=env,
        cwd=cwd,
        handler=handler,
        client_version=client_version,
        experimental_api=experimental_api,
        grace_seconds=grace_seconds,
    ) as initialized:
        yield await initialized()


@asynccontextmanager
async def spawn_codex(
    binary: Path,
    *,
    env: Mapping[str, str],
    cwd: Path,
    handler: ServerRequestHandler,
    client_version: str,
    experimental_api: bool = True,
    grace_seconds: float = 2.0,
    extra_args: Sequence[str] = (),
) -> AsyncIterator[Callable[[], Awaitable[CodexClient]]]:
    """Spawn `codex app-server`, run `initialize` in the background, yield a wait for it.

    The caller can do other work while Codex starts (~0.12 s to the `initialize` answer
    with 0.171 on loopback, issue 14); the yielded callable returns the initialized
    client, or raises the handshake's error. Leaving the block stops the app-server
    (bounded, `StdioTransport`), whether or not the handshake was awaited.

    Args:
        binary: the native Codex binary.
        env: the backend's whole environment (must hold `CODEX_HOME`).
        cwd: the backend process's working directory (threads name their own `cwd`).
        handler: answers server→client requests.
        client_version: reported as `clientInfo.version`.
        experimental_api: ask for `experimentalApi` (needed for raw response events).
        grace_seconds: shutdown grace after stdin closes.
        extra_args: after `app-server`, e.g. `-c key=value` overrides every thread shares.

    Raises:
        BackendError: on entering, `backend-spawn-failed` when the binary cannot be
            started. From the yielded callable: `backend-spawn-failed` when it exits (or
            answers an error) before `initialize` answers, `backend-config-invalid` when
            it exits complaining about `CODEX_HOME` (§8: "CODEX_HOME points to …").
    """
    spawned = False
    try:
        async with open_stdio_transport(
            [str(binary), "app-server", *extra_args], env=env, cwd=cwd, grace_seconds=grace_seconds
        ) as transport:
            spawned = True
            async with open_session(transport, handler) as session, task_group() as tg:

                async def handshake() -> CodexClient:
                    info = await _initialize(session, transport, client_version, experimental_api)
                    return CodexClient(session, transport, info)

                yield deferred(tg, handshake, catch=BackendError)
                tg.cancel_scope.cancel()
    except OSError as exc:
        if spawned:
            raise
        raise BackendError(
            FailureKind.BACKEND_SPAWN_FAILED,
            f"cannot start the Codex binary {binary}: {exc.strerror or exc}",
            detail={"binary": str(binary)},
        ) from exc


def initialize_params(client_version: str, experimental_api: bool = True) -> dict[str, Any]:
    """`initialize` params (Codex 0.171 `InitializeParams`): the runner as the client,
    the experimental API on (raw events, `thread/resume` options), unused notifications
    opted out."""
    return {
        "clientInfo": {"name": CLIENT_NAME, "title": "AgentRun runner", "version": client_version},
        "capabilities": {
            "experimentalApi": experimental_api,
            "optOutNotificationMethods": list(OPT_OUT_NOTIFICATIONS),
        },
    }


async def _initialize(
    session: JsonRpcSession,
    transport: StdioTransport,
    client_version: str,
    experimental_api: bool,
) -> InitializeResult:
    params = initialize_params(client_version, experimental_api)
    try:
        result = await session.request(
            "initialize", params, timeout_seconds=INITIALIZE_TIMEOUT_SECONDS
        )
    except (BackendClosed, JsonRpcError, BackendError) as exc:
        with anyio.move_on_after(1.0):
            await transport.stdout_closed.wait()
        stderr = transport.stderr_tail.text(5)
        kind = (
            FailureKind.BACKEND_CONFIG_INVALID
            if "CODEX_HOME" in stderr
            else FailureKind.BACKEND_SPAWN_FAILED
        )
        raise BackendError(
            kind,
            f"codex app-server did not answer initialize: {exc}"
            + (f"; stderr: {stderr}" if stderr else ""),
        ) from exc
    await session.notify("initialized")
    return InitializeResult(
        user_agent=str(result.get("userAgent", "")),
        codex_home=result.get("codexHome") if isinstance(result.get("codexHome"), str) else None,
    )
