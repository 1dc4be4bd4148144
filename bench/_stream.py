"""The recorded throughput stream and the runner-against-a-fake-manager harness.

`record_stream` plays a scenario on the fake app-server once with a bare stdio client
and writes what it emitted for the turn (see `replay_codex.py`). `runner_on_stream` runs
the real runner on that recording (replayed by `bench/bin/codex`) against a fake manager
and measures the turn from the runner's `turn.started` event to the terminal report
being stored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
from _common import PROJECT_ROOT, REPLAY_LAUNCHER, RunnerRun, check_contiguous, event_time
from _common import run_runner as run_runner_process
from replay_codex import RECORDING_NAME

from fakes.app_server import LAUNCHER
from fakes.manager import example_job
from fakes.stack import LocalStack

INPUT = [{"type": "text", "text": "Go.", "text_elements": []}]


class BareClient:
    """A blocking stdio JSON-RPC client: write a request, read lines until its answer."""

    def __init__(self, argv: list[str], codex_home: Path) -> None:
        env = {**os.environ, "CODEX_HOME": str(codex_home)}
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=codex_home,
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        self._ids = 0

    def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        """Send a request (or, with `params` None and method `initialized`, a notification)."""
        message: dict[str, Any] = {"method": method}
        if method != "initialized":
            self._ids += 1
            message["id"] = self._ids
        if params is not None:
            message["params"] = params
        self.stdin.write(json.dumps(message).encode() + b"\n")
        self.stdin.flush()
        return self._ids

    def until_answer(self, request_id: int, skipped: list[bytes] | None = None) -> Any:
        """Read until the answer of `request_id`; other lines go to `skipped`."""
        for line in self.stdout:
            message = json.loads(line)
            if message.get("id") == request_id and "method" not in message:
                return message["result"]
            if skipped is not None:
                skipped.append(line)
        raise EOFError("the server closed stdout")

    def handshake(self, cwd: Path) -> str:
        """`initialize`, `initialized`, `thread/start`; returns the thread id."""
        info = {"name": "bench", "title": "bench", "version": "0"}
        self.until_answer(
            self.send("initialize", {"clientInfo": info, "capabilities": {"experimentalApi": True}})
        )
        self.send("initialized")
        result = self.until_answer(self.send("thread/start", {"cwd": str(cwd)}))
        return str(result["thread"]["id"])

    def close(self) -> None:
        """Close stdin and reap the server."""
        self.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def bare_client(argv: list[str], codex_home: Path) -> Iterator[BareClient]:
    """A `BareClient` on `argv`, closed on exit."""
    client = BareClient(argv, codex_home)
    try:
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class Recording:
    """A recorded turn: the file and how many notifications it holds."""

    path: Path
    notifications: int
    bytes: int


def record_stream(scenario: Path, directory: Path) -> Recording:
    """Play `scenario` on the fake app-server and record its turn into `directory`."""
    home = directory / "record-home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(scenario, home / "fake-codex-scenario.json")
    results: dict[str, Any] = {}
    lines: list[bytes] = []
    with bare_client([str(LAUNCHER), "app-server"], home) as client:
        info = {"name": "bench", "title": "bench", "version": "0"}
        results["initialize"] = client.until_answer(
            client.send(
                "initialize", {"clientInfo": info, "capabilities": {"experimentalApi": True}}
            )
        )
        client.send("initialized")
        results["thread/start"] = client.until_answer(
            client.send("thread/start", {"cwd": str(home)})
        )
        thread_id = results["thread/start"]["thread"]["id"]
        turn = client.send("turn/start", {"threadId": thread_id, "input": INPUT})
        results["turn/start"] = client.until_answer(turn, skipped=lines)
        for line in client.stdout:
            lines.append(line)
            if json.loads(line).get("method") == "turn/completed":
                break
    path = directory / RECORDING_NAME
    with path.open("wb") as out:
        out.write(json.dumps({"results": results}).encode() + b"\n")
        for line in lines:
            out.write(line)
    return Recording(path, len(lines), sum(len(line) for line in lines))


def replay_home(recording: Recording, directory: Path) -> Path:
    """A `CODEX_HOME` holding the recording for `bench/bin/codex`."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(recording.path, directory / RECORDING_NAME)
    return directory


@dataclass
class StreamRun:
    """One runner run on a stream: its process, the turn window and what was stored."""

    process: RunnerRun
    turn_seconds: float
    events: list[dict[str, Any]]
    terminal: dict[str, Any]


async def runner_on_stream(
    stack: LocalStack,
    *,
    codex_bin: Path = REPLAY_LAUNCHER,
    provider_files: dict[str, Path],
    heartbeat_interval_seconds: int = 10,
    timeout_seconds: float = 170.0,
) -> StreamRun:
    """Run the runner on one job whose backend is `codex_bin`; check nothing was lost.

    Args:
        stack: the fake manager and directories.
        codex_bin: the backend launcher (the replay, or the fake app-server).
        provider_files: name in the provider home → file to copy there.
        heartbeat_interval_seconds: the claim's heartbeat interval.
        timeout_seconds: bound on the whole run.

    Raises:
        AssertionError: the runner failed, events are not contiguous, or the terminal
            report is not `succeeded`.
    """
    for name, source in provider_files.items():
        shutil.copy(source, stack.provider_home / name)
    job = example_job()
    stack.manager.add_job(job, heartbeat_interval_seconds=heartbeat_interval_seconds)
    env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(codex_bin))
    terminal_at = 0.0
    async with anyio.create_task_group() as tg:

        async def watch_terminal() -> None:
            nonlocal terminal_at
            await stack.manager.wait_terminal(job["runId"], job["attemptId"])
            terminal_at = time.time()

        tg.start_soon(watch_terminal)
        process = await run_runner_process(env, timeout_seconds=timeout_seconds)
        with anyio.move_on_after(5):
            await stack.manager.wait_terminal(job["runId"], job["attemptId"])
        tg.cancel_scope.cancel()
    for name in provider_files:
        (stack.provider_home / name).unlink()
    terminal = stack.manager.terminal(job["runId"], job["attemptId"])
    events = stack.manager.events(job["runId"], job["attemptId"])
    if process.returncode != 0 or terminal is None or terminal.get("status") != "succeeded":
        raise AssertionError(
            f"runner exit {process.returncode}, terminal {terminal}: {process.stderr[-1500:]}"
        )
    check_contiguous(events)
    [started] = [e for e in events if e["type"] == "turn.started"]
    return StreamRun(process, terminal_at - event_time(started), events, terminal)


def delta_text(events: list[dict[str, Any]], item_type: str) -> str:
    """The concatenated `item.delta` text of one item type, in seq order."""
    return "".join(
        e["data"]["text"]
        for e in events
        if e["type"] == "item.delta" and e["data"]["itemType"] == item_type
    )


__all__ = [
    "PROJECT_ROOT",
    "BareClient",
    "Recording",
    "StreamRun",
    "bare_client",
    "delta_text",
    "record_stream",
    "replay_home",
    "runner_on_stream",
]
