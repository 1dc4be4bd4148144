"""Delivery latency (issue 7 §2): backend writes a delta → the fake manager stores it.

The fake app-server paces `item/agentMessage/delta` at 1 000/s for 10 s and at
10 000/s for 5 s (`bench/scenarios/latency-*.json`, knobs `deltasPerSecond` and
`stampDeltas`) and appends to each delta `<µs since the epoch>` taken as the line is
queued for its stdout. The runner coalesces deltas into `item.delta` events; the fake
manager's live feed (`mgr.subscribe()`) sees each stored event with its storage time,
and every stamp inside it gives one sample: storage time − stamp. Each run reports p50
and p99 over all deltas of the run; the table shows the median over runs and min–max.
Same machine, same clock, so no clock skew.

Run: `uv run --frozen --extra bench python bench/bench_latency.py [--runs N]`
"""

from __future__ import annotations

import re
import statistics
import tempfile
from pathlib import Path

import anyio
from _common import SCENARIOS_DIR, Row, parse_args, print_table, write_json
from _stream import runner_on_stream

from fakes.app_server import LAUNCHER
from fakes.stack import LocalStack, local_stack

STAMP = re.compile(r"<(\d+)>")
RATES = {1_000: "latency-1k-per-s.json", 10_000: "latency-10k-per-s.json"}


def percentile(samples: list[float], q: float) -> float:
    """The `q`-quantile (0..1) by nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def one_run(stack: LocalStack, scenario: Path) -> tuple[list[float], float]:
    """Latency samples (ms) of every delta of one runner run on `scenario`, and the
    runner's events posts per second while the deltas flowed."""
    samples: list[float] = []
    first_request = len(stack.manager.requests)
    with stack.manager.subscribe(max_buffer=1_000_000) as feed:
        async with anyio.create_task_group() as tg:

            async def collect() -> None:
                async for stored in feed:
                    data = stored.event.get("data") or {}
                    if stored.event["type"] != "item.delta" or data.get("itemType") != (
                        "agentMessage"
                    ):
                        continue
                    stored_us = stored.stored_at.timestamp() * 1e6
                    samples.extend((stored_us - int(m)) / 1000 for m in STAMP.findall(data["text"]))

            tg.start_soon(collect)
            await runner_on_stream(
                stack,
                codex_bin=LAUNCHER,
                provider_files={"fake-codex-scenario.json": scenario},
                heartbeat_interval_seconds=10,
            )
            await anyio.sleep(0.2)  # let the feed hand over the last stored events
            tg.cancel_scope.cancel()
        if feed.dropped:
            raise AssertionError(f"the feed dropped {feed.dropped} events")
    posts = [
        r.monotonic
        for r in stack.manager.requests[first_request:]
        if r.path.endswith("/events")
        and any(
            e.get("type") == "item.delta"
            for e in (r.body.get("events") or [] if isinstance(r.body, dict) else [])
        )
    ]
    rate = (len(posts) - 1) / (posts[-1] - posts[0]) if len(posts) > 1 else float("nan")
    return samples, rate


async def run_all(runs: int) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        async with local_stack(Path(tmp), []) as stack:
            for rate, name in RATES.items():
                p50 = Row(f"p50 at {rate:,} events/s", unit="ms", fmt="{:.0f}")
                p99 = Row(f"p99 at {rate:,} events/s", unit="ms", fmt="{:.0f}")
                worst = Row(f"max at {rate:,} events/s", unit="ms", fmt="{:.0f}")
                posts = Row(f"events posts/s carrying deltas at {rate:,} events/s", unit="req/s")
                posts.fmt = "{:.0f}"
                counts = []
                for _ in range(runs):
                    samples, post_rate = await one_run(stack, SCENARIOS_DIR / name)
                    posts.values.append(post_rate)
                    counts.append(len(samples))
                    p50.values.append(percentile(samples, 0.50))
                    p99.values.append(percentile(samples, 0.99))
                    worst.values.append(max(samples))
                rows += [p50, p99, worst, posts]
                notes.append(
                    f"{rate:,}/s: {statistics.median(counts):,.0f} deltas per run (all stamped)"
                )
    return rows, notes


def main() -> None:
    args = parse_args(__doc__)
    rows, notes = anyio.run(run_all, args.runs)
    title = "Latency: backend line → event stored by the manager (issue 7 §2)"
    print_table(title, rows, notes)
    write_json(args.json, title, rows)


if __name__ == "__main__":
    main()
