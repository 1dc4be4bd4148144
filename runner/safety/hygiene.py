"""Process hygiene: adopt orphans, reap zombies, and prove that no descendant survives.

The runner makes itself a child subreaper, so whatever the backend leaves behind (a
`nohup … &` command, a daemon that double-forked out of the backend's session) is
re-parented to the runner and stays a psutil descendant; `kill_descendants` then
escalates SIGTERM → bounded grace → SIGKILL over every live descendant and reaps what it
killed. Reaping never touches a pid that someone else waits on (`tracked`: the backend
that anyio's `Process.wait()` owns, a `Popen` in flight), because a stolen exit status
breaks its owner. Cgroup OOM counts and resource snapshots live in `runner.safety.hygiene_stats`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Collection, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psutil

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
"""`prctl(2)` option (Linux ≥ 3.4, `<linux/prctl.h>`)."""
PR_GET_CHILD_SUBREAPER = 37
_POLL_FIRST_SECONDS = 0.005
_POLL_MAX_SECONDS = 0.05


def _load_libc() -> Any:
    """The C library of this process, or None off Linux or when it cannot be loaded."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants.

    After this, a descendant whose parent dies is re-parented to this process instead of
    to PID 1 (or to a nearer subreaper), so it can be found with psutil and reaped here.
    Source: Linux `prctl(2)`, `PR_SET_CHILD_SUBREAPER` (Linux ≥ 3.4): the flag belongs
    to this process, is not inherited by `fork(2)` children and survives `execve(2)`.
    Orphans re-parented here become zombies until reaped: call `ZombieReaper.sweep` or
    `reap_zombies` periodically, and `kill_descendants` at the end.

    Returns:
        True if the flag is now set; False off Linux, or when `prctl` fails (e.g. a
        seccomp profile that forbids it). Never raises.
    """
    libc = _load_libc()
    if libc is None:
        return False
    if int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) != 0:
        errno = ctypes.get_errno()
        log.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", os.strerror(errno))
        return False
    return True


def is_subreaper() -> bool | None:
    """Whether this process is a child subreaper (`PR_GET_CHILD_SUBREAPER`), None if unknown."""
    libc = _load_libc()
    if libc is None:
        return None
    value = ctypes.c_int(0)
    if int(libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0)) != 0:
        return None
    return value.value != 0


@dataclass(frozen=True)
class ProcessInfo:
    """What may be reported about a process: never its full command line or environment.

    Attributes:
        pid: the process id.
        name: the kernel's process name (`comm`, at most 15 characters), "" if unreadable.
        argv0: the first command-line word (`cmdline[:1]`), None if unreadable or empty.
        status: psutil's status (`sleeping`, `zombie`, `disk-sleep`, …), "" if unreadable.
    """

    pid: int
    name: str
    argv0: str | None
    status: str = ""

    @classmethod
    def of(cls, proc: psutil.Process) -> ProcessInfo:
        """Describe `proc` with what can still be read (each field best effort)."""
        name: str | None = None
        argv0: str | None = None
        status: str | None = None
        try:
            with proc.oneshot():
                name = proc.name()
                status = proc.status()
                argv0 = next(iter(proc.cmdline()[:1]), None)
        except psutil.Error:
            pass
        return cls(proc.pid, name or "", argv0, status or "")

    def to_wire(self) -> dict[str, Any]:
        """`{"pid", "name", "argv0", "status"}` for events."""
        return {"pid": self.pid, "name": self.name, "argv0": self.argv0, "status": self.status}


def _is_dead(proc: psutil.Process) -> bool:
    """Gone, or a zombie (dead, waiting to be reaped); pid reuse counts as gone."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _live_descendants() -> list[psutil.Process]:
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    return [p for p in children if not _is_dead(p)]


def descendants_left() -> list[ProcessInfo]:
    """Every live (non-zombie) descendant of this process, in psutil's order.

    With `become_subreaper()` in effect, orphans of the backend (double-forked daemons,
    `nohup … &`) are descendants too; without it they escape to PID 1 and are not listed.

    Returns:
        One `ProcessInfo` per live descendant (empty when none is left).
    """
    return [ProcessInfo.of(p) for p in _live_descendants()]


def reap_zombies(
    tracked: Collection[int] = (), *, candidates: Collection[int] | None = None
) -> list[int]:
    """Reap zombie children of this process that nobody else waits on, without blocking.

    Zombie children are found with psutil and reaped one by one with
    `waitpid(pid, WNOHANG)`; never `waitpid(-1)`, which would steal the exit status of a
    child whose owner (anyio's `Process.wait()`, asyncio's child watcher, a `Popen`) has
    not collected it yet: the owner then sees exit code 255 or 0 instead of the truth.

    Args:
        tracked: pids some other code will reap (the backend's pid while its transport
            is open, any `Popen` in flight); they are left alone.
        candidates: if given, only these pids may be reaped (see `ZombieReaper`).

    Returns:
        The reaped pids, in the order they were reaped.
    """
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return []
    reaped: list[int] = []
    for child in children:
        pid = child.pid
        if pid in tracked or (candidates is not None and pid not in candidates):
            continue
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if _reap(pid):
            reaped.append(pid)
    return reaped


def _reap(pid: int) -> bool:
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if done == 0:
        return False
    log.debug("reaped orphan %d (wait status %#x)", pid, status)
    return True


@dataclass
class ZombieReaper:
    """Reaps only zombies that already were zombies at the previous sweep.

    An owner that waits on its child collects it within milliseconds of its exit; a
    zombie still there one sweep later (e.g. one heartbeat interval) has no owner, so
    reaping it cannot steal an exit status even from a `Popen` the caller did not list.
    """

    _seen: set[int] = field(default_factory=set)

    def sweep(self, tracked: Collection[int] = ()) -> list[int]:
        """Reap the zombies seen last time; remember the ones seen now.

        Args:
            tracked: pids to leave alone in any case (see `reap_zombies`).

        Returns:
            The reaped pids.
        """
        reaped = reap_zombies(tracked, candidates=self._seen) if self._seen else []
        try:
            children = psutil.Process().children()
        except psutil.Error:
            children = []
        self._seen = {p.pid for p in children if p.pid not in tracked and _is_dead(p)}
        return reaped


@dataclass(frozen=True)
class KillReport:
    """What `kill_descendants` found and did.

    Attributes:
        found: every live descendant seen, described before it was signalled.
        terminated: how many died within the grace after SIGTERM.
        killed: how many needed SIGKILL and died.
        reaped: pids this call reaped (killed children not in `tracked`).
        survivors: descendants still alive at the end (e.g. in uninterruptible sleep).
    """

    found: tuple[ProcessInfo, ...] = ()
    terminated: int = 0
    killed: int = 0
    reaped: tuple[int, ...] = ()
    survivors: tuple[ProcessInfo, ...] = ()

    @property
    def no_descendant_survived(self) -> bool:
        """True when nothing outlived the call: the terminal event's claim."""
        return not self.survivors

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready summary for events: counts, names and argv0 only."""
        return {
            "found": len(self.found),
            "terminated": self.terminated,
            "killed": self.killed,
            "reaped": len(self.reaped),
            "noDescendantSurvived": self.no_descendant_survived,
            "leftBehind": [p.to_wire() for p in self.found],
            "survivors": [p.to_wire() for p in self.survivors],
        }


def _signal_all(procs: Iterable[psutil.Process], sig: signal.Signals) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)  # psutil refuses a reused pid
            if sig == signal.SIGTERM:
                proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on TERM
        except psutil.Error:
            continue


def _wait_dead(procs: list[psutil.Process], deadline: float) -> list[psutil.Process]:
    """Poll until every process is dead or `deadline` (monotonic) passes; the living."""
    pause = _POLL_FIRST_SECONDS
    alive = [p for p in procs if not _is_dead(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, _POLL_MAX_SECONDS)
        alive = [p for p in alive if not _is_dead(p)]
    return alive


def kill_descendants(
    grace_seconds: float = 2.0,
    *,
    kill_wait_seconds: float = 2.0,
    tracked: Collection[int] = (),
) -> KillReport:
    """Stop every live descendant: SIGTERM (+SIGCONT) → grace → SIGKILL → reap.

    Blocking and bounded: returns within about `grace_seconds + kill_wait_seconds`.
    Descendants that appear while it runs (forked by a dying parent) are SIGKILLed in
    later rounds within the same bound. Run it from async code with
    `anyio.to_thread.run_sync` inside a shielded scope.

    Args:
        grace_seconds: how long descendants get to exit after SIGTERM, in seconds
            (0 sends SIGKILL at once).
        kill_wait_seconds: how long to wait for SIGKILLed descendants to die, in seconds.
        tracked: pids some other code will reap: signalled like the rest but not reaped.

    Returns:
        The report; `no_descendant_survived` is the terminal event's claim.
    """
    try:
        children_before = {p.pid for p in psutil.Process().children()}
    except psutil.Error:
        children_before = set()
    first = _live_descendants()
    found = {p.pid: ProcessInfo.of(p) for p in first}
    seen: dict[int, psutil.Process] = {p.pid: p for p in first}
    if first and grace_seconds > 0:
        _signal_all(first, signal.SIGTERM)
        alive = _wait_dead(first, time.monotonic() + grace_seconds)
    else:
        alive = list(first)
    terminated = len(first) - len(alive)
    sigkilled: set[int] = set()
    deadline = time.monotonic() + kill_wait_seconds
    while True:
        for proc in _live_descendants():
            if proc.pid not in seen:
                seen[proc.pid] = proc
                found[proc.pid] = ProcessInfo.of(proc)
                alive.append(proc)
        if not alive:
            break
        _signal_all(alive, signal.SIGKILL)
        sigkilled.update(p.pid for p in alive)
        alive = _wait_dead(alive, min(deadline, time.monotonic() + 0.2))
        if time.monotonic() >= deadline:
            break
    survivors = {p.pid: p for p in alive}
    survivors.update({p.pid: p for p in _live_descendants()})
    # Reap what we killed, and the zombies re-parented to us meanwhile (not our children
    # when the call began, so no owner in this process can be waiting on them).
    reapable = set(seen)
    with suppress(psutil.Error):
        reapable.update(p.pid for p in psutil.Process().children() if p.pid not in children_before)
    reaped = tuple(sorted(pid for pid in reapable - set(tracked) if _reap(pid)))
    report = KillReport(
        found=tuple(found.values()),
        terminated=terminated,
        killed=len(sigkilled - survivors.keys()),
        reaped=reaped,
        survivors=tuple(ProcessInfo.of(p) for p in survivors.values()),
    )
    if report.found:
        log.info(
            "stopped %d descendant(s): %d on SIGTERM, %d on SIGKILL, %d survived",
            len(report.found),
            report.terminated,
            report.killed,
            len(report.survivors),
        )
    return report
