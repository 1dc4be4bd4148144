"""One turn of the fake: its lifecycle (start, steer, interrupt, end) around scripted steps.

The notification order is the one Codex 0.169 showed (codex-app-server.md §4, §5, §8):
`thread/status/changed active` → `turn/started` → `userMessage` item → the steps →
`thread/tokenUsage/updated` → `thread/status/changed idle` → `turn/completed` (whose
`items` hold only the final agentMessage, `itemsView:"summary"`). A failed turn sends
`systemError`, then `error willRetry:false`, then `turn/completed failed`. An interrupt
answers `{}`, then `idle` and `turn/completed interrupted` with `error:null`, leaving open
items dangling, and resolves a pending server request after that. The steps themselves
are played by `fakes.app_server.steps`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from fakes.app_server import rollout
from fakes.app_server.scenario import Step, TurnScript
from fakes.app_server.shapes import ThreadState, turn_object, user_message, uuid7
from fakes.app_server.wire import Wire, now_ms

if TYPE_CHECKING:
    from collections.abc import Sequence


class TurnFailed(Exception):
    """Raised by a `fail` step: the turn ends `failed` with this `TurnError` (§8)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


class TurnCancelled(Exception):
    """Raised when an approval is answered `cancel`: the turn ends `interrupted` (§6)."""


class Host(Protocol):
    """What a turn needs from its connection (implemented by `server.Connection`)."""

    wire: Wire

    def next_item_id(self, prefix: str) -> str:
        """`prefix_N` ids like the model's (`msg_1`, `call_exec_1`, §4)."""
        ...

    async def ask(
        self, turn: TurnRun, method: str, params: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Send a server request and wait for `(result, error)`."""
        ...

    def turn_ended(self, turn: TurnRun) -> None:
        """Forget the turn as the thread's active one."""
        ...


class TurnRun:
    """A running turn. Created by the connection on `turn/start`; `run` plays it.

    Attributes:
        id: the turn id (UUIDv7).
        items: completed items (persisted in full, §10).
        final_message: the last completed agentMessage item (for `turn/completed`).
        pending_request: id of a server request awaiting its answer, if any.
        active: False once the turn started ending (steer/interrupt then see no turn).
    """

    def __init__(self, host: Host, thread: ThreadState, script: TurnScript) -> None:
        self.host = host
        self.wire = host.wire
        self.thread = thread
        self.script = script
        self.id = uuid7()
        self.items: list[dict[str, Any]] = []
        self.final_message: dict[str, Any] | None = None
        self.pending_request: int | None = None
        self.active = True
        self._interrupted = False
        self._whole = anyio.CancelScope()
        self._steps_scope = anyio.CancelScope()
        self._next_steps: Sequence[Step] | None = None
        self._started_s = int(time.time())
        self._started_ns = time.monotonic_ns()

    def answer(self) -> dict[str, Any]:
        """The `turn/start` result: the turn `inProgress`, items not loaded (§4)."""
        return {"turn": turn_object(self.id, status="inProgress")}

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """A notification of this turn (`threadId` and `turnId` added)."""
        await self.wire.notify(method, {**params, "threadId": self.thread.id, "turnId": self.id})

    async def status(self, kind: str, flags: list[str] | None = None) -> None:
        """`thread/status/changed` (§4, §6: `activeFlags` while waiting on the client)."""
        status: dict[str, Any] = {"type": kind}
        if kind == "active":
            status["activeFlags"] = flags or []
        await self.wire.notify(
            "thread/status/changed", {"threadId": self.thread.id, "status": status}
        )

    async def item_started(self, item: dict[str, Any]) -> None:
        """`item/started` with `startedAtMs` (§4)."""
        await self.notify("item/started", {"item": item, "startedAtMs": now_ms()})

    async def item_completed(self, item: dict[str, Any]) -> None:
        """`item/completed` with `completedAtMs`; remembers it for history and the summary."""
        await self.notify(
            "item/completed", {"item": item, "contentTokenCount": None, "completedAtMs": now_ms()}
        )
        self.items.append(item)
        if item["type"] == "agentMessage":
            self.final_message = item
            rollout.append(
                self.thread.path, "response_item", rollout.message_item("assistant", item["text"])
            )
            if self.thread.raw_events:
                await self.raw_item(
                    {
                        "type": "message",
                        "role": "assistant",
                        "id": item["id"],
                        "content": [{"type": "output_text", "text": item["text"]}],
                    }
                )

    async def raw_item(self, item: dict[str, Any]) -> None:
        """`rawResponseItem/completed` (only with `experimentalRawEvents`, §7)."""
        if self.thread.raw_events:
            await self.notify("rawResponseItem/completed", {"item": item})
        rollout.append(self.thread.path, "response_item", item)

    async def user_input(self, content: list[dict[str, Any]]) -> None:
        """A `userMessage` item for `turn/start` or `turn/steer` input (§4, §5)."""
        item = user_message(uuid7(), content)
        await self.item_started(item)
        await self.item_completed(item)
        text = " ".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
        if not self.thread.preview:
            self.thread.preview = text
        rollout.append(self.thread.path, "response_item", rollout.message_item("user", text))

    async def steer(self, content: list[dict[str, Any]]) -> None:
        """Add steer input; with `afterSteer` scripted, replace the remaining steps (§5)."""
        await self.user_input(content)
        if self.script.after_steer is not None:
            self._next_steps = self.script.after_steer
            self._steps_scope.cancel()

    def interrupt(self) -> None:
        """Stop the turn; `run` then ends it `interrupted` (§5)."""
        self._interrupted = True
        self.active = False
        self._whole.cancel()

    async def run(self, content: list[dict[str, Any]]) -> None:
        """Play the whole turn, from `thread/status/changed active` to `turn/completed`."""
        from fakes.app_server.steps import play_steps

        self._persist_start()
        outcome, error = "completed", None
        with self._whole:
            await self.status("active")
            await self.notify(
                "turn/started",
                {"turn": turn_object(self.id, status="inProgress", started_at=self._started_s)},
            )
            await self.user_input(content)
            steps: Sequence[Step] | None = self.script.steps
            try:
                while steps is not None:
                    with anyio.CancelScope() as self._steps_scope:
                        await play_steps(self, steps)
                    steps, self._next_steps = self._next_steps, None
            except TurnFailed as failed:
                outcome, error = "failed", failed.error
            except TurnCancelled:
                outcome = "interrupted"
            if outcome == "completed" and self.script.usage is not None:
                await self.usage_update(self.script.usage)
        if self._interrupted:
            outcome = "interrupted"
        await self._finish(outcome, error)

    async def usage_update(self, usage: Any) -> None:
        """`thread/tokenUsage/updated` for one model response (§4)."""
        token_usage = self.thread.add_usage(usage)
        self.thread.last_usage_turn = self.id
        rollout.append(
            self.thread.path,
            "fake_token_usage",
            {"turnId": self.id, "total": token_usage["total"], "last": token_usage["last"]},
        )
        await self.notify("thread/tokenUsage/updated", {"tokenUsage": token_usage})

    def _persist_start(self) -> None:
        if not self.thread.path.exists():
            meta = rollout.session_meta(
                self.thread.id,
                self.thread.cwd,
                self.thread.originator,
                self.thread.model_provider,
                self.thread.model,
            )
            rollout.append(self.thread.path, "session_meta", meta)
        rollout.append(
            self.thread.path,
            "fake_turn_started",
            turn_object(
                self.id, status="inProgress", items_view="full", started_at=self._started_s
            ),
        )

    async def _finish(self, outcome: str, error: dict[str, Any] | None) -> None:
        self.active = False
        self.host.turn_ended(self)
        with anyio.CancelScope(shield=True):
            if outcome == "failed":
                await self.status("systemError")
                await self.notify("error", {"error": error, "willRetry": False})
            else:
                await self.status("idle")
            finished = int(time.time())
            duration_ms = (time.monotonic_ns() - self._started_ns) // 1_000_000
            summary = [self.final_message] if self.final_message and outcome == "completed" else []
            turn = turn_object(
                self.id,
                status=outcome,
                items=summary,
                items_view="summary",
                error=error,
                started_at=self._started_s,
                completed_at=finished,
                duration_ms=duration_ms,
            )
            await self.wire.notify("turn/completed", {"threadId": self.thread.id, "turn": turn})
            if self.pending_request is not None:
                await self.wire.notify(
                    "serverRequest/resolved",
                    {"threadId": self.thread.id, "requestId": self.pending_request},
                )
                self.pending_request = None
            full = {**turn, "items": list(self.items), "itemsView": "full"}
            self.thread.turns.append(full)
            rollout.append(self.thread.path, "fake_turn", full)
