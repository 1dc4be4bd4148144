"""Hygiene scenarios run in a process of their own (the subreaper flag would leak into pytest).

Usage: `python -m tests.runner.hygiene_probe <scenario>`; prints one JSON object. Every
scenario cleans up after itself: no process it started outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import psutil

from runner.safety.hygiene import (
    ZombieReaper,
    become_subreaper,
    descendants_left,
    is_subreaper,
    kill_descendants,
    reap_zombies,
)

# A child that double-forks a `sleep` out of its session (setsid), so the sleeper is
# orphaned as soon as the middle process exits; the sleeper prints its pid first.
DAEMONIZE = """
import os, signal, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        if sys.argv[1] == "ignore-term":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.write(1, f"{os.getpid()}\\n".encode())
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execvp("sleep", ["sleep", "300"])
    os._exit(0)
os.wait()
"""


def spawn_escaping_sleeper(mode: str = "plain") -> int:
    """Start a daemonized `sleep`; return its pid once its parent chain has exited."""
    out = subprocess.run(
        [sys.executable, "-c", DAEMONIZE, mode],
        stdout=subprocess.PIPE,
        check=True,
        timeout=10,
    ).stdout
    return int(out.split()[0])


def exited_child(code: int) -> int:
    """Fork a child that exits with `code`; return once it is a zombie (not reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(code)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    return pid


def adopt(mode: str) -> dict[str, Any]:
    subreaper = become_subreaper()
    result: dict[str, Any] = {"subreaper": subreaper, "flag": is_subreaper()}
    if not subreaper:
        return result
    sleeper = spawn_escaping_sleeper(mode)
    result["adopted"] = psutil.Process(sleeper).ppid() == os.getpid()
    result["listed"] = [p.pid for p in descendants_left()] == [sleeper]
    report = kill_descendants(grace_seconds=0.3 if mode == "ignore-term" else 5.0)
    result["report"] = report.to_wire()
    result["reaped"] = list(report.reaped) == [sleeper]
    result["sleeper_exists"] = psutil.pid_exists(sleeper)
    result["left_after"] = len(descendants_left())
    return result


def escape() -> dict[str, Any]:
    sleeper = spawn_escaping_sleeper()
    proc = psutil.Process(sleeper)
    result = {
        "flag": is_subreaper(),
        "adopted": proc.ppid() == os.getpid(),
        "listed": sleeper in {p.pid for p in descendants_left()},
    }
    proc.kill()
    return result


def zombies() -> dict[str, Any]:
    tracked, orphan = exited_child(3), exited_child(4)
    reaped = reap_zombies(tracked={tracked})
    _, status = os.waitpid(tracked, 0)
    return {
        "reaped_orphan_only": reaped == [orphan],
        "tracked_exit_code": os.waitstatus_to_exitcode(status),
    }


def sweep() -> dict[str, Any]:
    reaper = ZombieReaper()
    pid = exited_child(5)
    first = reaper.sweep()
    second = reaper.sweep()
    return {"first": first, "second_is_child": second == [pid]}


def tracked_kill() -> dict[str, Any]:
    become_subreaper()
    owned = subprocess.Popen(["sleep", "300"])
    sleeper = spawn_escaping_sleeper()
    report = kill_descendants(grace_seconds=5.0, tracked={owned.pid})
    return {
        "found": len(report.found),
        "owned_reaped_by_us": owned.pid in report.reaped,
        "sleeper_reaped": sleeper in report.reaped,
        "owned_returncode": owned.wait(timeout=5),
        "no_descendant_survived": report.no_descendant_survived,
    }


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "adopt": lambda: adopt("plain"),
    "adopt-stubborn": lambda: adopt("ignore-term"),
    "escape": escape,
    "zombies": zombies,
    "sweep": sweep,
    "tracked-kill": tracked_kill,
}


def main() -> None:
    try:
        result = SCENARIOS[sys.argv[1]]()
    finally:
        for proc in psutil.Process().children(recursive=True):
            with suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
