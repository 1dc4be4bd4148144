"""Follow one turn's notifications: events, liveness, final response, usage, outcome.

`TurnObserver.handle` takes each notification (or bad line) of the backend in order and
turns it into catalog events (contract §9) with liveness transitions (§11). Deltas are
coalesced per item and flushed as one `item.delta` before any other event (so event
order is preserved), at once when the event log is drained (no request in flight: the
same rule as the sender's), when about `maxEventBytes` of text or `MAX_PENDING_DELTAS`
deltas are pending, and on `flush_deltas()` (called whenever the sender wants more,
`EventLog.want`); a flush bigger than `maxEventBytes` becomes several `item.delta`
events, never a trimmed one.
`finalResponse` is the text of the last completed agentMessage of *this* turn (never of
a resumed earlier turn); usage sums the per-response `last` token counts of this turn
(`thread/tokenUsage/updated`, codex-app-server.md §4). The turn ends on `turn/completed`
for this turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import anyio

from adapters.codex.messages import dig
from adapters.codex.session import Notification
from adapters.codex.transport import ProtocolError
from contract.failures import FailureKind
from contract.manager_api import Usage
from runner.eventlog.events import EventLog, failure_data, split_text
from runner.safety.masking import StreamMasker
from runner.safety.oom import OomWatch
from runner.turn.items import item_summary
from runner.turn.liveness import TOOL_ITEM_TYPES, LivenessTracker
from runner.turn.sandbox_failures import SandboxWatch

DELTA_METHODS = {
    "item/agentMessage/delta": "agentMessage",
    "item/commandExecution/outputDelta": "commandExecution",
    "item/reasoning/summaryTextDelta": "reasoning",
    "item/reasoning/textDelta": "reasoning",
    "item/fileChange/outputDelta": "fileChange",
}
DELTA_ENVELOPE_BYTES = 1024
"""Room left in `maxEventBytes` for an `item.delta`'s other fields (ids, type)."""
MAX_PENDING_DELTAS = 8192
"""Flush once this many deltas wait, whatever their size: a slow manager must not make
the turn hold a list of 64 000 one-character strings (~4 MiB; `bench_memory.py`);
8 192 of them are ~0.5 MiB."""
MAX_BAD_LINE_WARNINGS = 100
"""Bad backend lines reported one `backend.warning` each; later ones are only counted."""
MAX_FAILURE_MESSAGE_CHARS = 2000
"""How much of a backend message a non-terminal `failure` event carries (its head)."""
WARNING_METHODS = ("warning", "configWarning", "deprecationNotice")
INVALID_TOOL_CALL_PREFIXES = (
    "failed to parse function arguments:",
    "unsupported call:",
    "apply_patch verification failed:",
)
"""Raw `function_call_output` prefixes of a tool call Codex could not parse or run (§10)."""


def cut_marker(text: str, limit_chars: int) -> dict[str, Any]:
    """§9: `{"truncated": true, "messageBytes": N}` when `text` is cut to `limit_chars`."""
    if len(text) <= limit_chars:
        return {}
    return {"truncated": True, "messageBytes": len(text.encode())}


@dataclass
class TurnOutcome:
    """How the turn ended: `turn/completed.turn.status` and `error` (Codex 0.169 §4/§8)."""

    status: str
    error: dict[str, Any] | None


class TurnObserver:
    """Events and state of one turn on one thread.

    Args:
        events: the attempt's event log.
        liveness: the attempt's liveness tracker.
        thread_id: the thread the turn runs on (others' notifications are ignored).
        command_id: the `commandId` stamped on the turn's events.
    """

    def __init__(
        self, events: EventLog, liveness: LivenessTracker, thread_id: str, command_id: str
    ) -> None:
        self.events = events
        self.liveness = liveness
        self.thread_id = thread_id
        self.command_id = command_id
        self.turn_id: str | None = None
        self.final_response: str | None = None
        self.usage = Usage()
        self.outcome: TurnOutcome | None = None
        self.done = anyio.Event()
        self.open_items: dict[str, str] = {}
        self.oom = OomWatch()
        """The cgroup's OOM kills per running command (§9 `oomKilled`, issue 21)."""
        self.last_error: dict[str, Any] | None = None
        self.retrying_error: dict[str, Any] | None = None
        self.invalid_tool_calls_in_a_row = 0
        self.invalid_tool_calls = 0
        self.protocol_errors = 0
        self.sandbox = SandboxWatch()
        self.last_activity = time.monotonic()
        """When the backend last did something other than announce a retry."""
        self._turn_started_emitted = False
        self._deltas: dict[str, tuple[str, list[str]]] = {}
        self._pending_chars = 0
        self._pending_parts = 0
        self._flush_at_chars = max(1, events.max_event_bytes - DELTA_ENVELOPE_BYTES)
        """Flush once this much text is pending: bounds memory while requests are slow."""
        self._streams: dict[str, StreamMasker] = {}
        self._closing: set[str] = set()
        """Per item: masks secrets split across deltas (holds back a possible prefix)."""

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        """Emit an event of this turn, after flushing pending deltas (order kept)."""
        await self.flush_deltas()
        await self.events.emit(type, data, command_id=self.command_id)

    async def flush_deltas(self) -> None:
        """Emit the pending deltas: per item, masked, coalesced (§9), under the size limit.

        Each item's text goes through its own stream masker once per flush (not once per
        delta), which holds back a possible secret prefix until the next flush or the
        item's end.
        """
        if not self._deltas:
            return
        pending, self._deltas = self._deltas, {}
        self._pending_chars = self._pending_parts = 0
        budget = self.events.max_event_bytes - DELTA_ENVELOPE_BYTES
        for item_id, (item_type, parts) in pending.items():
            stream = self._streams.get(item_id)
            if stream is None:
                stream = self._streams[item_id] = self.events.masker.stream()
            text = stream.feed("".join(parts))
            if item_id in self._closing:
                text += stream.flush()
                self._closing.discard(item_id)
                del self._streams[item_id]
            for piece in split_text(text, budget):
                await self.events.emit(
                    "item.delta",
                    {"itemId": item_id, "itemType": item_type, "text": piece},
                    command_id=self.command_id,
                )

    def turn_started(self, turn_id: str) -> None:
        """Record the turn id (from the `turn/start` answer or `turn/started`)."""
        if self.turn_id is None:
            self.turn_id = turn_id
            self.liveness.turn_id = turn_id

    def _ours(self, params: dict[str, Any]) -> bool:
        thread = params.get("threadId") or dig(params, "thread", "id")
        if thread is not None and thread != self.thread_id:
            return False
        turn = params.get("turnId") or dig(params, "turn", "id")
        if turn is None or self.turn_id is None:
            return True
        return bool(turn == self.turn_id)

    async def handle(self, message: Notification | ProtocolError) -> None:
        """Process one downstream message of the backend."""
        self.liveness.backend_activity()
        self.events.arrivals += 1
        if not (
            isinstance(message, Notification)
            and message.method == "error"
            and message.params.get("willRetry")
        ):
            self.last_activity = time.monotonic()
        if isinstance(message, ProtocolError):
            self.protocol_errors += 1
            if self.protocol_errors > MAX_BAD_LINE_WARNINGS:
                return  # counted; a backend printing garbage must not flood the events
            await self.emit(
                "backend.warning",
                {
                    "message": f"bad line from the backend: {message.reason}",
                    "preview": message.preview,
                    "sizeBytes": message.size_bytes,
                },
            )
            return
        method, params = message.method, message.params
        if method in WARNING_METHODS:
            text = params.get("message") or params.get("summary") or method
            await self.emit("backend.warning", {"message": str(text), "method": method})
            return
        if not self._ours(params):
            return
        if method in DELTA_METHODS:
            self._delta(method, params)
            if (
                self.events.drained
                or self._pending_chars >= self._flush_at_chars
                or self._pending_parts >= MAX_PENDING_DELTAS
            ):
                await self.flush_deltas()
        elif method == "turn/started":
            await self._on_turn_started(params)
        elif method == "item/started":
            await self._on_item(params, started=True)
        elif method == "item/completed":
            await self._on_item(params, started=False)
        elif method == "thread/tokenUsage/updated":
            self._on_usage(params)
        elif method == "error":
            await self._on_error(params)
        elif method == "rawResponseItem/completed":
            await self._on_raw_item(params)
        elif method == "turn/completed":
            await self._on_turn_completed(params)

    def _delta(self, method: str, params: dict[str, Any]) -> None:
        item_id = str(params.get("itemId", ""))
        text = params.get("delta")
        if not isinstance(text, str):
            return
        item_type = self.open_items.get(item_id, DELTA_METHODS[method])
        if item_type in ("agentMessage", "reasoning"):
            self.liveness.model_output()
        self._deltas.setdefault(item_id, (item_type, []))[1].append(text)
        self._pending_chars += len(text)
        self._pending_parts += 1

    def _close_stream(self, item_id: str, item_type: str) -> None:
        """The item ended: its next flush releases what its stream masker held back."""
        if item_id in self._streams or item_id in self._deltas:
            self._closing.add(item_id)
            self._deltas.setdefault(item_id, (item_type, []))

    async def _on_turn_started(self, params: dict[str, Any]) -> None:
        turn_id = dig(params, "turn", "id")
        if isinstance(turn_id, str):
            self.turn_started(turn_id)
        if not self._turn_started_emitted and self.turn_id is not None:
            self._turn_started_emitted = True
            await self.emit("turn.started", {"turnId": self.turn_id})
        self.liveness.model_output()

    async def _on_item(self, params: dict[str, Any], *, started: bool) -> None:
        raw = params.get("item")
        if not isinstance(raw, dict):
            return
        if self.turn_id is None and isinstance(params.get("turnId"), str):
            self.turn_started(params["turnId"])
        summary = item_summary(raw)
        item_id, item_type = summary["itemId"], summary["itemType"]
        if started:
            self.open_items[item_id] = item_type
            if item_type == "commandExecution":
                self.oom.started(item_id)
            await self.emit("item.started", summary)
            if item_type in TOOL_ITEM_TYPES:
                self.liveness.tool_started(item_id, item_type)
            elif item_type in ("agentMessage", "reasoning"):
                self.liveness.model_output()
            return
        self.open_items.pop(item_id, None)
        self._close_stream(item_id, item_type)
        if item_type == "commandExecution" and self.oom.oom_killed(item_id):
            summary["oomKilled"] = True
        await self.emit("item.completed", summary)
        output = raw.get("aggregatedOutput") if item_type == "commandExecution" else None
        if isinstance(output, str) and (sandbox := self.sandbox.check(item_id, output, item_type)):
            await self.emit("failure", sandbox)
        if item_type in TOOL_ITEM_TYPES:
            self.liveness.tool_finished(item_id)
        elif item_type == "agentMessage":
            self.liveness.model_output()
            self.final_response = summary.get("text")
            self.invalid_tool_calls_in_a_row = 0
        elif item_type == "reasoning":
            self.liveness.model_output()

    def _on_usage(self, params: dict[str, Any]) -> None:
        last = dig(params, "tokenUsage", "last")
        if (
            self.turn_id is None
            or params.get("turnId") != self.turn_id
            or not isinstance(last, dict)
        ):
            return
        self.usage = Usage(
            input_tokens=self.usage.input_tokens + int(last.get("inputTokens") or 0),
            cached_input_tokens=self.usage.cached_input_tokens
            + int(last.get("cachedInputTokens") or 0),
            output_tokens=self.usage.output_tokens + int(last.get("outputTokens") or 0),
        )

    async def _on_error(self, params: dict[str, Any]) -> None:
        error = params.get("error") if isinstance(params.get("error"), dict) else {}
        assert isinstance(error, dict)
        if params.get("willRetry"):
            self.retrying_error = error
            await self.emit(
                "backend.warning",
                {
                    "message": str(error.get("message", "")),
                    "willRetry": True,
                    "codexErrorInfo": error.get("codexErrorInfo"),
                    "additionalDetails": error.get("additionalDetails"),
                },
            )
        else:
            self.last_error = error

    async def _on_raw_item(self, params: dict[str, Any]) -> None:
        item = params.get("item")
        if not isinstance(item, dict):
            return
        if item.get("type") == "message" and item.get("role") == "assistant":
            self.invalid_tool_calls_in_a_row = 0
            return
        output = item.get("output")
        if item.get("type") not in ("function_call_output", "custom_tool_call_output"):
            return
        text = output if isinstance(output, str) else str(dig(output, "content") or "")
        if sandbox := self.sandbox.check(item.get("call_id"), text, "rawResponseItem"):
            await self.emit("failure", sandbox)
        if text.startswith(INVALID_TOOL_CALL_PREFIXES):
            self.invalid_tool_calls += 1
            self.invalid_tool_calls_in_a_row += 1
            await self.emit(
                "failure",
                {
                    **failure_data(
                        FailureKind.PROVIDER_INVALID_TOOL_CALL,
                        text[:MAX_FAILURE_MESSAGE_CHARS],
                        source="provider",
                        detail={
                            "callId": item.get("call_id"),
                            "inARow": self.invalid_tool_calls_in_a_row,
                        },
                        terminal=False,
                    ),
                    **cut_marker(text, MAX_FAILURE_MESSAGE_CHARS),
                },
            )
        else:
            self.invalid_tool_calls_in_a_row = 0

    async def _on_turn_completed(self, params: dict[str, Any]) -> None:
        turn = params.get("turn") if isinstance(params.get("turn"), dict) else {}
        assert isinstance(turn, dict)
        if self.turn_id is None and isinstance(turn.get("id"), str):
            self.turn_started(turn["id"])
        status = str(turn.get("status", "failed"))
        error = turn.get("error") if isinstance(turn.get("error"), dict) else None
        await self.finish(status, error or (self.last_error if status == "failed" else None))

    async def finish(self, status: str, error: dict[str, Any] | None) -> None:
        """End the turn: close items left open (as `interrupted`), emit `turn.completed`."""
        if self.outcome is not None:
            return
        for item_id in {*self._streams, *self._deltas}:
            item_type = self._deltas[item_id][0] if item_id in self._deltas else "unknown"
            self._close_stream(item_id, self.open_items.get(item_id, item_type))
        for item_id, item_type in list(self.open_items.items()):
            await self.emit(
                "item.completed",
                {
                    "itemId": item_id,
                    "itemType": item_type,
                    "status": "interrupted",
                    "closedBy": "runner",
                },
            )
        self.open_items.clear()
        self.outcome = TurnOutcome(status, error)
        await self.emit(
            "turn.completed",
            {"turnId": self.turn_id, "status": status, "error": error, "usage": self.usage.wire()},
        )
        self.done.set()
