"""Answers to Codex server→client requests: every one is answered, by policy.

An unanswered server request blocks its turn forever (codex-app-server.md §6), and the
runner has no human to ask. Approvals are declined — no job field says "accept", and the
runner never accepts by default; with `approvalPolicy: never` Codex sends none at all.
`item/tool/call` (dynamic tools, none registered) and `item/tool/requestUserInput` get a
defined refusal; anything unknown gets a JSON-RPC error. Each answer becomes one
`backend.warning` event (the §9 catalog has no dedicated type) naming the request.
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
                "backend.warning",
                {
                    "message": f"refused unknown server request {request.method}",
                    "serverRequest": request.method,
                    "error": exc.message,
                },
            )
            raise
        await emit(
            "backend.warning",
            {
                "message": f"answered server request {request.method}",
                "serverRequest": request.method,
                "itemId": item_id or None,
                "approvalPolicy": approval_policy,
                "answer": result,
            },
        )
        return result

    return handle
