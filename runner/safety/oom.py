"""Memory limits: the agent's commands die first, and a command's OOM kill is reported.

**Who the OOM killer picks.** It kills the process with the highest badness (its memory
plus `oom_score_adj`/1000 of the cgroup's memory). Any process may *raise* the
`oom_score_adj` of a process it owns; lowering it below the inherited floor needs
`CAP_SYS_RESOURCE`, which the Job drops. The runner therefore keeps its own score, lets
Codex inherit it (Codex forks the commands, so a higher Codex score would make Codex a
candidate as well), and raises every *other* descendant of Codex — the agent's commands,
their sandbox (bubblewrap) and whatever they spawn — to `COMMAND_OOM_SCORE_ADJ` (1000,
the maximum: "always first"). `CommandScorer.sweep` does that for the descendants it has
not seen yet; `score_commands` runs it every `SWEEP_INTERVAL_SECONDS`. A command that
allocates its memory faster than one interval can still be killed with the runner's score
(the kernel then prefers the larger process, which is usually the command): best effort.

**Reporting** (§9 `oomKilled`): `OomWatch` takes the cgroup's `oom_kill` counter
(`cgroup_oom_kill_count`, v2 `memory.events`, v1 `memory.oom_control`) when a command
starts and when it completes; a rise means the kernel's OOM killer ended the command or
one of its processes (with overlapping commands, each one that ran during the kill).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import anyio
import psutil

from runner.safety.hygiene_stats import cgroup_oom_kill_count

log = logging.getLogger(__name__)

COMMAND_OOM_SCORE_ADJ: Final = 1000
"""`oom_score_adj` of the agent's commands: the kernel's maximum, killed first."""
SWEEP_INTERVAL_SECONDS: Final = 0.5
PROC: Final = Path("/proc")


def oom_kills_since(
    baseline: int | None, read: Callable[[], int | None] = cgroup_oom_kill_count
) -> int:
    """How many OOM kills the cgroup counted since `baseline`; 0 when either is unknown."""
    now = read()
    if baseline is None or now is None:
        return 0
    return max(0, now - baseline)


@dataclass
class OomWatch:
    """The cgroup's OOM-kill counter per running command item (§9 `oomKilled`).

    Call `started(item_id)` on `item/started` of a `commandExecution` and
    `oom_killed(item_id)` on its `item/completed`: True when the counter rose meanwhile.
    `read` is injectable for tests.
    """

    read: Callable[[], int | None] = cgroup_oom_kill_count
    _baselines: dict[str, int | None] = field(default_factory=dict)

    def started(self, item_id: str) -> None:
        """Remember the counter at the command's start."""
        self._baselines[item_id] = self.read()

    def oom_killed(self, item_id: str) -> bool:
        """Whether an OOM kill happened while the command ran (forgets the command).

        A command never seen starting is not reported (False).
        """
        if item_id not in self._baselines:
            return False
        return oom_kills_since(self._baselines.pop(item_id), self.read) > 0


def raise_oom_score(pid: int, value: int = COMMAND_OOM_SCORE_ADJ, proc: Path = PROC) -> bool:
    """Raise `pid`'s `oom_score_adj` to `value` (never lowers it).

    Returns:
        True when the score is now at least `value`; False when the process is gone or
        the write was refused (another uid, a hardened /proc). Never raises.
    """
    path = proc / str(pid) / "oom_score_adj"
    try:
        if int(path.read_text().strip()) >= value:
            return True
        path.write_text(f"{value}\n")
        return True
    except (OSError, ValueError):
        return False


@dataclass
class CommandScorer:
    """Raises the score of each descendant of the backend, once per process.

    Attributes:
        backend_pid: Codex's pid (its own score is left as inherited).
        raised: pids raised so far (with their create times, so a reused pid is new).
    """

    backend_pid: int
    raised: set[tuple[int, float]] = field(default_factory=set)

    def sweep(self) -> int:
        """Raise every descendant not seen yet; returns how many were raised now."""
        try:
            children = psutil.Process(self.backend_pid).children(recursive=True)
        except psutil.Error:
            return 0
        count = 0
        for child in children:
            with suppress(psutil.Error):
                key = (child.pid, child.create_time())
                if key in self.raised:
                    continue
                if raise_oom_score(child.pid):
                    self.raised.add(key)
                    count += 1
        return count


async def score_commands(
    backend_pid: int, interval_seconds: float = SWEEP_INTERVAL_SECONDS
) -> None:
    """Run `CommandScorer.sweep` for `backend_pid` until cancelled."""
    scorer = CommandScorer(backend_pid)
    while True:
        await anyio.to_thread.run_sync(scorer.sweep)
        await anyio.sleep(interval_seconds)
