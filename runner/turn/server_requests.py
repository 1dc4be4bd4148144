"""Answers to Codex server→client requests: every one is answered, by policy.

An unanswered server request blocks its turn forever (codex-app-server.md §6), and the
runner has no human to ask. Approvals are declined — no job field says "accept", and the
runner never accepts by default; with `approvalPolicy: never` Codex sends none at all.
`item/tool/call` (dynamic tools, none registered) and `item/tool/requestUserInput` get a
defined refusal; anything unknown gets a JSON-RPC error. Each answer becomes one
`server-request.answered` event (§9: `method, requestId, decision, reason`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from adapters.codex.session import JsonRpcError, ServerRequest

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]

REFUSAL_TEXT = "The AgentRun runner has no one to ask; this request is refused."


@dataclass(frozen=True)
class Answer:
    """The runner's answer to one server request, and how the event reports it (§9).

    Attributes:
        result: the JSON-RPC `result` sent back (shapes as in Codex 0.169-0.171 §6).
        decision: `server-request.answered.decision`, e.g. `decline`.
        reason: why, in one phrase.
    """

    result: dict[str, Any]
    decision: str
    reason: str


_NO_APPROVAL = "the runner accepts no approval"
_ANSWERS: dict[str, Answer] = {
    "item/commandExecution/requestApproval": Answer(
        {"decision": "decline"}, "decline", _NO_APPROVAL
    ),
    "item/fileChange/requestApproval": Answer({"decision": "decline"}, "decline", _NO_APPROVAL),
    "execCommandApproval": Answer({"decision": "denied"}, "decline", _NO_APPROVAL),
    "applyPatchApproval": Answer({"decision": "denied"}, "decline", _NO_APPROVAL),
    "item/permissions/requestApproval": Answer(
        {"permissions": {}, "scope": "turn"}, "decline", "the runner grants no permission"
    ),
    "item/tool/call": Answer(
        {"contentItems": [{"type": "inputText", "text": REFUSAL_TEXT}], "success": False},
        "refuse",
        "no dynamic tool is registered",
    ),
    "item/tool/requestUserInput": Answer(
        {"answers": {}}, "empty-answer", "there is no user to ask"
    ),
    "mcpServer/elicitation/request": Answer(
        {"action": "decline", "content": None}, "decline", "there is no user to ask"
    ),
}


def answer_for(request: ServerRequest, approval_policy: str) -> Answer:
    """The runner's `Answer` to `request`: one table for the result and its report.

    Raises:
        JsonRpcError: for a method the runner does not know (-32601).
    """
    answer = _ANSWERS.get(request.method)
    if answer is None:
        raise JsonRpcError(request.method, -32601, f"the runner does not handle {request.method}")
    return answer


def make_handler(
    approval_policy: str, emit: Emit, on_waiting: Callable[[str, str], None]
) -> Callable[[ServerRequest], Awaitable[dict[str, Any]]]:
    """A session handler answering by `approval_policy` and reporting each answer.

    Args:
        approval_policy: the job's `backend.approvalPolicy`.
        emit: emits one event (`type`, `data`).
        on_waiting: liveness hook `(item_id, item_type)` while a request waits (§11).
    """

    async def handle(request: ServerRequest) -> dict[str, Any]:
        item_id = str(request.params.get("itemId") or request.params.get("callId") or "")
        on_waiting(item_id or f"request-{request.id}", request.method)
        try:
            answer = answer_for(request, approval_policy)
        except JsonRpcError as exc:
            await emit(
                "server-request.answered",
                answered(request, item_id, "error", f"unknown request: {exc.message}"),
            )
            raise
        reason = f"{answer.reason} (approvalPolicy {approval_policy})"
        await emit("server-request.answered", answered(request, item_id, answer.decision, reason))
        return answer.result

    return handle


def answered(request: ServerRequest, item_id: str, decision: str, reason: str) -> dict[str, Any]:
    """The `server-request.answered` event data (§9) for one answered request."""
    return {
        "method": request.method,
        "requestId": request.id,
        "decision": decision,
        "reason": reason,
        "itemId": item_id or None,
    }
