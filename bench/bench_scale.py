"""Scale (issue 7 §7): 50 runners at once against one fake manager, on this machine.

One fake manager (in this process, real loopback HTTP) holds 50 jobs; 50 runner
processes (`python -m runner run`) start together, each with its own fake app-server
backend playing `bench/scenarios/scale-small-answer.json` (20 command output deltas,
2 000 agentMessage deltas). A run passes when every attempt has a `succeeded` terminal
report, its events are exactly seq 1..N, and the delivered deltas rebuild the whole
answer (zero events lost). Wall time runs from the first spawn to the last runner's
exit.

Run: `uv run --frozen --extra bench python bench/bench_scale.py [--runs N] [--runners N]`
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio
from _common import (
    SCENARIOS_DIR,
    Row,
    check_contiguous,
    print_table,
    run_runner,
    write_json,
)
from _stream import delta_text

from fakes.app_server import LAUNCHER
from fakes.manager import example_job
from fakes.stack import LocalStack, local_stack

SCENARIO = SCENARIOS_DIR / "scale-small-answer.json"


async def one_run(stack: LocalStack, runners: int) -> tuple[float, int, float]:
    """(wall seconds, events stored, peak RSS of one runner in MiB) of one run.

    Raises:
        AssertionError: an attempt did not succeed or lost an event.
    """
    jobs = [example_job() for _ in range(runners)]
    envs = []
    for job in jobs:
        stack.manager.add_job(job, heartbeat_interval_seconds=10)
        envs.append(stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(LAUNCHER)))
    peaks: list[int] = []
    failures: list[str] = []
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        for env in envs:

            async def one(env: dict[str, str] = env) -> None:
                result = await run_runner(env, timeout_seconds=170)
                peaks.append(result.peak_rss_bytes)
                if result.returncode != 0:
                    failures.append(result.stderr[-500:])

            tg.start_soon(one)
    wall = time.monotonic() - started
    if failures:
        raise AssertionError(f"{len(failures)} runners failed: {failures[0]}")
    stored = 0
    for job in jobs:
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = stack.manager.events(job["runId"], job["attemptId"])
        assert terminal is not None
        assert terminal["status"] == "succeeded", terminal
        check_contiguous(events)
        assert delta_text(events, "agentMessage") == "y" * 2000
        assert delta_text(events, "commandExecution").count("\n") == 20
        stored += len(events)
    return wall, stored, max(peaks) / 2**20


async def run_all(runs: int, runners: int) -> tuple[list[Row], list[str]]:
    wall = Row(f"{runners} runners at once: first spawn → last exit", unit="s", fmt="{:.1f}")
    per = Row("  wall time per runner (wall / runners)", unit="s", fmt="{:.2f}")
    lost = Row("events lost (seq gaps, missing deltas)", unit="events", fmt="{:.0f}")
    peak = Row("peak RSS of the largest runner", unit="MiB", fmt="{:.1f}")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        async with local_stack(Path(tmp), []) as stack:
            (stack.provider_home / "fake-codex-scenario.json").write_bytes(SCENARIO.read_bytes())
            for _ in range(runs):
                seconds, stored, rss = await one_run(stack, runners)
                wall.values.append(seconds)
                per.values.append(seconds / runners)
                lost.values.append(0)
                peak.values.append(rss)
            notes.append(f"all {runners} terminal and succeeded in every run; {stored} events/run")
    return [wall, per, lost, peak], notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (3 keeps it near 3 min)")
    parser.add_argument("--runners", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows, notes = anyio.run(run_all, args.runs, args.runners)
    title = "Scale: many runners against one fake manager (issue 7 §7)"
    print_table(title, rows, notes)
    write_json(args.json, title, rows)


if __name__ == "__main__":
    main()
