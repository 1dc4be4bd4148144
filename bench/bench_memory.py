"""Runner memory (issue 7 §3): peak RSS during the throughput flood, fast and slow manager.

The runner (`python -m runner run`, the process alone: psutil on its pid every 20 ms
plus its kernel high-water mark `VmHWM`; the backend is a separate process and is not
counted) consumes the recorded throughput stream of `bench_throughput.py` (110 012
notifications replayed by `bench/bin/codex`) against the fake manager, once answering
at once and once answering every request after 2 s (`knobs.add_latency(2.0)`). "Flat"
means the slow manager does not raise the peak: the table shows both peaks and their
difference.

Run: `uv run --frozen --extra bench python bench/bench_memory.py [--runs N]`
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from _common import SCENARIOS_DIR, Row, parse_args, print_table, write_json
from _stream import Recording, record_stream, runner_on_stream
from replay_codex import RECORDING_NAME

from fakes.stack import local_stack

SCENARIO = SCENARIOS_DIR / "throughput-100k-10k.json"
SLOW_MANAGER_SECONDS = 2.0


async def run_all(runs: int) -> list[Row]:
    fast = Row("peak RSS, manager answering at once", unit="MiB", fmt="{:.1f}")
    slow = Row(f"peak RSS, manager answering in {SLOW_MANAGER_SECONDS:.0f} s", unit="MiB")
    slow.fmt = "{:.1f}"
    growth = Row("slow − fast peak", unit="MiB", fmt="{:+.1f}")
    slow_wall = Row("runner wall time with the slow manager", unit="s", fmt="{:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        root = Path(tmp)
        recording: Recording = record_stream(SCENARIO, root)
        files = {RECORDING_NAME: recording.path}
        for _ in range(runs):
            async with local_stack(root / f"fast-{len(fast.values)}", []) as stack:
                run = await runner_on_stream(stack, provider_files=files)
                fast.values.append(run.process.peak_rss_bytes / 2**20)
            async with local_stack(root / f"slow-{len(slow.values)}", []) as stack:
                stack.manager.knobs.add_latency(SLOW_MANAGER_SECONDS)
                run = await runner_on_stream(stack, provider_files=files)
                slow.values.append(run.process.peak_rss_bytes / 2**20)
                slow_wall.values.append(run.process.wall_seconds)
            growth.values.append(slow.values[-1] - fast.values[-1])
    return [fast, slow, growth, slow_wall]


def main() -> None:
    args = parse_args(__doc__)
    rows = anyio.run(run_all, args.runs)
    title = "Runner peak RSS during the flood (issue 7 §3)"
    print_table(title, rows, ["RSS of the runner process only (the backend is excluded)"])
    write_json(args.json, title, rows)


if __name__ == "__main__":
    main()
