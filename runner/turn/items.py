"""Summaries of Codex thread items for `item.started` / `item.completed` events (§9).

Items are read through the generated 0.171 models (`ThreadItem` union); an item the
pinned schema cannot validate (a new item type, or a drifted shape from another Codex
version) is summarized from the raw dict by id and type, so it is never lost.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from adapters.codex.messages import dig, protocol

OUTPUT_TAIL_CHARS = 8192
"""How much of a command's output an `item.completed` event carries (its tail)."""


def parse_item(raw: Any) -> BaseModel | None:
    """The typed item (one member of the `ThreadItem` union), or None on drift."""
    try:
        item: BaseModel = protocol().ThreadItem.model_validate(raw).root
        return item
    except ValidationError:
        return None


def _root(value: Any) -> Any:
    return getattr(value, "root", value)


def _user_text(item: Any) -> str:
    return "\n".join(
        text for part in item.content if isinstance(text := getattr(_root(part), "text", None), str)
    )


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
    item = parse_item(raw)
    p = protocol()
    match item:
        case p.AgentMessageThreadItem():
            out["text"] = item.text
        case p.CommandExecutionThreadItem():
            output = item.aggregated_output or ""
            out |= {
                "command": item.command,
                "cwd": _root(item.cwd),
                "exitCode": item.exit_code,
                "durationMs": item.duration_ms,
                "output": output[-OUTPUT_TAIL_CHARS:],
                "status": _root(item.status),
            }
            if len(output) > OUTPUT_TAIL_CHARS:
                out["truncated"] = True  # §9: a cut text field says so
                out["outputBytes"] = len(output.encode())
        case p.FileChangeThreadItem():
            out["changes"] = [
                {"path": c.path, "kind": _root(getattr(_root(c.kind), "type", None))}
                for c in item.changes
            ]
            out["status"] = _root(item.status)
        case p.McpToolCallThreadItem():
            out |= {"server": item.server, "tool": item.tool, "status": _root(item.status)}
        case p.DynamicToolCallThreadItem():
            out |= {"tool": item.tool, "status": _root(item.status), "success": item.success}
        case p.ReasoningThreadItem():
            out["summary"] = "".join(item.summary or [])
        case p.UserMessageThreadItem():
            out["text"] = _user_text(item)
        case None:
            out["schemaDrift"] = True
            for key in ("text", "command", "status", "tool", "server"):
                if isinstance(value := dig(raw, key), str | int | float | bool):
                    out[key] = value
        case _:
            status = getattr(item, "status", None)
            if status is not None:
                out["status"] = _root(status)
    return out
