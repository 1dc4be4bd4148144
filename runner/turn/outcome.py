"""The attempt's terminal decision: status, failure kind and message (contract §7, §10).

`Verdict` is what the attempt ends with; `verdict_for_turn` maps how a turn ended (and
why the runner interrupted it, if it did) to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from contract.failures import FailureKind, RunnerError
from contract.manager_api import TerminalStatus, Usage
from runner.turn.classify import classify_turn_error
from runner.turn.observer import TurnObserver


@dataclass
class TurnFacts:
    """What the terminal report says of the turn (§7): ids, final response, usage."""

    thread_id: str | None = None
    turn_id: str | None = None
    final_response: str | None = None
    usage: Usage = field(default_factory=Usage)


class InterruptReason(StrEnum):
    """Why the runner sent `turn/interrupt`."""

    CANCEL = "cancel"
    TURN_TIMEOUT = "turn-timeout"
    IDLE_TIMEOUT = "idle-timeout"
    INVALID_TOOL_CALLS = "invalid-tool-calls"
    SIGTERM = "sigterm"
    LEASE_LOST = "lease-lost"
    PROTOCOL_ERROR = "protocol-error"
    DISK_FULL = "disk-full"


@dataclass(frozen=True)
class Verdict:
    """How the attempt ends.

    Attributes:
        status: §7 `status`.
        failure_kind: set for every status but `succeeded`.
        message: one masked human sentence (`failureMessage`).
        source: who failed (the `failure` event's `source`).
    """

    status: TerminalStatus
    failure_kind: FailureKind | None = None
    message: str | None = None
    source: str = "runner"
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_error(cls, error: RunnerError) -> Verdict:
        """`failed` with the error's kind, message and source."""
        status: TerminalStatus = "cancelled" if error.kind is FailureKind.CANCELLED else "failed"
        return cls(status, error.kind, error.message, error.source, error.detail)


_BY_REASON: dict[InterruptReason, Verdict] = {
    InterruptReason.CANCEL: Verdict("cancelled", FailureKind.CANCELLED, "cancelled by a command"),
    InterruptReason.TURN_TIMEOUT: Verdict(
        "timed-out", FailureKind.TURN_TIMEOUT, "timeouts.turnSeconds elapsed"
    ),
    InterruptReason.IDLE_TIMEOUT: Verdict(
        "timed-out", FailureKind.IDLE_TIMEOUT, "no backend activity for timeouts.idleSeconds"
    ),
    InterruptReason.INVALID_TOOL_CALLS: Verdict(
        "failed",
        FailureKind.PROVIDER_INVALID_TOOL_CALL,
        "three invalid tool calls in a row",
        "provider",
    ),
    InterruptReason.SIGTERM: Verdict(
        "failed", FailureKind.RUNNER_INTERRUPTED, "the runner got SIGTERM and stopped the turn"
    ),
    InterruptReason.LEASE_LOST: Verdict("failed", FailureKind.LEASE_LOST, "the lease was lost"),
    InterruptReason.DISK_FULL: Verdict(
        "failed", FailureKind.DISK_FULL, "a volume came within 5 % of its size limit"
    ),
    InterruptReason.PROTOCOL_ERROR: Verdict(
        "failed",
        FailureKind.BACKEND_PROTOCOL_ERROR,
        "the app-server kept sending lines that are not protocol messages",
        "backend",
    ),
}


def verdict_for_interrupt(reason: InterruptReason, observer: TurnObserver | None) -> Verdict:
    """The verdict when the runner interrupted the turn for `reason`.

    An idle timeout while Codex keeps retrying a connection (`error` with `willRetry`,
    codex-app-server.md §8/§9) is `provider-unreachable` rather than `idle-timeout`.
    """
    if reason is InterruptReason.IDLE_TIMEOUT and observer is not None:
        retrying = observer.retrying_error
        if retrying is not None:
            details = f"{retrying.get('message', '')} {retrying.get('additionalDetails', '')}"
            kind = classify_turn_error(retrying)
            if "Connection failed" in details or "waiting for network" in details:
                kind = FailureKind.PROVIDER_UNREACHABLE
            if kind in (FailureKind.PROVIDER_UNREACHABLE, FailureKind.PROVIDER_STREAM_DISCONNECTED):
                return Verdict(
                    "failed",
                    FailureKind.PROVIDER_UNREACHABLE,
                    f"the provider could not be reached before timeouts.idleSeconds ran out: "
                    f"{retrying.get('message', '')}",
                    "provider",
                )
    return _BY_REASON[reason]


def verdict_for_turn(observer: TurnObserver, reason: InterruptReason | None) -> Verdict:
    """The verdict for a turn that reached `turn/completed` (or was closed by the runner)."""
    outcome = observer.outcome
    if reason is not None:
        return verdict_for_interrupt(reason, observer)
    if outcome is None:
        return Verdict("failed", FailureKind.RUNNER_INTERNAL_ERROR, "the turn never ended")
    if (sandbox := observer.sandbox.last_message) is not None:
        return Verdict("failed", FailureKind.SANDBOX_ERROR, sandbox, "backend")
    if outcome.status == "completed":
        return Verdict("succeeded")
    if outcome.status == "failed":
        message = str((outcome.error or {}).get("message") or "the turn failed")
        if observer.invalid_tool_calls > 0:
            return Verdict("failed", FailureKind.PROVIDER_INVALID_TOOL_CALL, message, "provider")
        return Verdict("failed", classify_turn_error(outcome.error), message, "provider")
    if outcome.status == "interrupted":
        return Verdict(
            "failed",
            FailureKind.PROVIDER_ERROR,
            "the turn was interrupted by the backend",
            "backend",
        )
    return Verdict("failed", FailureKind.PROVIDER_ERROR, f"turn ended as {outcome.status}")
