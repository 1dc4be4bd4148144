"""Event throughput (issue 7 §1): the bare parse loop, the official SDK, and our runner.

The stream: `bench/scenarios/throughput-100k-10k.json` played once on the fake
app-server (10 000 `item/commandExecution/outputDelta`, 100 000
`item/agentMessage/delta`, the item and turn notifications around them, `turn/completed`)
and recorded; every consumer then reads that identical byte stream from
`bench/bin/codex`, which replays it as fast as the pipe takes it, so the consumer sets
the pace. Each consumer's window runs from `turn/start` to `turn/completed`:

- (a) bare loop: read stdout lines, `json.loads` each, stop at `turn/completed`;
- (b) `openai-codex` 0.163.0 pointed at the replay binary: the sync
  `TurnHandle.stream()` and the async `AsyncTurnHandle.stream()`, only consuming;
- (c) `python -m runner run` against the fake manager: consuming, classifying, masking,
  coalescing and delivering; the window ends when the terminal report is stored (it
  starts at the runner's `turn.started` event, whose time has millisecond resolution).

Also shown: the live fake app-server's own emission rate (the bare loop reading the
fake directly) and the runner's peak RSS. Events/s = stream notifications / window.

Run: `uv run --frozen --extra bench python bench/bench_throughput.py [--runs N]`
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import anyio
from _common import (
    REPLAY_LAUNCHER,
    SCENARIOS_DIR,
    Row,
    event_time,
    parse_args,
    print_table,
    write_json,
)
from _stream import (
    INPUT,
    Recording,
    bare_client,
    delta_text,
    record_stream,
    replay_home,
    runner_on_stream,
)
from openai_codex import AsyncCodex, Codex, CodexConfig
from replay_codex import RECORDING_NAME

from fakes.app_server import LAUNCHER
from fakes.stack import local_stack

SCENARIO = SCENARIOS_DIR / "throughput-100k-10k.json"


def bare_loop(argv: list[str], home: Path) -> tuple[int, float]:
    """(a): notifications read and seconds from `turn/start` to `turn/completed`."""
    with bare_client(argv, home) as client:
        thread_id = client.handshake(home)
        started = time.perf_counter()
        client.send("turn/start", {"threadId": thread_id, "input": INPUT})
        count = 0
        for line in client.stdout:
            message = json.loads(line)
            if "id" in message:
                continue
            count += 1
            if message.get("method") == "turn/completed":
                break
        return count, time.perf_counter() - started


def _sdk_config(home: Path) -> CodexConfig:
    return CodexConfig(codex_bin=str(REPLAY_LAUNCHER), env={"CODEX_HOME": str(home)}, cwd=str(home))


def sdk_sync(home: Path) -> tuple[int, float]:
    """(b) sync: `Thread.turn(...)` then iterate `TurnHandle.stream()` to the end."""
    with Codex(_sdk_config(home)) as codex:
        thread = codex.thread_start(cwd=str(home))
        started = time.perf_counter()
        handle = thread.turn("Go.")
        count = sum(1 for _ in handle.stream())
        return count, time.perf_counter() - started


async def _sdk_async(home: Path) -> tuple[int, float]:
    async with AsyncCodex(_sdk_config(home)) as codex:
        thread = await codex.thread_start(cwd=str(home))
        started = time.perf_counter()
        handle = await thread.turn("Go.")
        count = 0
        async for _ in handle.stream():
            count += 1
        return count, time.perf_counter() - started


def sdk_async(home: Path) -> tuple[int, float]:
    """(b) async: `await AsyncThread.turn(...)`, then `async for` over its stream."""
    return asyncio.run(_sdk_async(home))


async def runner_runs(
    recording: Recording, root: Path, runs: int, rate: Row, rss: Row, cpu: Row
) -> None:
    """(c): the runner end to end, `runs` times, on the recording."""
    async with local_stack(root / "stack", []) as stack:
        for _ in range(runs):
            result = await runner_on_stream(stack, provider_files={RECORDING_NAME: recording.path})
            if delta_text(result.events, "agentMessage") != "x" * 100_000:
                raise AssertionError("the agentMessage deltas were not delivered whole")
            if delta_text(result.events, "commandExecution").count("\n") != 10_000:
                raise AssertionError("the command output deltas were not delivered whole")
            rate.values.append(recording.notifications / result.turn_seconds)
            rss.values.append(result.process.peak_rss_bytes / 2**20)
            [started] = [e for e in result.events if e["type"] == "turn.started"]
            turn_cpu = result.process.cpu_since(event_time(started))
            cpu.values.append(turn_cpu / recording.notifications * 100_000)


def main() -> None:
    args = parse_args(__doc__)
    rows = {
        key: Row(label, unit="events/s")
        for key, label in [
            ("fake", "fake app-server emitting, bare loop reading (producer rate)"),
            ("a", "(a) bare loop: readline + json.loads (replay)"),
            ("b_sync", "(b) openai-codex sync TurnHandle.stream()"),
            ("b_async", "(b) openai-codex async AsyncTurnHandle.stream()"),
            ("c", "(c) runner end to end, until the terminal report is stored"),
        ]
    }
    rss = Row("(c) runner peak RSS (runner process alone)", unit="MiB", fmt="{:.1f}")
    cpu = Row("(c) runner CPU from turn.started to exit, per 100,000 events", unit="s")
    cpu.fmt = "{:.2f}"
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        root = Path(tmp)
        recording = record_stream(SCENARIO, root)
        home = replay_home(recording, root / "replay-home")
        fake_home = root / "fake-home"
        fake_home.mkdir()
        (fake_home / "fake-codex-scenario.json").write_bytes(SCENARIO.read_bytes())
        counts: dict[str, int] = {}
        for _ in range(args.runs):
            consumers: list[tuple[str, Callable[[], tuple[int, float]]]] = [
                ("fake", partial(bare_loop, [str(LAUNCHER), "app-server"], fake_home)),
                ("a", partial(bare_loop, [str(REPLAY_LAUNCHER), "app-server"], home)),
                ("b_sync", partial(sdk_sync, home)),
                ("b_async", partial(sdk_async, home)),
            ]
            for key, measure in consumers:
                count, seconds = measure()
                counts[key] = count
                rows[key].values.append(recording.notifications / seconds)
        anyio.run(runner_runs, recording, root, args.runs, rows["c"], rss, cpu)
    ratios = [
        Row("c / a", [c / a for c, a in zip(rows["c"].values, rows["a"].values, strict=True)]),
        Row(
            "c / b sync",
            [c / b for c, b in zip(rows["c"].values, rows["b_sync"].values, strict=True)],
        ),
        Row(
            "c / b async",
            [c / b for c, b in zip(rows["c"].values, rows["b_async"].values, strict=True)],
        ),
    ]
    for row in ratios:
        row.fmt, row.unit = "{:.2f}", "×"
    table = [*rows.values(), *ratios, rss, cpu]
    title = "Event throughput (issue 7 §1)"
    print_table(
        title,
        table,
        [
            f"stream: {recording.notifications:,} notifications, {recording.bytes / 1e6:.1f} MB;"
            f" notifications seen per consumer (last run): {counts}",
            "ratios are per run (run i of c over run i of a/b), then the median",
        ],
    )
    write_json(args.json, title, table)


if __name__ == "__main__":
    main()
