"""The attempt's on-disk spool: events before they are sent, acks, the terminal report.

Everything lives in `AGENTRUN_RUNTIME_HOME/.agentrun/` (an `emptyDir` that survives a
container restart in the same pod). `runner-id` keeps the runner's id across restarts,
so a re-claim returns the same lease (contract §2). Per attempt, `events.jsonl` is
append-only (each event is written, already masked, before it can be sent), `acked`
holds the manager's last `ackedSeq`, `backend.json` the backend's pid and start time (so
a restarted runner can end an orphaned backend), and `terminal.json` the terminal report
persisted before it is posted (contract §3, §7; issue "Delivery you can trust").

A spool that cannot be written (ENOSPC on a full runtime home, EIO, a read-only volume)
never stops the attempt (§10 `disk-full`, issue 21): the first failed write sets
`failure`, closes the file, and every later write is skipped, so events go on from memory
only (bounded by the event log, as during a manager outage) and the terminal report is
still delivered; the event log says so once with a `backend.warning`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from contract.manager_api import Event

log = logging.getLogger(__name__)

SPOOL_DIRNAME = ".agentrun"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def runner_id_for(runtime_home: Path) -> str:
    """This pod's runner id: read from the spool, or made once and saved (§2)."""
    root = runtime_home / SPOOL_DIRNAME
    root.mkdir(parents=True, exist_ok=True)
    path = root / "runner-id"
    try:
        existing = path.read_text().strip()
    except OSError:
        existing = ""
    if existing.startswith("rnr-"):
        return existing
    runner_id = f"rnr-{uuid.uuid4().hex[:16]}"
    try:
        _write_atomic(path, runner_id)
    except OSError as exc:  # e.g. ENOSPC: the id then lasts this process only
        log.warning("cannot save the runner id in %s: %s", path, exc.strerror)
    return runner_id


@dataclass
class Recovered:
    """What an earlier process of the same attempt left in the spool.

    Attributes:
        events: every spooled event, in seq order.
        acked_seq: the last `ackedSeq` it recorded.
        terminal: the terminal report body it persisted, if it got that far.
        backend: `{"pid", "createTime"}` of its backend, if one was started.
        workspace: the captured workspace result (§12), if it got that far.
    """

    events: list[Event] = field(default_factory=list)
    acked_seq: int = 0
    terminal: dict[str, Any] | None = None
    backend: dict[str, Any] | None = None
    workspace: dict[str, Any] | None = None

    def of_type(self, type: str) -> list[Event]:
        """The recovered events of one type."""
        return [e for e in self.events if e.type == type]


class Spool:
    """The spool directory of one attempt.

    Args:
        runtime_home: `AGENTRUN_RUNTIME_HOME`.
        attempt_id: the claimed job's `attemptId`.
    """

    def __init__(self, runtime_home: Path, attempt_id: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in attempt_id)
        self.dir = runtime_home / SPOOL_DIRNAME / "attempts" / safe
        self.events_path = self.dir / "events.jsonl"
        self.acked_path = self.dir / "acked"
        self.terminal_path = self.dir / "terminal.json"
        self.backend_path = self.dir / "backend.json"
        self.workspace_path = self.dir / "workspace.json"
        self.workspace_dir = self.dir / "workspace"
        self._file: IO[str] | None = None
        self.failure: OSError | None = None
        """The first write that failed; from then on the spool writes nothing."""

    def _failed(self, exc: OSError) -> None:
        if self.failure is None:
            self.failure = exc
            log.warning("the event spool %s cannot be written: %s", self.dir, exc.strerror)
        if self._file is not None:
            with suppress(OSError):
                self._file.close()
            self._file = None

    def exists(self) -> bool:
        """Whether an earlier process of this attempt spooled anything."""
        return self.events_path.exists() or self.terminal_path.exists()

    def recover(self) -> Recovered:
        """Read what an earlier process left; a torn last line is dropped."""
        found = Recovered()
        if self.events_path.exists():
            for line in self.events_path.read_text().splitlines():
                try:
                    event = Event.model_validate_json(line)
                except ValueError:
                    continue  # a line torn by the crash; its event was never sent
                if event.seq == len(found.events) + 1:
                    found.events.append(event)
        try:
            found.acked_seq = int(self.acked_path.read_text().strip() or 0)
        except (OSError, ValueError):
            found.acked_seq = 0
        found.terminal = self._read_json(self.terminal_path)
        found.backend = self._read_json(self.backend_path)
        found.workspace = self._read_json(self.workspace_path)
        return found

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def open(self) -> None:
        """Open the events file for appending (creating the directory)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._file = self.events_path.open("a", encoding="utf-8")

    def append(self, event: Event) -> None:
        """Append one event (flushed to the OS before the sender can see it).

        Never raises OSError: a failed write sets `failure` (see the module docstring).
        """
        if self.failure is not None:
            return
        try:
            if self._file is None:
                self.open()
            assert self._file is not None
            self._file.write(event.model_dump_json(by_alias=True) + "\n")
            self._file.flush()
        except OSError as exc:
            self._failed(exc)

    def _record(self, path: Path, text: str) -> None:
        if self.failure is not None:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(path, text)
        except OSError as exc:
            self._failed(exc)

    def record_ack(self, acked_seq: int) -> None:
        """Remember the manager's `ackedSeq` (skipped once the spool failed)."""
        self._record(self.acked_path, str(acked_seq))

    def record_backend(self, pid: int, create_time: float) -> None:
        """Remember the backend process (for a restarted runner to end it)."""
        self._record(self.backend_path, json.dumps({"pid": pid, "createTime": create_time}))

    def record_workspace(self, record: dict[str, Any]) -> None:
        """Persist the captured workspace result (§12) before it is published, so a
        restarted runner publishes the same commit and patch instead of capturing anew."""
        self._record(self.workspace_path, json.dumps(record))

    def record_terminal(self, body: dict[str, Any]) -> None:
        """Persist the terminal report before posting it (fsync'd with the events)."""
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                self._failed(exc)
        self._record(self.terminal_path, json.dumps(body))

    def close(self) -> None:
        """Close the events file (a failing flush only marks the spool failed)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self._failed(exc)
            self._file = None
