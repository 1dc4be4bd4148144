"""What the process tree costs and how the backend died: cgroup OOM counts and RSS/CPU.

The OOM killer leaves no trace in an exit status beyond signal 9, so the runner reads
its cgroup's `oom_kill` counter before the backend starts and after it exits, and calls a
SIGKILL death with a higher count `oom-killed`. Resource snapshots split the runner, the
backend tree and everything else (re-parented orphans, git) so heartbeats keep the §4
`resources` shape for the total and events can carry the breakdown.
"""

from __future__ import annotations

import signal
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def _own_cgroup_counter_files(cgroup_root: Path, proc_self_cgroup: Path) -> list[Path]:
    """Where this process's OOM-kill counter may be, most authoritative first."""
    try:
        text = proc_self_cgroup.read_text()
    except OSError:
        return []
    files: list[Path] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        relative = path.strip().lstrip("/")
        if hierarchy == "0" and controllers == "":
            files.insert(0, cgroup_root / relative / "memory.events")
        elif "memory" in controllers.split(","):
            files.append(cgroup_root / "memory" / relative / "memory.oom_control")
    return files


def _oom_kill_line(path: Path) -> int | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def cgroup_oom_kill_count(
    *, cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> int | None:
    """How many processes of this process's cgroup the OOM killer has killed so far.

    Reads the `oom_kill` line of cgroup v2 `memory.events` ("the number of processes
    belonging to this cgroup killed by any kind of OOM killer", Linux
    Documentation/admin-guide/cgroup-v2.rst; hierarchical, so it includes child
    cgroups) of the cgroup named by the `0::<path>` line of `/proc/self/cgroup`. On a
    cgroup v1 (or hybrid) host it falls back to the `oom_kill` line of the memory
    controller's `memory.oom_control` (Linux ≥ 4.13).

    Args:
        cgroup_root: where the cgroup filesystem is mounted (tests pass a fixture tree).
        proc_self_cgroup: the `/proc/self/cgroup` file to read.

    Returns:
        The cumulative count, or None when no counter is readable (not Linux, no memory
        controller, an unmounted or foreign cgroup path). Never raises.
    """
    for path in _own_cgroup_counter_files(cgroup_root, proc_self_cgroup):
        count = _oom_kill_line(path)
        if count is not None:
            return count
    return None


@dataclass(frozen=True)
class ExitCause:
    """Why the backend ended, for the failure detail of `backend-exited`.

    Attributes:
        kind: `oom-killed`, `signal`, `exit`, or `unknown` (not reaped).
        returncode: as asyncio reports it: negative for a signal, None if unknown.
        oom_kills: how many OOM kills the cgroup counted meanwhile (None if unreadable);
            can be positive with another kind when the killer picked another process.
    """

    kind: Literal["oom-killed", "signal", "exit", "unknown"]
    returncode: int | None
    oom_kills: int | None = None

    @property
    def label(self) -> str:
        """`oom-killed`, `signal:SIGSEGV`, `exit:1` or `unknown`."""
        if self.kind == "signal" and self.returncode is not None:
            return f"signal:{_signal_name(-self.returncode)}"
        if self.kind == "exit":
            return f"exit:{self.returncode}"
        return self.kind

    def __str__(self) -> str:
        return self.label


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def classify_exit(
    returncode: int | None, oom_before: int | None, oom_after: int | None
) -> ExitCause:
    """Say why the backend ended, calling a SIGKILL with a higher OOM count `oom-killed`.

    Args:
        returncode: the backend's return code (negative: killed by that signal), None if
            it was never reaped.
        oom_before: `cgroup_oom_kill_count()` before the backend was spawned.
        oom_after: `cgroup_oom_kill_count()` after it exited.

    Returns:
        The cause; `str(cause)` is `oom-killed`, `signal:<NAME>`, `exit:<code>` or
        `unknown`.
    """
    oom_kills = None
    if oom_before is not None and oom_after is not None:
        oom_kills = max(0, oom_after - oom_before)
    if returncode is None:
        return ExitCause("unknown", None, oom_kills)
    if returncode < 0:
        if -returncode == signal.SIGKILL and oom_kills:
            return ExitCause("oom-killed", returncode, oom_kills)
        return ExitCause("signal", returncode, oom_kills)
    return ExitCause("exit", returncode, oom_kills)


@dataclass(frozen=True)
class Usage:
    """Resources of a set of live processes.

    Attributes:
        rss_bytes: summed resident set size, in bytes (shared pages count once per
            process, so this overstates the cgroup's usage).
        cpu_seconds: user + system CPU, including that of their reaped children.
        process_count: live (non-zombie) processes.
    """

    rss_bytes: int = 0
    cpu_seconds: float = 0.0
    process_count: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.rss_bytes + other.rss_bytes,
            round(self.cpu_seconds + other.cpu_seconds, 3),
            self.process_count + other.process_count,
        )

    def to_wire(self) -> dict[str, Any]:
        """The heartbeat §4 `resources` shape: `{rssBytes, cpuSeconds, processCount}`."""
        return {
            "rssBytes": self.rss_bytes,
            "cpuSeconds": self.cpu_seconds,
            "processCount": self.process_count,
        }


@dataclass(frozen=True)
class ResourceSnapshot:
    """The runner, the backend tree and the other descendants, apart.

    Attributes:
        runner: the runner process itself.
        backend: the backend process and its live descendants (zero if not running).
        other: every other live descendant (orphans re-parented to the runner, git).
    """

    runner: Usage
    backend: Usage
    other: Usage

    @property
    def total(self) -> Usage:
        """Everything: what heartbeats send as `resources`."""
        return self.runner + self.backend + self.other

    def to_wire(self) -> dict[str, Any]:
        """`{rssBytes, cpuSeconds, processCount, breakdown: {runner, backend, other}}`."""
        return {
            **self.total.to_wire(),
            "breakdown": {
                "runner": self.runner.to_wire(),
                "backend": self.backend.to_wire(),
                "other": self.other.to_wire(),
            },
        }


def _usage(procs: list[psutil.Process]) -> Usage:
    rss = 0
    cpu = 0.0
    count = 0
    for proc in procs:
        with suppress(psutil.Error), proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            memory = proc.memory_info().rss
            t = proc.cpu_times()
            rss += memory
            cpu += t.user + t.system + t.children_user + t.children_system
            count += 1
    return Usage(rss, round(cpu, 3), count)


def resource_snapshot(backend_pid: int | None) -> ResourceSnapshot:
    """RSS, CPU seconds and process count of the runner, the backend tree and the rest.

    Args:
        backend_pid: the backend's pid, or None before it started or after it exited. A
            pid that is not a descendant of this process (exited, reused) counts as none.

    Returns:
        The snapshot; `snapshot.total.to_wire()` is the heartbeat `resources` object.
        Never raises: processes that vanish while being read are left out.
    """
    me = psutil.Process()
    try:
        descendants = {p.pid: p for p in me.children(recursive=True)}
    except psutil.Error:
        descendants = {}
    backend_tree: list[psutil.Process] = []
    backend = descendants.get(backend_pid) if backend_pid is not None else None
    if backend is not None:
        backend_tree.append(backend)
        with suppress(psutil.Error):
            backend_tree += [p for p in backend.children(recursive=True) if p.pid in descendants]
    in_backend = {p.pid for p in backend_tree}
    others = [p for pid, p in descendants.items() if pid not in in_backend]
    return ResourceSnapshot(runner=_usage([me]), backend=_usage(backend_tree), other=_usage(others))
