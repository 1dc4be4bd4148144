"""Builders of the objects the fake puts on the wire, shaped like Codex 0.169 sends them.

Each builder names the section of codex-app-server.md its shape comes from; the schema
test (`tests/fakes/test_fake_app_server_schema.py`) checks them all against the JSON
Schema the pinned binary prints. Ids are UUIDv7 like Codex's thread, turn and user-item
ids (§3, §4).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.app_server.scenario import FileChange, Usage

CLI_VERSION = "0.169.0"
"""What `thread.cliVersion` says (the fake's `--version` adds `-fake`)."""
SOURCE = "vscode"
"""`thread.source` for app-server threads as observed (§3)."""


def uuid7() -> str:
    """A random UUIDv7 string (48-bit ms timestamp, version 7, RFC 4122 variant)."""
    value = (time.time_ns() // 1_000_000) << 80
    value |= 0x7 << 76
    value |= secrets.randbits(12) << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def user_agent(client_name: str, client_version: str) -> str:
    """The `initialize` answer's `userAgent` (§2): `name/0.169.0 (OS; arch) term (name; v)`."""
    machine = os.uname().machine
    return (
        f"{client_name}/{CLI_VERSION} (Linux; {machine}) unknown ({client_name}; {client_version})"
    )


def remote_control_status() -> dict[str, Any]:
    """`remoteControl/status/changed` params sent after `initialize` (§2)."""
    return {
        "status": "disabled",
        "serverName": socket.gethostname(),
        "installationId": uuid7(),
        "environmentId": None,
    }


def sandbox_policy(mode: str) -> dict[str, Any]:
    """`SandboxPolicy` for a `thread/start.sandbox` mode (§3 shows `workspaceWrite`)."""
    if mode == "workspace-write":
        return {
            "type": "workspaceWrite",
            "writableRoots": [],
            "networkAccess": False,
            "excludeTmpdirEnvVar": False,
            "excludeSlashTmp": False,
        }
    if mode == "danger-full-access":
        return {"type": "dangerFullAccess"}
    return {"type": "readOnly"}


@dataclass
class ThreadState:
    """A loaded thread of this process.

    Attributes:
        id: UUIDv7 (also `sessionId`).
        path: the rollout file (§10); it exists once the first turn starts.
        turns: finished turns as `Turn` objects with full items (for `thread/resume`).
        total_usage: `ThreadTokenUsage.total` so far (§4: accumulates over the thread).
    """

    id: str
    path: Path
    cwd: str
    model: str
    model_provider: str
    approval_policy: Any
    sandbox: str
    originator: str
    raw_events: bool
    created_at: int = field(default_factory=lambda: int(time.time()))
    preview: str = ""
    turns: list[dict[str, Any]] = field(default_factory=list)
    total_usage: dict[str, int] = field(default_factory=dict)
    last_usage_turn: str | None = None
    last_usage: dict[str, int] | None = None

    def thread(self, *, status: str = "idle", with_turns: bool = False) -> dict[str, Any]:
        """The `Thread` object of `thread/start` and `thread/started` (§3, probed on 0.169)."""
        return {
            "id": self.id,
            "environments": [
                {"environmentId": "local", "cwd": self.cwd, "runtimeWorkspaceRoots": [self.cwd]}
            ],
            "extra": None,
            "sessionId": self.id,
            "forkedFromId": None,
            "attachedToThreadId": None,
            "parentThreadId": None,
            "preview": self.preview,
            "ephemeral": False,
            "section": None,
            "sectionEnteredAt": None,
            "projectId": None,
            "historyMode": "paginated",
            "modelProvider": self.model_provider,
            "model": self.model,
            "reasoningEffort": None,
            "createdAt": self.created_at,
            "updatedAt": int(time.time()),
            "recencyAt": int(time.time()),
            "status": {"type": status},
            "path": str(self.path),
            "cwd": self.cwd,
            "cliVersion": CLI_VERSION,
            "originator": self.originator,
            "source": SOURCE,
            "canAcceptDirectInput": True,
            "threadSource": None,
            "agentNickname": None,
            "agentRole": None,
            "gitInfo": None,
            "name": None,
            "daybreakEnabled": None,
            "turns": list(self.turns) if with_turns else [],
        }

    def answer(self, *, with_turns: bool = False) -> dict[str, Any]:
        """The `thread/start` / `thread/resume` result around `thread` (§3, §10)."""
        return {
            "thread": self.thread(with_turns=with_turns),
            "model": self.model,
            "modelProvider": self.model_provider,
            "serviceTier": None,
            "disabledPluginIds": [],
            "cwd": self.cwd,
            "runtimeWorkspaceRoots": [self.cwd],
            "instructionSources": [],
            "approvalPolicy": self.approval_policy,
            "approvalsReviewer": "user",
            "sandbox": sandbox_policy(self.sandbox),
            "activePermissionProfile": None,
            "reasoningEffort": None,
            "multiAgentMode": "explicitRequestOnly",
        }

    def add_usage(self, usage: Usage) -> dict[str, Any]:
        """Account one model response; returns the `ThreadTokenUsage` to send (§4)."""
        last = {
            "totalTokens": usage.input_tokens + usage.output_tokens,
            "inputTokens": usage.input_tokens,
            "cachedInputTokens": usage.cached_input_tokens,
            "cacheWriteInputTokens": 0,
            "outputTokens": usage.output_tokens,
            "reasoningOutputTokens": usage.reasoning_output_tokens,
        }
        for key, value in last.items():
            self.total_usage[key] = self.total_usage.get(key, 0) + value
        self.last_usage = last
        return {"total": dict(self.total_usage), "last": last, "modelContextWindow": 258400}


def turn_object(
    turn_id: str,
    *,
    status: str,
    items: list[dict[str, Any]] | None = None,
    items_view: str = "notLoaded",
    error: dict[str, Any] | None = None,
    started_at: int | None = None,
    completed_at: int | None = None,
    duration_ms: int | None = None,
) -> dict[str, Any]:
    """A `Turn` (§4): `turn/start` answers it `inProgress` with `itemsView:"notLoaded"`."""
    return {
        "id": turn_id,
        "rootTurnId": turn_id,
        "items": items or [],
        "itemsView": items_view,
        "status": status,
        "error": error,
        "startedAt": started_at,
        "completedAt": completed_at,
        "durationMs": duration_ms,
    }


def user_message(item_id: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    """A `userMessage` item (§4) echoing the `turn/start`/`turn/steer` input."""
    return {"type": "userMessage", "id": item_id, "clientId": None, "content": content}


def agent_message(item_id: str, text: str) -> dict[str, Any]:
    """An `agentMessage` item (§4); `text` is empty in `item/started`."""
    return {"type": "agentMessage", "id": item_id, "text": text, "phase": None}


def reasoning(item_id: str, summary: list[str]) -> dict[str, Any]:
    """A `reasoning` item (§4); `summary` is empty in `item/started`."""
    return {"type": "reasoning", "id": item_id, "summary": summary, "content": []}


def command_execution(
    item_id: str,
    command: str,
    cwd: str,
    *,
    status: str,
    output: str | None = None,
    exit_code: int | None = None,
    duration_ms: int | None = None,
    source: str = "unifiedExecStartup",
    process_id: str | None = None,
) -> dict[str, Any]:
    """A `commandExecution` item (§4, §15: before approval `source:"agent"`, no process)."""
    return {
        "type": "commandExecution",
        "id": item_id,
        "command": command,
        "cwd": cwd,
        "processId": process_id,
        "source": source,
        "status": status,
        "commandActions": [{"type": "unknown", "command": command}],
        "aggregatedOutput": output,
        "exitCode": exit_code,
        "durationMs": duration_ms,
    }


def file_change(item_id: str, changes: list[FileChange], cwd: str, status: str) -> dict[str, Any]:
    """A `fileChange` item (§4, apply_patch); relative paths are resolved against `cwd`."""
    return {
        "type": "fileChange",
        "id": item_id,
        "changes": [
            {
                "path": change.path if change.path.startswith("/") else f"{cwd}/{change.path}",
                "kind": {"type": change.kind}
                if change.kind != "update"
                else {"type": "update", "move_path": None},
                "diff": change.diff,
            }
            for change in changes
        ],
        "status": status,
    }


def unified_diff(changes: list[FileChange]) -> str:
    """A `turn/diff/updated.diff` text for `changes` (§4: `diff --git a/… b/…`)."""
    parts = []
    for change in changes:
        name = change.path.lstrip("/")
        lines = "".join(f"+{line}\n" for line in change.diff.splitlines())
        parts.append(f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n{lines}")
    return "".join(parts)


def dynamic_tool_call(
    item_id: str,
    tool: str,
    arguments: dict[str, Any],
    namespace: str | None,
    *,
    status: str,
    content_items: list[dict[str, Any]] | None = None,
    success: bool | None = None,
) -> dict[str, Any]:
    """A `dynamicToolCall` item (§4) wrapping an `item/tool/call` request."""
    return {
        "type": "dynamicToolCall",
        "id": item_id,
        "tool": tool,
        "namespace": namespace,
        "arguments": arguments,
        "status": status,
        "contentItems": content_items,
        "success": success,
        "durationMs": None if status == "inProgress" else 1,
    }
