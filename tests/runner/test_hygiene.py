"""Process hygiene: orphans are adopted and killed, zombies reaped, OOM kills recognised.

Scenarios that set the subreaper flag or reap children run in a separate process
(`hygiene_probe.py`), so this pytest process stays as it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from runner.safety import hygiene
from runner.safety.hygiene import ProcessInfo, become_subreaper, is_subreaper
from runner.safety.hygiene_stats import (
    ExitCause,
    cgroup_oom_kill_count,
    classify_exit,
    resource_snapshot,
)

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux prctl/proc")


def run_probe(scenario: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.runner.hygiene_probe", scenario],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    if result.get("subreaper") is False:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not allowed here")
    return result


# --- subreaper, kill, reap (in a probe process) ---------------------------------------


@linux_only
def test_a_double_forked_daemon_is_adopted_by_the_subreaper_and_killed_and_reaped() -> None:
    result = run_probe("adopt")
    assert result["flag"] is True
    assert result["adopted"] is True
    assert result["listed"] is True
    assert result["report"]["found"] == 1
    assert result["report"]["terminated"] == 1
    assert result["report"]["noDescendantSurvived"] is True
    assert result["reaped"] is True
    assert result["sleeper_exists"] is False
    assert result["left_after"] == 0


@linux_only
def test_a_daemon_that_ignores_sigterm_is_sigkilled_after_the_grace() -> None:
    result = run_probe("adopt-stubborn")
    assert result["report"]["terminated"] == 0
    assert result["report"]["killed"] == 1
    assert result["report"]["survivors"] == []
    assert result["sleeper_exists"] is False


@linux_only
def test_without_the_subreaper_flag_a_double_forked_daemon_escapes_the_runner() -> None:
    result = run_probe("escape")
    assert result == {"flag": False, "adopted": False, "listed": False}


@linux_only
def test_an_untracked_zombie_is_reaped_and_a_tracked_one_keeps_its_exit_status() -> None:
    result = run_probe("zombies")
    assert result == {"reaped_orphan_only": True, "tracked_exit_code": 3}


@linux_only
def test_the_zombie_reaper_reaps_a_zombie_only_on_the_sweep_after_it_was_seen() -> None:
    assert run_probe("sweep") == {"first": [], "second_is_child": True}


@linux_only
def test_kill_descendants_leaves_the_reaping_of_tracked_children_to_their_owner() -> None:
    result = run_probe("tracked-kill")
    assert result == {
        "found": 2,
        "owned_reaped_by_us": False,
        "sleeper_reaped": True,
        "owned_returncode": -signal.SIGTERM,
        "no_descendant_survived": True,
    }


# --- subreaper flag without touching this process --------------------------------------


class _FailingLibc:
    def prctl(self, *args: object) -> int:
        return -1


def test_become_subreaper_says_false_where_libc_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hygiene, "_load_libc", lambda: None)
    assert become_subreaper() is False
    assert is_subreaper() is None


def test_become_subreaper_says_false_when_prctl_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hygiene, "_load_libc", _FailingLibc)
    assert become_subreaper() is False
    assert is_subreaper() is None


@linux_only
def test_process_info_reports_argv0_but_never_the_rest_of_the_command_line() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; print('ready', flush=True); time.sleep(300)",
            "SECRET-CANARY",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"  # exec'd: argv is the child's own
        info = ProcessInfo.of(psutil.Process(proc.pid))
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert info.pid == proc.pid
    assert info.argv0 == sys.executable
    assert "SECRET-CANARY" not in json.dumps(info.to_wire())


# --- OOM counter ------------------------------------------------------------------------


def _cgroup_tree(tmp_path: Path, proc_cgroup: str, files: dict[str, str]) -> Path:
    (tmp_path / "proc_self_cgroup").write_text(proc_cgroup)
    for relative, text in files.items():
        path = tmp_path / "sys" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


MEMORY_EVENTS = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"


@pytest.mark.parametrize(
    ("proc_cgroup", "files", "count"),
    [
        pytest.param(
            "0::/kubepods/pod1/c1\n",
            {"kubepods/pod1/c1/memory.events": MEMORY_EVENTS},
            2,
            id="cgroup-v2",
        ),
        pytest.param("0::/\n", {"memory.events": MEMORY_EVENTS}, 2, id="cgroup-v2-namespaced"),
        pytest.param(
            "4:memory:/job/abc\n1:cpu:/\n0::/\n",
            {"memory/job/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n"},
            7,
            id="cgroup-v1-hybrid",
        ),
        pytest.param("0::/gone\n", {}, None, id="no-counter-file"),
        pytest.param(
            "0::/c\n", {"c/memory.events": "oom 1\noom_kill lots\n"}, None, id="garbled-count"
        ),
        pytest.param("garbage\n", {}, None, id="garbled-proc-cgroup"),
    ],
)
def test_the_oom_kill_count_is_read_from_the_runners_own_cgroup(
    tmp_path: Path, proc_cgroup: str, files: dict[str, str], count: int | None
) -> None:
    root = _cgroup_tree(tmp_path, proc_cgroup, files)
    found = cgroup_oom_kill_count(
        cgroup_root=root / "sys", proc_self_cgroup=root / "proc_self_cgroup"
    )
    assert found == count


def test_the_oom_kill_count_is_none_without_proc_self_cgroup(tmp_path: Path) -> None:
    assert cgroup_oom_kill_count(cgroup_root=tmp_path, proc_self_cgroup=tmp_path / "x") is None


# --- exit classification ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("returncode", "before", "after", "label", "kind"),
    [
        (-9, 0, 1, "oom-killed", "oom-killed"),
        (-9, 1, 1, "signal:SIGKILL", "signal"),
        (-9, None, 1, "signal:SIGKILL", "signal"),
        (-15, 0, 1, "signal:SIGTERM", "signal"),
        (-11, None, None, "signal:SIGSEGV", "signal"),
        (1, 0, 1, "exit:1", "exit"),
        (0, 0, 0, "exit:0", "exit"),
        (-200, 0, 0, "signal:200", "signal"),
        (None, 0, 1, "unknown", "unknown"),
    ],
)
def test_an_exit_is_classified_as_oom_killed_only_for_sigkill_with_the_count_up(
    returncode: int | None, before: int | None, after: int | None, label: str, kind: str
) -> None:
    cause = classify_exit(returncode, before, after)
    assert isinstance(cause, ExitCause)
    assert (str(cause), cause.kind) == (label, kind)


def test_an_oom_kill_of_another_process_is_still_counted_in_the_cause() -> None:
    assert classify_exit(0, 4, 6).oom_kills == 2


# --- resources --------------------------------------------------------------------------

BACKEND = (
    "import subprocess, sys; child = subprocess.Popen(['sleep', '300']);"
    " print(child.pid, flush=True); child.wait()"
)


@pytest.fixture
def backend_with_a_child() -> Iterator[tuple[int, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", BACKEND],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        yield proc.pid, child
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@linux_only
def test_the_resource_snapshot_counts_the_backend_tree_apart_from_the_runner(
    backend_with_a_child: tuple[int, int],
) -> None:
    backend_pid, _ = backend_with_a_child
    snapshot = resource_snapshot(backend_pid)
    assert snapshot.runner.process_count == 1
    assert snapshot.runner.rss_bytes > 0
    assert snapshot.backend.process_count == 2
    assert snapshot.backend.rss_bytes > 0
    total = snapshot.total
    assert total.process_count == (
        snapshot.runner.process_count
        + snapshot.backend.process_count
        + snapshot.other.process_count
    )
    wire = snapshot.to_wire()
    assert set(wire) == {"rssBytes", "cpuSeconds", "processCount", "breakdown"}
    assert wire["breakdown"]["backend"]["processCount"] == 2
    assert wire["rssBytes"] == total.rss_bytes


@pytest.mark.parametrize("backend_pid", [None, 1], ids=["no-backend", "not-a-descendant"])
def test_the_resource_snapshot_has_an_empty_backend_when_it_is_not_ours(
    backend_pid: int | None,
) -> None:
    snapshot = resource_snapshot(backend_pid)
    assert snapshot.backend.process_count == 0
    assert snapshot.runner.process_count == 1
