"""Finish an attempt that an earlier runner process of the same pod left unfinished.

When the runner is restarted in the same pod (the Job's `restartPolicy: OnFailure`),
it re-claims with the same runner id, finds the spool, and never runs a second turn:
it ends the backend the dead process left behind, re-sends what was not acknowledged,
and reports a terminal status derived from the spooled events — `runner-interrupted`
unless the turn had already ended (issue "Delivery you can trust", item 4).
"""

from __future__ import annotations

import logging
import os
import signal
from contextlib import suppress
from typing import Any

import psutil

from contract.failures import FailureKind
from contract.manager_api import Usage
from runner.eventlog.spool import Recovered
from runner.turn.classify import classify_turn_error
from runner.turn.outcome import TurnFacts, Verdict

log = logging.getLogger(__name__)


def end_orphaned_backend(backend: dict[str, Any] | None) -> bool:
    """SIGKILL the process group of the dead runner's backend, if it still runs.

    The pid is trusted only when the process's start time matches the spooled one, so a
    reused pid is never signalled.

    Returns:
        Whether a live backend was found and killed.
    """
    if not backend or not isinstance(backend.get("pid"), int):
        return False
    try:
        proc = psutil.Process(backend["pid"])
        if abs(proc.create_time() - float(backend.get("createTime", 0))) > 0.01:
            return False
    except psutil.Error:
        return False
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(psutil.Error):
        proc.wait(timeout=5)
    log.warning("ended the backend (pid %d) a previous runner process left", proc.pid)
    return True


def recovered_facts(recovered: Recovered) -> TurnFacts:
    """Thread, turn, final response and usage as the spooled events tell them."""
    facts = TurnFacts()
    for event in recovered.events:
        data = event.data
        if event.type in ("thread.started", "thread.resumed"):
            facts.thread_id = data.get("threadId")
        elif event.type == "turn.started":
            facts.turn_id = data.get("turnId")
        elif event.type == "item.completed" and data.get("itemType") == "agentMessage":
            if isinstance(data.get("text"), str):
                facts.final_response = data["text"]
        elif event.type == "turn.completed" and isinstance(data.get("usage"), dict):
            facts.usage = Usage.model_validate(data["usage"])
    return facts


def recovered_verdict(recovered: Recovered) -> Verdict:
    """How the attempt ends, from what the earlier process got to spool."""
    for event in reversed(recovered.events):
        if event.type == "runner.terminal":
            status = event.data.get("status")
            kind = event.data.get("failureKind")
            failure = next(
                (e for e in reversed(recovered.of_type("failure")) if e.data.get("terminal")),
                None,
            )
            message = failure.data.get("message") if failure is not None else None
            if status == "succeeded":
                return Verdict("succeeded")
            if status in ("failed", "cancelled", "timed-out") and kind in set(FailureKind):
                return Verdict(status, FailureKind(kind), message)
    turns = recovered.of_type("turn.completed")
    if turns:
        data = turns[-1].data
        if data.get("status") == "completed":
            return Verdict("succeeded")
        if data.get("status") == "failed":
            error = data.get("error")
            message = str((error or {}).get("message") or "the turn failed")
            return Verdict("failed", classify_turn_error(error), message, "provider")
    return Verdict(
        "failed",
        FailureKind.RUNNER_INTERRUPTED,
        "the runner process died during the attempt and was restarted; the turn is not rerun",
    )
