"""Assertions shared by the end-to-end tests."""

from __future__ import annotations

from typing import Any

from fakes.stack import RunnerResult


def of_type(events: list[dict[str, Any]], type: str) -> list[dict[str, Any]]:
    """The events of one `type`, in seq order."""
    return [e for e in events if e["type"] == type]


def assert_contiguous(events: list[dict[str, Any]]) -> None:
    """§3: seq starts at 1 and is contiguous."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def describe(result: RunnerResult) -> str:
    """The runner's exit status and last log lines, for assertion messages."""
    return f"rc={result.returncode}\n" + "\n".join(result.stderr.splitlines()[-15:])
