"""Manager load (issue 7 §6): requests/s of one runner, idle and under the flood; jitter.

- Idle: the fake app-server's turn is silent for 20 s (`bench/scenarios/idle-20s.json`,
  waiting on the model) with the manager's usual `heartbeatIntervalSeconds` of 10. The
  window runs from 1 s after the request carrying `turn.started` to 0.5 s before the
  one carrying the answer's `item.started`; every request of the runner inside it
  counts (events, heartbeats, the commands long poll).
- Flood: the recorded throughput stream of `bench_throughput.py` replayed by
  `bench/bin/codex`, with `heartbeatIntervalSeconds` = 1 so that several heartbeats fall
  inside it; the window runs from the request carrying `turn.started` to the terminal
  report. Heartbeat jitter = |gap between consecutive heartbeats − 1 s|, for the
  heartbeats that arrived inside that window (arrival times at the fake manager).
- Sustained flood: the replayed flood now ends in under a second, too short for a 1 s
  heartbeat to show jitter, so jitter is also measured over a paced flood: the live fake
  app-server emitting 10 000 deltas/s for 5 s (`latency-10k-per-s.json`).

Run: `uv run --frozen --extra bench python bench/bench_manager_load.py [--runs N]`
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import anyio
from _common import SCENARIOS_DIR, Row, parse_args, print_table, write_json
from _stream import record_stream, runner_on_stream
from replay_codex import RECORDING_NAME

from fakes.app_server import LAUNCHER
from fakes.manager.recording import RecordedRequest
from fakes.stack import LocalStack, local_stack

IDLE_SCENARIO = SCENARIOS_DIR / "idle-20s.json"
FLOOD_SCENARIO = SCENARIOS_DIR / "throughput-100k-10k.json"
PACED_SCENARIO = SCENARIOS_DIR / "latency-10k-per-s.json"


def _carries(request: RecordedRequest, predicate: Any) -> bool:
    body = request.body if isinstance(request.body, dict) else {}
    return request.path.endswith("/events") and any(predicate(e) for e in body.get("events") or [])


def _first(requests: list[RecordedRequest], predicate: Any) -> RecordedRequest:
    return next(r for r in requests if _carries(r, predicate))


async def idle_rate(stack: LocalStack) -> tuple[float, float]:
    """(requests/s, window seconds) while one runner's turn waits on the model."""
    first = len(stack.manager.requests)
    await runner_on_stream(
        stack, codex_bin=LAUNCHER, provider_files={"fake-codex-scenario.json": IDLE_SCENARIO}
    )
    requests = stack.manager.requests[first:]
    start = _first(requests, lambda e: e["type"] == "turn.started").monotonic + 1.0
    end = (
        _first(
            requests,
            lambda e: e["type"] == "item.started" and e["data"].get("itemType") == "agentMessage",
        ).monotonic
        - 0.5
    )
    inside = [r for r in requests if start <= r.monotonic <= end]
    return len(inside) / (end - start), end - start


async def flood_load(
    stack: LocalStack, recording: Path | None = None, scenario: Path | None = None
) -> dict[str, Any]:
    """Requests/s (all and by kind) and heartbeat gaps during one flood run.

    Args:
        recording: replay this recorded stream (`bench/bin/codex`), or
        scenario: play this scenario on the live fake app-server.
    """
    first = len(stack.manager.requests)
    if scenario is not None:
        await runner_on_stream(
            stack,
            codex_bin=LAUNCHER,
            provider_files={"fake-codex-scenario.json": scenario},
            heartbeat_interval_seconds=1,
        )
    else:
        assert recording is not None
        await runner_on_stream(
            stack, provider_files={RECORDING_NAME: recording}, heartbeat_interval_seconds=1
        )
    requests = stack.manager.requests[first:]
    start = _first(requests, lambda e: e["type"] == "turn.started").monotonic
    end = next(r for r in requests if r.path.endswith("/terminal")).monotonic
    inside = [r for r in requests if start <= r.monotonic <= end]
    beats = [r.monotonic for r in inside if r.path.endswith("/heartbeat")]
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    seconds = end - start
    posts = sum(r.path.endswith("/events") for r in inside)
    return {
        "seconds": seconds,
        "all": len(inside) / seconds,
        "events": posts / seconds,
        "count_all": len(inside),
        "count_events": posts,
        "gaps": gaps,
    }


async def run_all(runs: int) -> tuple[list[Row], list[str]]:
    idle = Row("idle turn: requests/s (heartbeat interval 10 s)", unit="req/s", fmt="{:.3f}")
    flood_all = Row("flood: requests/s, all (heartbeat interval 1 s)", unit="req/s")
    flood_events = Row("flood: requests/s, events posts only", unit="req/s")
    jitter_max = Row("flood: heartbeat jitter, max", unit="ms", fmt="{:.0f}")
    jitter_med = Row("flood: heartbeat jitter, median", unit="ms", fmt="{:.0f}")
    paced_max = Row("paced 10k ev/s flood, 5 s: heartbeat jitter, max", unit="ms", fmt="{:.0f}")
    paced_med = Row("paced 10k ev/s flood, 5 s: jitter, median", unit="ms", fmt="{:.0f}")
    count_all = Row("flood: requests in the window, all", unit="requests", fmt="{:.0f}")
    count_events = Row("flood: events posts in the window", unit="requests", fmt="{:.0f}")
    window_s = Row("flood: window, turn.started → terminal report", unit="s", fmt="{:.2f}")
    paced_posts = Row("paced 10k ev/s flood, 5 s: events posts/s", unit="req/s", fmt="{:.1f}")
    for row in (flood_all, flood_events):
        row.fmt = "{:.1f}"
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-manager-load-") as tmp:
        root = Path(tmp)
        recording = record_stream(FLOOD_SCENARIO, root)
        async with local_stack(root / "stack", []) as stack:
            beats = 0
            for _ in range(runs):
                rate, window = await idle_rate(stack)
                idle.values.append(rate)
                load = await flood_load(stack, recording.path)
                flood_all.values.append(load["all"])
                flood_events.values.append(load["events"])
                count_all.values.append(load["count_all"])
                count_events.values.append(load["count_events"])
                window_s.values.append(load["seconds"])
                jitters = [abs(gap - 1.0) * 1000 for gap in load["gaps"]]
                beats += len(load["gaps"])
                if jitters:
                    jitter_max.values.append(max(jitters))
                    jitter_med.values.append(sorted(jitters)[len(jitters) // 2])
                paced = await flood_load(stack, scenario=PACED_SCENARIO)
                paced_posts.values.append(paced["events"])
                paced_jitters = [abs(gap - 1.0) * 1000 for gap in paced["gaps"]]
                if paced_jitters:
                    paced_max.values.append(max(paced_jitters))
                    paced_med.values.append(sorted(paced_jitters)[len(paced_jitters) // 2])
            notes.append(f"idle window {window:.1f} s per run; {beats} heartbeat gaps in floods")
    rows = [idle, flood_all, flood_events, count_all, count_events, window_s]
    return [*rows, jitter_max, jitter_med, paced_posts, paced_max, paced_med], notes


def main() -> None:
    args = parse_args(__doc__)
    rows, notes = anyio.run(run_all, args.runs)
    title = "Manager load of one runner (issue 7 §6)"
    print_table(title, rows, notes)
    write_json(args.json, title, rows)


if __name__ == "__main__":
    main()
