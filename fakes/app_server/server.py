"""The fake's JSON-RPC connection: parse client lines, answer requests, run turns.

Client requests are handled one at a time in arrival order (turns run as tasks, so
`turn/steer` and `turn/interrupt` are read while a turn plays). Behaviour and texts are
Codex 0.169's (codex-app-server.md): `Not initialized` before `initialize` and
`Already initialized` after it (§2), unknown methods as `-32600 Invalid request: unknown
variant …` (§11), a malformed line gets no answer and only a stderr log (§11),
`thread/start` answers then sends `thread/started` (§3), `thread/resume` restores a
thread from its rollout (§10), `turn/start`, `turn/steer` and `turn/interrupt` with the
observed validation order and errors (§5). Scenario `requests` overrides replace the
answer to a method (never answer, crash, scripted error).
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from fakes.app_server import errors, rollout
from fakes.app_server import params as params_mod
from fakes.app_server.errors import RpcError
from fakes.app_server.scenario import Scenario
from fakes.app_server.shapes import ThreadState, remote_control_status, user_agent, uuid7
from fakes.app_server.steps import die, write_stderr
from fakes.app_server.turn import TurnRun
from fakes.app_server.wire import Wire

APPROVAL_POLICIES = ("untrusted", "on-request", "granular", "never")
SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")
BUILTIN_PROVIDERS = ("openai", "ollama", "lmstudio")
DEPRECATION_SUMMARY = (
    "Full-history hydration is deprecated for paginated threads; use `excludeTurns: true`, "
    "then page with `thread/turns/list` and `thread/items/list`."
)


class _Answer:
    __slots__ = ("done", "error", "method", "params", "result")

    def __init__(self, method: str, params: dict[str, Any]) -> None:
        self.method, self.params = method, params
        self.done = anyio.Event()
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None


class Connection:
    """One client of the fake over stdio.

    Args:
        wire: the stdio wire.
        scenario: what the turns do.
        codex_home: `CODEX_HOME` (rollouts go under `sessions/`).
        record_path: JSONL file recording client messages and server-request answers,
            or None.
        tg: the task group turns run in.
    """

    def __init__(
        self,
        wire: Wire,
        scenario: Scenario,
        codex_home: Path,
        record_path: Path | None,
        tg: anyio.abc.TaskGroup,
    ) -> None:
        self.wire = wire
        self.scenario = scenario
        self.codex_home = codex_home
        self.record_path = record_path
        self.tg = tg
        self.initialized = False
        self.experimental = False
        self.originator = "codex_app_server"
        self.threads: dict[str, ThreadState] = {}
        self.active: dict[str, TurnRun] = {}
        self.turns_started = 0
        self._pending: dict[int, _Answer] = {}
        self._item_counters: dict[str, int] = {}

    # -- Host protocol for turns ------------------------------------------------------

    def next_item_id(self, prefix: str) -> str:
        """`prefix_N`, counting per prefix from 1 (`msg_1`, `call_exec_1`, §4)."""
        count = self._item_counters.get(prefix, 0) + 1
        self._item_counters[prefix] = count
        return f"{prefix}_{count}"

    async def ask(
        self, turn: TurnRun, method: str, params: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Send a server request, wait for its answer, send `serverRequest/resolved` (§6)."""
        request_id = await self.wire.server_request(method, params)
        answer = self._pending[request_id] = _Answer(method, params)
        turn.pending_request = request_id
        try:
            await answer.done.wait()
        finally:
            self._pending.pop(request_id, None)
        turn.pending_request = None
        await self.wire.notify(
            "serverRequest/resolved", {"threadId": turn.thread.id, "requestId": request_id}
        )
        return answer.result, answer.error

    def turn_ended(self, turn: TurnRun) -> None:
        """Forget `turn` as its thread's active turn."""
        if self.active.get(turn.thread.id) is turn:
            del self.active[turn.thread.id]

    # -- incoming lines ---------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> None:
        """Append one JSON line to the record file (if any)."""
        if self.record_path is None:
            return
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        with self.record_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    async def handle_line(self, line: bytes) -> None:
        """Handle one client line; a malformed one is logged on stderr and dropped (§11)."""
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except ValueError as exc:
            write_stderr(
                "ERROR codex_app_server_transport::transport: "
                f"Failed to deserialize JSONRPCMessage: {exc}"
            )
            return
        if not isinstance(message, dict):
            write_stderr("ERROR codex_app_server_transport::transport: not a JSON-RPC message")
            return
        self.record({"type": "clientMessage", "message": message})
        method, has_id = message.get("method"), "id" in message
        if isinstance(method, str) and has_id:
            params = message.get("params")
            await self._request(message["id"], method, params if isinstance(params, dict) else {})
        elif has_id and ("result" in message or "error" in message):
            self._resolve(message)

    def _resolve(self, message: dict[str, Any]) -> None:
        request_id = message["id"]
        answer = self._pending.get(request_id) if isinstance(request_id, int) else None
        if answer is None:
            write_stderr(f"WARN fake app-server: response to unknown request id {request_id!r}")
            return
        error = message.get("error")
        result = message.get("result")
        answer.error = error if isinstance(error, dict) else None
        answer.result = result if isinstance(result, dict) and error is None else None
        self.record(
            {
                "type": "serverRequestAnswered",
                "id": request_id,
                "method": answer.method,
                "params": answer.params,
                "result": answer.result,
                "error": answer.error,
            }
        )
        answer.done.set()

    async def _request(self, request_id: Any, method: str, params: dict[str, Any]) -> None:
        handler = _HANDLERS.get(method)
        try:
            if method not in errors.CLIENT_METHODS:
                raise errors.unknown_method(method)
            override = self.scenario.requests.get(method)
            if override is not None:
                if override.action == "neverAnswer":
                    return
                if override.action == "crash":
                    await die(override.exit_code, override.signal, override.stderr, self.wire)
                raise RpcError(override.message, override.code)
            if method != "initialize" and not self.initialized:
                raise RpcError("Not initialized")
            if handler is None:
                raise RpcError(f"the fake app-server does not implement `{method}`")
            await handler(self, request_id, params)
        except RpcError as exc:
            await self.wire.respond_error(request_id, exc.code, exc.message)

    # -- handlers ---------------------------------------------------------------------

    async def _initialize(self, request_id: Any, params: dict[str, Any]) -> None:
        if self.initialized:
            raise RpcError("Already initialized")
        info = params.get("clientInfo")
        if not isinstance(info, dict):
            raise errors.missing_field("clientInfo")
        caps = params.get("capabilities") if isinstance(params.get("capabilities"), dict) else {}
        assert isinstance(caps, dict)
        self.experimental = bool(caps.get("experimentalApi"))
        self.wire.opted_out = set(caps.get("optOutNotificationMethods") or [])
        self.originator = str(info.get("name", "codex_app_server"))
        self.initialized = True
        await self.wire.respond(
            request_id,
            {
                "userAgent": user_agent(self.originator, str(info.get("version", ""))),
                "codexHome": str(self.codex_home),
                "platformFamily": "unix",
                "platformOs": "linux",
            },
        )
        await self.wire.notify("remoteControl/status/changed", remote_control_status())

    def _config(self) -> dict[str, Any]:
        """`CODEX_HOME/config.toml`, or `failed to load configuration: …` (§3)."""
        path = self.codex_home / "config.toml"
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RpcError(f"failed to load configuration: {path}: {exc}") from exc

    def _settings(self, params: dict[str, Any]) -> tuple[str, str, Any, str]:
        """`(model, provider, approvalPolicy, sandbox)` from params over config.toml."""
        config = self._config()
        policy = params.get("approvalPolicy", config.get("approval_policy", "on-request"))
        if not (policy in APPROVAL_POLICIES or (isinstance(policy, dict) and "granular" in policy)):
            raise errors.unknown_variant(str(policy), APPROVAL_POLICIES)
        sandbox = params.get("sandbox", config.get("sandbox_mode", "read-only"))
        if sandbox not in SANDBOX_MODES:
            raise errors.unknown_variant(str(sandbox), SANDBOX_MODES)
        provider = params.get("modelProvider") or config.get("model_provider")
        providers = config.get("model_providers")
        known = set(BUILTIN_PROVIDERS) | set(providers if isinstance(providers, dict) else {})
        if provider is not None and provider not in known:
            raise RpcError(f"failed to load configuration: Model provider `{provider}` not found")
        model = params.get("model") or config.get("model") or self.scenario.model
        return str(model), str(provider or self.scenario.model_provider), policy, str(sandbox)

    async def _thread_start(self, request_id: Any, params: dict[str, Any]) -> None:
        if params.get("experimentalRawEvents") and not self.experimental:
            raise RpcError("thread/start.experimentalRawEvents requires experimentalApi capability")
        model, provider, policy, sandbox = self._settings(params)
        thread_id = uuid7()
        cwd = params_mod.absolute(params.get("cwd"))
        thread = ThreadState(
            id=thread_id,
            path=rollout.rollout_path(self.codex_home, thread_id),
            cwd=cwd,
            model=model,
            model_provider=provider,
            approval_policy=policy,
            sandbox=sandbox,
            originator=self.originator,
            raw_events=bool(params.get("experimentalRawEvents")),
        )
        self.threads[thread_id] = thread
        await self.wire.respond(request_id, thread.answer())
        await self.wire.notify("thread/started", {"thread": thread.thread()})

    async def _thread_resume(self, request_id: Any, params: dict[str, Any]) -> None:
        thread_id = params_mod.string(params, "threadId")
        problem = errors.uuid_problem(thread_id)
        if problem is not None:
            raise RpcError(f"invalid session id: {problem}")
        thread = self.threads.get(thread_id)
        if thread is None:
            path = rollout.find_rollout(self.codex_home, thread_id)
            if path is None:
                raise RpcError(f"no rollout found for thread id {thread_id}")
            thread = self._load_thread(thread_id, path, params)
            self.threads[thread_id] = thread
        exclude = bool(params.get("excludeTurns"))
        if thread.turns and not exclude:
            await self.wire.notify(
                "deprecationNotice", {"summary": DEPRECATION_SUMMARY, "details": None}
            )
        await self.wire.notify(
            "thread/status/changed", {"threadId": thread_id, "status": {"type": "idle"}}
        )
        await self.wire.respond(request_id, thread.answer(with_turns=not exclude))
        if thread.last_usage is not None and thread.last_usage_turn is not None:
            usage = {"total": thread.total_usage, "last": thread.last_usage}
            await self.wire.notify(
                "thread/tokenUsage/updated",
                {
                    "threadId": thread_id,
                    "turnId": thread.last_usage_turn,
                    "tokenUsage": {**usage, "modelContextWindow": 258400},
                },
            )
        await self.wire.notify("thread/goal/cleared", {"threadId": thread_id})

    def _load_thread(self, thread_id: str, path: Path, params: dict[str, Any]) -> ThreadState:
        loaded = rollout.load_rollout(path)
        meta = loaded.meta
        model, provider, policy, sandbox = self._settings(
            {"modelProvider": meta.get("model_provider"), "model": meta.get("model"), **params}
        )
        thread = ThreadState(
            id=thread_id,
            path=path,
            cwd=str(params.get("cwd") or meta.get("cwd") or os.getcwd()),
            model=model,
            model_provider=provider,
            approval_policy=policy,
            sandbox=sandbox,
            originator=str(meta.get("originator", self.originator)),
            raw_events=False,
            created_at=int(meta.get("created_at", 0)),
            preview=loaded.preview,
            turns=loaded.turns,
        )
        if loaded.usage is not None:
            thread.total_usage = dict(loaded.usage.get("total") or {})
            thread.last_usage = loaded.usage.get("last")
            thread.last_usage_turn = loaded.usage.get("turnId")
        return thread

    def _loaded_thread(self, params: dict[str, Any]) -> ThreadState:
        thread_id = params_mod.string(params, "threadId")
        problem = errors.uuid_problem(thread_id)
        if problem is not None:
            raise RpcError(f"invalid thread id: {problem}")
        thread = self.threads.get(thread_id)
        if thread is None:
            raise RpcError(f"thread not found: {thread_id}")
        return thread

    async def _turn_start(self, request_id: Any, params: dict[str, Any]) -> None:
        params_mod.string(params, "threadId")
        content = params_mod.user_input(params)
        thread = self._loaded_thread(params)
        running = self.active.get(thread.id)
        if running is not None and running.active:
            # §5: turn/start during a turn answers the same turn and acts like a steer.
            await self.wire.respond(request_id, running.answer())
            await running.steer(content)
            return
        turn = TurnRun(self, thread, self.scenario.turn(self.turns_started))
        self.turns_started += 1
        self.active[thread.id] = turn
        await self.wire.respond(request_id, turn.answer())
        self.tg.start_soon(turn.run, content)

    async def _turn_steer(self, request_id: Any, params: dict[str, Any]) -> None:
        params_mod.string(params, "threadId")
        content = params_mod.user_input(params)
        expected = params_mod.string(params, "expectedTurnId")
        turn = self._active_turn(self._loaded_thread(params), "steer")
        if expected != turn.id:
            raise RpcError(f"expected active turn id `{expected}` but found `{turn.id}`")
        await self.wire.respond(request_id, {"turnId": turn.id})
        await turn.steer(content)

    async def _turn_interrupt(self, request_id: Any, params: dict[str, Any]) -> None:
        params_mod.string(params, "threadId")
        expected = params_mod.string(params, "turnId")
        turn = self._active_turn(self._loaded_thread(params), "interrupt")
        if expected != turn.id:
            raise RpcError(f"expected active turn id {expected} but found {turn.id}")
        await self.wire.respond(request_id, {})
        turn.interrupt()

    def _active_turn(self, thread: ThreadState, verb: str) -> TurnRun:
        turn = self.active.get(thread.id)
        if turn is None or not turn.active:
            raise RpcError(f"no active turn to {verb}")
        return turn


_HANDLERS = {
    "initialize": Connection._initialize,
    "thread/start": Connection._thread_start,
    "thread/resume": Connection._thread_resume,
    "turn/start": Connection._turn_start,
    "turn/steer": Connection._turn_steer,
    "turn/interrupt": Connection._turn_interrupt,
}


def stderr_banner(lines: list[str]) -> None:
    """Write the scenario's startup stderr lines."""
    for line in lines:
        write_stderr(line)
    sys.stderr.flush()
