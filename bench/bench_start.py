"""Attempt start (issue 14): spawn → the model's first request, runner vs a bare client.

Both sides drive the same real Codex binary (the pin, `adapters.codex.binary`), the
same `CODEX_HOME` files (the scripted model's `config.toml`, `fakes.model`) and the
same scripted model on loopback, alternating in one run:

- bare: a blocking stdio client (`_stream.BareClient`) spawns `codex app-server` and
  sends `initialize`, `initialized`, `thread/start` (the runner's own thread params for
  the job) and `turn/start`;
- runner: `python -m runner run` on a plain job (no workspace, no bundles) against the
  fake manager, which it claims first.

The window of each is its spawn → the scripted model recording `POST /v1/responses`
(bench process clock). The runner's row is broken down by phase with its own events
(runner clock, ms, same machine): interpreter and imports until `run_from_environ`
(`runner.started` − `bootDurationMs`), then claim and set-up (`runner.started`), the
backend up (`backend.started`: `--version`, sandbox preflight, spawn, `initialize`),
`thread.started`, the turn start (`turn.started`), and the model's request.

Run: `uv run --frozen --extra bench python bench/bench_start.py [--runs N]`
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from _common import (
    PROJECT_ROOT,
    RUNNER_WRAPPER_ENV,
    Row,
    event_time,
    parse_args,
    print_table,
    write_json,
)
from _stream import INPUT, BareClient

from adapters.codex.binary import npm_native_binary
from contract.manager_api import Job
from fakes.manager import example_job
from fakes.model import SCRIPTS_DIR, load_script
from fakes.stack import LocalStack, local_stack
from runner.turn.backend_run import thread_params

PHASES = ("interpreter + imports", "claim + set-up", "backend up", "thread", "turn", "model")


def _bare_turn(binary: Path, home: Path, cwd: Path, params: dict[str, Any]) -> None:
    client = BareClient([str(binary), "app-server"], home)
    try:
        info = {"name": "bench", "title": "bench", "version": "0"}
        client.until_answer(
            client.send(
                "initialize", {"clientInfo": info, "capabilities": {"experimentalApi": True}}
            )
        )
        client.send("initialized")
        thread = client.until_answer(client.send("thread/start", params))["thread"]["id"]
        client.until_answer(client.send("turn/start", {"threadId": thread, "input": INPUT}))
        for line in client.stdout:
            if b'"turn/completed"' in line:
                break
    finally:
        client.close()


async def bare_start(stack: LocalStack, binary: Path, root: Path) -> float:
    """Seconds from spawning the bare client's app-server to the model's request."""
    home, cwd = root / "home", root / "cwd"
    shutil.copytree(stack.provider_home, home)
    cwd.mkdir()
    job = Job.model_validate(example_job())
    params = thread_params(job, cwd)
    number = len(stack.model.model_requests) + 1
    arrived = 0.0
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal arrived
            await stack.model.wait_for_request(number)
            arrived = time.monotonic()

        tg.start_soon(watch)
        started = time.monotonic()
        await anyio.to_thread.run_sync(_bare_turn, binary, home, cwd, params)
    return arrived - started


async def runner_start(stack: LocalStack, binary: Path) -> dict[str, float]:
    """Seconds from spawning the runner to the model's request, and its phases."""
    job = example_job(text="Say hello.")
    stack.manager.add_job(job)
    env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(binary))
    number = len(stack.model.model_requests) + 1
    arrived = 0.0
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal arrived
            await stack.model.wait_for_request(number)
            arrived = time.time()

        tg.start_soon(watch)
        spawned = time.time()
        result = await anyio.run_process(
            [
                *shlex.split(os.environ.get(RUNNER_WRAPPER_ENV, "")),
                sys.executable,
                "-m",
                "runner",
                "run",
            ],
            env=env,
            cwd=PROJECT_ROOT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    if result.returncode != 0:
        raise AssertionError(result.stderr.decode(errors="replace")[-2000:])
    events = stack.manager.events(job["runId"], job["attemptId"])
    at = {e["type"]: event_time(e) for e in reversed(events)}
    started = next(e for e in events if e["type"] == "runner.started")
    entered = at["runner.started"] - started["data"]["bootDurationMs"] / 1000
    marks = [
        spawned,
        entered,
        at["runner.started"],
        at["backend.started"],
        at["thread.started"],
        at["turn.started"],
        arrived,
    ]
    out = {name: b - a for name, (a, b) in zip(PHASES, itertools.pairwise(marks), strict=True)}
    out["total"] = arrived - spawned
    return out


async def run_all(runs: int) -> tuple[list[Row], list[str]]:
    binary = npm_native_binary()
    if binary is None:
        raise SystemExit("the pinned Codex binary is not installed (scripts/bootstrap)")
    bare = Row("bare client: spawn → model's first request", unit="s", fmt="{:.3f}")
    runner = Row("runner: spawn → model's first request", unit="s", fmt="{:.3f}")
    ratio = Row("runner / bare", unit="×", fmt="{:.2f}")
    phases = {name: Row(f"  runner phase: {name}", unit="s", fmt="{:.3f}") for name in PHASES}
    step = load_script(SCRIPTS_DIR / "plain-answer.json").steps[0]
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        root = Path(tmp)
        async with local_stack(root / "stack", [step] * (2 * runs + 2)) as stack:
            await bare_start(stack, binary, root / "warm")  # page cache, first-run costs
            for i in range(runs):
                bare.values.append(await bare_start(stack, binary, root / f"bare-{i}"))
                timing = await runner_start(stack, binary)
                runner.values.append(timing["total"])
                ratio.values.append(runner.values[-1] / bare.values[-1])
                for name in PHASES:
                    phases[name].values.append(timing[name])
    notes = [
        f"binary {binary}",
        "plain job: no workspace, no bundles; sandbox workspace-write (the runner preflights it)",
        "phases from the runner's events (ms clock); bare and runner alternate in each run",
    ]
    return [bare, runner, ratio, *phases.values()], notes


def main() -> None:
    args = parse_args(__doc__)
    rows, notes = anyio.run(run_all, args.runs)
    title = "Attempt start: spawn → the model's first request (issue 14)"
    print_table(title, rows, notes)
    write_json(args.json, title, rows)


if __name__ == "__main__":
    main()
