"""Rollout files: the fake's thread persistence under `CODEX_HOME/sessions` (§10).

Like Codex 0.169, a thread's rollout lives at
`CODEX_HOME/sessions/YYYY/MM/DD/rollout-<YYYY-MM-DDTHH-MM-SS>-<threadId>.jsonl`, and it
is materialized lazily: `thread/start` only names the path, the file appears when the
first turn starts (probed on the real 0.169.0: a thread that never ran a turn cannot be
resumed, `no rollout found for thread id …`). The lines are JSON objects with a `type`:
`session_meta` first, then `response_item` (user and assistant messages, raw function
call outputs) as the real server writes them, and two fake-only kinds the fake reads back
on `thread/resume`: `fake_turn_started`, `fake_turn` (a finished `Turn` with full
items) and `fake_token_usage`. A turn started but never finished resumes as
`interrupted` (§10, after a crash).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakes.app_server.shapes import CLI_VERSION, SOURCE


def rollout_path(codex_home: Path, thread_id: str, when: datetime | None = None) -> Path:
    """Where the rollout of a thread created at `when` (UTC; default now) lives."""
    moment = when or datetime.now(UTC)
    day = codex_home / "sessions" / moment.strftime("%Y/%m/%d")
    return day / f"rollout-{moment.strftime('%Y-%m-%dT%H-%M-%S')}-{thread_id}.jsonl"


def find_rollout(codex_home: Path, thread_id: str) -> Path | None:
    """The rollout of `thread_id` under `codex_home/sessions`, or None."""
    sessions = codex_home / "sessions"
    if not sessions.is_dir():
        return None
    for path in sorted(sessions.glob(f"*/*/*/rollout-*-{thread_id}.jsonl")):
        if path.is_file():
            return path
    return None


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def append(path: Path, kind: str, payload: dict[str, Any]) -> None:
    """Append one `{"timestamp", "type", "payload"}` line (creating the file's dirs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"timestamp": _stamp(), "type": kind, "payload": payload})
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def session_meta(
    thread_id: str, cwd: str, originator: str, model_provider: str, model: str
) -> dict[str, Any]:
    """The first line's payload (the real file's `session_meta`, abridged)."""
    return {
        "id": thread_id,
        "timestamp": _stamp(),
        "cwd": cwd,
        "originator": originator,
        "cli_version": CLI_VERSION,
        "source": SOURCE,
        "model_provider": model_provider,
        "model": model,
        "created_at": int(time.time()),
    }


def message_item(role: str, text: str) -> dict[str, Any]:
    """A `response_item` payload for a user or assistant message."""
    kind = "input_text" if role == "user" else "output_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


@dataclass
class LoadedRollout:
    """What `thread/resume` needs from a rollout file.

    Attributes:
        meta: the `session_meta` payload.
        turns: every turn, finished ones as written, unfinished ones as `interrupted`.
        preview: the first user message text.
        usage: the last `fake_token_usage` payload (`turnId`, `total`, `last`), if any.
    """

    meta: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)
    preview: str = ""
    usage: dict[str, Any] | None = None


def load_rollout(path: Path) -> LoadedRollout:
    """Read a rollout written by the fake (unknown or broken lines are skipped).

    Raises:
        OSError: the file cannot be read.
    """
    meta: dict[str, Any] = {}
    turns: dict[str, dict[str, Any]] = {}
    preview = ""
    usage: dict[str, Any] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict) or not isinstance(line.get("payload"), dict):
            continue
        kind, payload = line.get("type"), line["payload"]
        if kind == "session_meta":
            meta = payload
        elif kind == "fake_turn_started":
            turn_id = str(payload.get("id"))
            turns[turn_id] = {**payload, "status": "interrupted", "error": None}
        elif kind == "fake_turn":
            turns[str(payload.get("id"))] = payload
        elif kind == "fake_token_usage":
            usage = payload
        elif kind == "response_item" and not preview and payload.get("role") == "user":
            content = payload.get("content") or [{}]
            preview = str(content[0].get("text", ""))
    return LoadedRollout(meta=meta, turns=list(turns.values()), preview=preview, usage=usage)
