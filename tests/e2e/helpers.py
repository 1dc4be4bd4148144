"""Assertions shared by the end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from fakes.stack import LocalStack, RunnerResult


def of_type(events: list[dict[str, Any]], type: str) -> list[dict[str, Any]]:
    """The events of one `type`, in seq order."""
    return [e for e in events if e["type"] == type]


def assert_contiguous(events: list[dict[str, Any]]) -> None:
    """§3: seq starts at 1 and is contiguous."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def describe(result: RunnerResult) -> str:
    """The runner's exit status and last log lines, for assertion messages."""
    return f"rc={result.returncode}\n" + "\n".join(result.stderr.splitlines()[-15:])


@dataclass
class Finished:
    """One attempt run to its end: the runner's exit, the terminal body, the events."""

    result: RunnerResult
    terminal: dict[str, Any]
    events: list[dict[str, Any]]


async def run_job(
    stack: LocalStack,
    job: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    timeout_seconds: float = 60,
    **add_job: Any,
) -> Finished:
    """Register `job`, run the runner to its end, and return what the manager got.

    Asserts that the runner exited 0 and that a terminal report arrived.
    """
    stack.manager.add_job(job, heartbeat_interval_seconds=1, **add_job)
    with anyio.fail_after(timeout_seconds):
        result = await stack.run_runner(job["runnerJobId"], env=env)
    terminal = stack.manager.terminal(job["runId"], job["attemptId"])
    assert result.returncode == 0, describe(result)
    assert terminal is not None, describe(result)
    return Finished(result, terminal, stack.manager.events(job["runId"], job["attemptId"]))
