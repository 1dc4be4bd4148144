"""The agent's commands are the OOM killer's first candidates, and a command's OOM kill
is reported as `oomKilled` (contract §9)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runner.safety.oom import (
    COMMAND_OOM_SCORE_ADJ,
    CommandScorer,
    OomWatch,
    oom_kills_since,
    raise_oom_score,
)


class Counter:
    def __init__(self, value: int | None) -> None:
        self.value = value

    def __call__(self) -> int | None:
        return self.value


@pytest.fixture
def backend() -> Iterator[subprocess.Popen[str]]:
    """A stand-in backend with one child (the 'command'), started before it prints."""
    process = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo started; wait"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    children = psutil.Process(process.pid).children(recursive=True)
    yield process
    for child in children:
        child.kill()
    process.kill()
    process.wait()
    process.stdout.close()
    psutil.wait_procs(children, timeout=10)


def score(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def test_a_command_during_which_the_counter_rose_was_oom_killed() -> None:
    counter = Counter(3)
    watch = OomWatch(read=counter)
    watch.started("call_1")
    watch.started("call_2")
    assert watch.oom_killed("call_2") is False
    counter.value = 4
    assert watch.oom_killed("call_1") is True
    assert watch.oom_killed("call_1") is False  # forgotten once reported
    assert watch.oom_killed("never-started") is False


def test_an_unreadable_counter_reports_no_kill() -> None:
    watch = OomWatch(read=Counter(None))
    watch.started("call_1")
    assert watch.oom_killed("call_1") is False
    assert oom_kills_since(None, Counter(7)) == 0
    assert oom_kills_since(5, Counter(7)) == 2


def test_the_backends_descendants_are_raised_to_the_maximum_and_the_backend_is_not(
    backend: subprocess.Popen[str],
) -> None:
    before = score(backend.pid)
    scorer = CommandScorer(backend.pid)
    assert scorer.sweep() == 1
    [child] = [
        int(pid)
        for pid in Path(f"/proc/{backend.pid}/task/{backend.pid}/children").read_text().split()
    ]
    assert score(child) == COMMAND_OOM_SCORE_ADJ
    assert score(backend.pid) == before
    assert scorer.sweep() == 0  # each process once


def test_a_score_is_never_lowered_and_a_gone_process_is_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "oom_score_adj").write_text("1000\n")
    assert raise_oom_score(42, 500, proc=tmp_path) is True
    assert (tmp_path / "42" / "oom_score_adj").read_text() == "1000\n"
    assert raise_oom_score(43, proc=tmp_path) is False
    assert CommandScorer(2**22 + 17).sweep() == 0
