"""Summaries of Codex thread items for `item.started` / `item.completed` events (§9).

Items are read through the hand-written views of `adapters.codex.items` (Codex 0.171
`ThreadItem`). An item of a schema type that is not summarized gets its `status`; an
item of an unknown type, or of a summarized type whose fields do not fit (a drifted
shape from another Codex version), is summarized from the raw dict by id and type and
marked `schemaDrift`, so it is never lost.
"""

from __future__ import annotations

from typing import Any

from adapters.codex.items import (
    SUMMARIZED_TYPES,
    THREAD_ITEM_TYPES,
    AgentMessageItem,
    CommandExecutionItem,
    DynamicToolCallItem,
    FileChangeItem,
    McpToolCallItem,
    ReasoningItem,
    UserMessageItem,
    parse_item,
)
from adapters.codex.messages import dig

OUTPUT_TAIL_CHARS = 8192
"""How much of a command's output an `item.completed` event carries (its tail)."""


def item_summary(raw: dict[str, Any]) -> dict[str, Any]:
    """`itemId`, `itemType` and the per-type summary of contract §9 for one item.

    Args:
        raw: the `item` object of an `item/started` or `item/completed` notification.

    Returns:
        agentMessage `text`; commandExecution `command, cwd, exitCode, durationMs,
        output` (tail); fileChange `changes[{path,kind}]`; mcpToolCall `server, tool,
        status`; reasoning `summary`; plus `status` where the item has one.
    """
    item_id = str(raw.get("id", ""))
    item_type = str(raw.get("type", "unknown"))
    out: dict[str, Any] = {"itemId": item_id, "itemType": item_type}
    match parse_item(raw):
        case AgentMessageItem() as item:
            out["text"] = item.text
        case CommandExecutionItem() as item:
            output = item.aggregated_output or ""
            out |= {
                "command": item.command,
                "cwd": item.cwd,
                "exitCode": item.exit_code,
                "durationMs": item.duration_ms,
                "output": output[-OUTPUT_TAIL_CHARS:],
                "status": item.status,
            }
            if len(output) > OUTPUT_TAIL_CHARS:
                out["truncated"] = True  # §9: a cut text field says so
                out["outputBytes"] = len(output.encode())
        case FileChangeItem() as item:
            out["changes"] = [{"path": c.path, "kind": c.kind.type} for c in item.changes]
            out["status"] = item.status
        case McpToolCallItem() as item:
            out |= {"server": item.server, "tool": item.tool, "status": item.status}
        case DynamicToolCallItem() as item:
            out |= {"tool": item.tool, "status": item.status, "success": item.success}
        case ReasoningItem() as item:
            out["summary"] = "".join(item.summary or [])
        case UserMessageItem() as item:
            out["text"] = "\n".join(part.text for part in item.content if part.text is not None)
        case None if item_type in THREAD_ITEM_TYPES and item_type not in SUMMARIZED_TYPES:
            if isinstance(status := raw.get("status"), str):
                out["status"] = status
        case None:
            out["schemaDrift"] = True
            for key in ("text", "command", "status", "tool", "server"):
                if isinstance(value := dig(raw, key), str | int | float | bool):
                    out[key] = value
    return out
