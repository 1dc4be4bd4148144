"""Shared pieces of the benchmarks: arguments, the machine, result tables, runner runs.

Every benchmark repeats its measurement `--runs` times and prints, per row, the median
and the min–max, below a header naming the machine, its load and the versions in play.
`run_runner` starts the real runner (`python -m runner run`) against a fake manager and
samples its RSS (the runner process alone, never the backend) until it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = PROJECT_ROOT / "bench"
SCENARIOS_DIR = BENCH_DIR / "scenarios"
REPLAY_LAUNCHER = BENCH_DIR / "bin" / "codex"
RSS_SAMPLE_SECONDS = 0.02
RUNNER_WRAPPER_ENV = "BENCH_RUNNER_WRAPPER"
"""Words put before `python -m runner run`, e.g. `py-spy record -o prof.txt -f raw --`
(then the RSS columns measure the wrapper, not the runner)."""


def parse_args(doc: str | None, default_runs: int = 5) -> argparse.Namespace:
    """`--runs N` (default `default_runs`) and `--json FILE` (also write the results)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=default_runs, help="repetitions (median)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    return parser.parse_args()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def _git_head() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "runner", "adapters"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (+ uncommitted runner/adapters changes)" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_header() -> str:
    """Machine, load average and versions, as lines for the top of a result table."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    memory_gib = psutil.virtual_memory().total / 2**30
    lines = [
        f"date      {datetime.now().isoformat(timespec='seconds')}",
        f"machine   {_cpu_model()}, {os.cpu_count()} cores, {memory_gib:.0f} GiB, "
        f"{platform.system()} {platform.release()}",
        f"load avg  {load} (1/5/15 min, when the runs ended)",
        f"python    {platform.python_version()}  runner {_git_head()}",
        "packages  "
        + "  ".join(
            f"{name} {_version(name)}"
            for name in ("openai-codex", "openai-codex-cli-bin", "anyio", "httpx", "pydantic")
        ),
    ]
    return "\n".join(lines)


@dataclass
class Row:
    """One result row: a label, one value per run, and how to show them."""

    label: str
    values: list[float] = field(default_factory=list)
    unit: str = ""
    fmt: str = "{:,.0f}"

    @property
    def median(self) -> float:
        """The median of the runs (nan when none)."""
        return statistics.median(self.values) if self.values else float("nan")

    def cells(self) -> tuple[str, str, str]:
        """(median, "min–max", n) as text."""
        if not self.values:
            return ("-", "-", "0")
        low, high = min(self.values), max(self.values)
        return (
            self.fmt.format(self.median),
            f"{self.fmt.format(low)}–{self.fmt.format(high)}",
            str(len(self.values)),
        )


def print_table(title: str, rows: Sequence[Row], notes: Sequence[str] = ()) -> None:
    """Print the machine header, then one line per row: median, min–max, runs, unit."""
    print(f"\n## {title}\n")
    print(machine_header())
    print()
    width = max(len(r.label) for r in rows)
    print(f"{'measurement':<{width}}  {'median':>12}  {'min–max':>25}  {'n':>2}  unit")
    for row in rows:
        median, span, count = row.cells()
        print(f"{row.label:<{width}}  {median:>12}  {span:>25}  {count:>2}  {row.unit}")
    for note in notes:
        print(f"  {note}")
    sys.stdout.flush()


def write_json(path: Path | None, title: str, rows: Sequence[Row], **extra: Any) -> None:
    """Write the rows (all run values) to `path` as JSON, when a path was given."""
    if path is None:
        return
    data = {
        "title": title,
        "header": machine_header(),
        "rows": [{"label": r.label, "unit": r.unit, "values": r.values} for r in rows],
        **extra,
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def event_time(event: Mapping[str, Any]) -> float:
    """An event's `time` (RFC 3339, ms) as seconds since the epoch."""
    from fakes.manager.clock import parse_time

    return parse_time(str(event["time"])).timestamp()


@dataclass
class RunnerRun:
    """How one runner process went.

    Attributes:
        returncode: its exit status.
        wall_seconds: spawn to exit.
        peak_rss_bytes: the highest RSS of the runner process alone (sampled every
            20 ms, and its kernel high-water mark `VmHWM` when readable).
        rss_samples: (seconds since spawn, RSS bytes).
        cpu_samples: (seconds since spawn, user + system CPU seconds of the process).
        spawned_at: the spawn, in seconds since the epoch.
    """

    returncode: int
    wall_seconds: float
    peak_rss_bytes: int
    rss_samples: list[tuple[float, int]]
    stderr: str = ""
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)
    spawned_at: float = 0.0

    def cpu_since(self, epoch_seconds: float) -> float:
        """CPU seconds the process used after `epoch_seconds` (20 ms sample resolution)."""
        if not self.cpu_samples:
            return float("nan")
        since = epoch_seconds - self.spawned_at
        before = [cpu for at, cpu in self.cpu_samples if at <= since]
        return self.cpu_samples[-1][1] - (before[-1] if before else 0.0)


def _vm_hwm_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


async def run_runner(
    env: Mapping[str, str],
    *,
    timeout_seconds: float = 170.0,
    on_sample: Callable[[float, int], None] | None = None,
) -> RunnerRun:
    """Run `python -m runner run` with `env` to its end, sampling its RSS.

    Raises:
        TimeoutError: it did not end within `timeout_seconds` (it is killed).
    """
    started = time.monotonic()
    spawned_at = time.time()
    wrapper = shlex.split(os.environ.get(RUNNER_WRAPPER_ENV, ""))
    process = await anyio.open_process(
        [*wrapper, sys.executable, "-m", "runner", "run"],
        env=dict(env),
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    samples: list[tuple[float, int]] = []
    cpu_samples: list[tuple[float, float]] = []
    peak = 0
    stderr = bytearray()
    ps = psutil.Process(process.pid)
    try:
        with anyio.fail_after(timeout_seconds):
            async with anyio.create_task_group() as tg:

                async def drain() -> None:
                    assert process.stderr is not None
                    async for chunk in process.stderr:
                        stderr.extend(chunk[-65536:])

                tg.start_soon(drain)
                while process.returncode is None:
                    try:
                        rss = ps.memory_info().rss
                        peak = max(peak, rss, _vm_hwm_bytes(process.pid))
                        times = ps.cpu_times()
                        cpu_samples.append((time.monotonic() - started, times.user + times.system))
                    except psutil.Error:
                        rss = 0
                    at = time.monotonic() - started
                    if rss:
                        samples.append((at, rss))
                        if on_sample is not None:
                            on_sample(at, rss)
                    with anyio.move_on_after(RSS_SAMPLE_SECONDS):
                        await process.wait()
                await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
    return RunnerRun(
        returncode=process.returncode or 0,
        wall_seconds=time.monotonic() - started,
        peak_rss_bytes=peak,
        rss_samples=samples,
        stderr=stderr.decode(errors="replace")[-4000:],
        cpu_samples=cpu_samples,
        spawned_at=spawned_at,
    )


def check_contiguous(events: Sequence[Mapping[str, Any]]) -> None:
    """Raise AssertionError unless the stored seqs are exactly 1..N."""
    seqs = [int(e["seq"]) for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        raise AssertionError(f"events lost or reordered: {len(seqs)} stored, last {seqs[-1:]}")
