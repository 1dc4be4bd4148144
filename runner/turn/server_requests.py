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
from typing import Any

from adapters.codex.session import JsonRpcError, ServerRequest

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]

REFUSAL_TEXT = "The AgentRun runner has no one to ask; this request is refused."


def answer_for(request: ServerRequest, approval_policy: str) -> dict[str, Any]:
    """The `result` the runner sends for `request` (shapes as in Codex 0.169 §6).

    Raises:
        JsonRpcError: for a method the runner does not know (-32601).
    """
    method = request.method
    if method in ("item/commandExecution/requestApproval", "item/fileChange/requestApproval"):
        return {"decision": "decline"}
    if method in ("execCommandApproval", "applyPatchApproval"):
        return {"decision": "denied"}
    if method == "item/permissions/requestApproval":
        return {"permissions": {}, "scope": "turn"}
    if method == "item/tool/call":
        return {
            "contentItems": [{"type": "inputText", "text": REFUSAL_TEXT}],
            "success": False,
        }
    if method == "item/tool/requestUserInput":
        return {"answers": {}}
    if method == "mcpServer/elicitation/request":
        return {"action": "decline", "content": None}
    raise JsonRpcError(method, -32601, f"the runner does not handle {method}")


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
            result = answer_for(request, approval_policy)
        except JsonRpcError as exc:
            await emit(
                "server-request.answered",
                answered(request, item_id, "error", f"unknown request: {exc.message}"),
            )
            raise
        decision, reason = _DECISIONS.get(request.method, ("refuse", REFUSAL_TEXT))
        await emit(
            "server-request.answered",
            answered(request, item_id, decision, f"{reason} (approvalPolicy {approval_policy})"),
        )
        return result

    return handle


_DECISIONS: dict[str, tuple[str, str]] = {
    "item/commandExecution/requestApproval": ("decline", "the runner accepts no approval"),
    "item/fileChange/requestApproval": ("decline", "the runner accepts no approval"),
    "execCommandApproval": ("decline", "the runner accepts no approval"),
    "applyPatchApproval": ("decline", "the runner accepts no approval"),
    "item/permissions/requestApproval": ("decline", "the runner grants no permission"),
    "item/tool/call": ("refuse", "no dynamic tool is registered"),
    "item/tool/requestUserInput": ("empty-answer", "there is no user to ask"),
    "mcpServer/elicitation/request": ("decline", "there is no user to ask"),
}


def answered(request: ServerRequest, item_id: str, decision: str, reason: str) -> dict[str, Any]:
    """The `server-request.answered` event data (§9) for one answered request."""
    return {
        "method": request.method,
        "requestId": request.id,
        "decision": decision,
        "reason": reason,
        "itemId": item_id or None,
    }
