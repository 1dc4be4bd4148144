"""The runner's own cgroup: its CPU and memory limits (the claim's, §2 v1.2).

A container's limits are its cgroup's, not the machine's (`os.cpu_count()` and the
machine's memory are what a pod sees without them). `find_cgroup` locates this process's
cgroup from `/proc/self/cgroup` for cgroup v2 (`0::/path`) and v1 (`cpu`, `memory`
controllers), `read_limits` reads `cpu.max` / `memory.max` (v1: `cpu.cfs_quota_us` /
`cpu.cfs_period_us`, `memory.limit_in_bytes`) over the cgroup and its visible ancestors
(the OOM-kill counter is `runner.safety.hygiene_stats.cgroup_oom_kill_count`). Every
reader takes the filesystem roots as arguments so tests use fake trees.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

CGROUP_ROOT: Final = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP: Final = Path("/proc/self/cgroup")
V1_UNLIMITED_FLOOR: Final = 1 << 62
"""v1 writes "no limit" as a huge page-aligned number (9223372036854771712)."""


@dataclass(frozen=True)
class CgroupDirs:
    """Where this process's cgroup files are.

    Attributes:
        cpu: directories holding the CPU files, the cgroup's own first, then its visible
            ancestors up to the mount root (v2: the unified dir; v1: the `cpu` hierarchy).
        memory: likewise for the memory files.
        version: 2 or 1.
    """

    cpu: tuple[Path, ...]
    memory: tuple[Path, ...]
    version: int


@dataclass(frozen=True)
class Limits:
    """A cgroup's limits; None where it has none.

    Attributes:
        cpus: the CPU quota in CPUs (quota / period), fractional.
        memory_bytes: the memory limit in bytes.
    """

    cpus: float | None = None
    memory_bytes: int | None = None


def _chain(mount: Path, relative: str) -> tuple[Path, ...]:
    """The cgroup dir and its ancestors up to `mount` (those that exist)."""
    parts = [part for part in relative.split("/") if part]
    dirs = [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]
    return tuple(path for path in dirs if path.is_dir())


def find_cgroup(
    root: Path = CGROUP_ROOT, self_cgroup: Path = PROC_SELF_CGROUP
) -> CgroupDirs | None:
    """This process's cgroup dirs, or None when there is no readable cgroup filesystem.

    A line of /proc/self/cgroup is `ID:CONTROLLERS:PATH`; v2 is `0::PATH` with
    `ROOT/cgroup.controllers` present. Inside a cgroup namespace the path is `/` and the
    mount is the container's own cgroup.
    """
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    v1: dict[str, str] = {}
    unified: str | None = None
    for line in lines:
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if controllers == "":
            unified = path
        for controller in controllers.split(","):
            v1[controller] = path
    if unified is not None and (root / "cgroup.controllers").is_file() and "memory" not in v1:
        chain = _chain(root, unified)
        return CgroupDirs(cpu=chain, memory=chain, version=2)
    if "memory" in v1 or "cpu" in v1:
        cpu_path = v1.get("cpu", "/")
        cpu = _chain(root / "cpu", cpu_path) or _chain(root / "cpu,cpuacct", cpu_path)
        memory = _chain(root / "memory", v1.get("memory", "/"))
        return CgroupDirs(cpu=cpu, memory=memory, version=1)
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cpus(directory: Path, version: int) -> float | None:
    if version == 2:
        text = _read(directory / "cpu.max")
        if text is None or text.startswith("max"):
            return None
        quota, _, period = text.partition(" ")
        return int(quota) / int(period or "100000")
    quota_text = _read(directory / "cpu.cfs_quota_us")
    period_text = _read(directory / "cpu.cfs_period_us")
    if quota_text is None or period_text is None or int(quota_text) <= 0:
        return None
    return int(quota_text) / int(period_text)


def _memory(directory: Path, version: int) -> int | None:
    text = _read(directory / ("memory.max" if version == 2 else "memory.limit_in_bytes"))
    if text is None or text == "max":
        return None
    value = int(text)
    return None if value >= V1_UNLIMITED_FLOOR else value


def _least(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def read_limits(dirs: CgroupDirs) -> Limits:
    """The tightest CPU and memory limits over the cgroup and its visible ancestors."""
    cpus = _least([_cpus(directory, dirs.version) for directory in dirs.cpu])
    memory = _least([_memory(directory, dirs.version) for directory in dirs.memory])
    return Limits(cpus=cpus, memory_bytes=int(memory) if memory is not None else None)


def claim_resources(
    limits: Limits, machine_cpus: int, machine_memory_bytes: int
) -> tuple[int, int]:
    """§2 (v1.2) `cpuCount`, `memoryBytes`: the container's limits, else the machine's.

    Args:
        limits: the cgroup's limits.
        machine_cpus: the CPUs this process may run on (its affinity).
        machine_memory_bytes: the machine's memory.

    Returns:
        `(cpuCount, memoryBytes)`: the quota rounded up (at least 1) and the memory limit,
        each never above the machine's.
    """
    cpus = machine_cpus
    if limits.cpus is not None:
        cpus = min(machine_cpus, max(1, math.ceil(limits.cpus - 1e-9)))
    memory = machine_memory_bytes
    if limits.memory_bytes is not None:
        memory = min(machine_memory_bytes, limits.memory_bytes)
    return cpus, memory


def container_resources() -> tuple[int, int]:
    """`claim_resources` for this process: its cgroup's limits, its CPU affinity, the
    machine's memory (psutil)."""
    dirs = find_cgroup()
    limits = read_limits(dirs) if dirs is not None else Limits()
    machine_cpus = len(os.sched_getaffinity(0)) or os.cpu_count() or 1
    return claim_resources(limits, machine_cpus, psutil.virtual_memory().total)
