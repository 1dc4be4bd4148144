"""Commands from the manager during an attempt: the long poll (§5) and deliveries (§6).

`poll_commands` long-polls on its own connection until it is told to stop (after the
terminal report), whatever the manager answers: a 5xx, a reset, a body that is not JSON
or not the §5 shape is a transient fault, backed off with jitter, and the poll goes on.
Each command is validated (`contract.validation`) and handled in its own task:

- a command the runner cannot use is `rejected` with `detail.reason: "invalid-command"`
  and the field named (when it has a `commandId`; else one `runner.action` event);
- a `steer` is `received`, held until the turn starts, `forwarded` with `turn/steer`
  (`expectedTurnId` = the active turn), then `accepted` or `rejected`
  (`no-active-turn` when the turn is gone);
- a `cancel` is `received` and stops the turn (`turn/interrupt`, status `cancelled`; an
  early one means no turn is started at all);
- once the attempt's verdict is decided (`TurnControl.ending`), every later command is
  `rejected` with `attempt-ending` as a delivery only, without an event (§6).

Each other delivery state is also a `steer.delivery` event.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

import anyio

from adapters.codex.session import JsonRpcError
from concurrency.taskgroups import task_group
from contract.failures import ManagerError, RunnerError
from contract.manager_api import CancelCommand, DeliveryRequest, DeliveryState, utc_now
from contract.validation import InvalidCommand, validate_command
from runner.eventlog.events import EventLog
from runner.manager.delivery import ManagerLink
from runner.manager.retry import RetryPolicy, backoff_seconds, call_with_retries
from runner.turn.backend_run import TurnControl, codex_input
from runner.turn.liveness import LivenessTracker
from runner.turn.outcome import InterruptReason

log = logging.getLogger(__name__)

POLL_WAIT_SECONDS = 25
POLL_RETRY = RetryPolicy(attempts=20, deadline_seconds=300.0, max_seconds=30.0)
"""One round of transient-fault retries; after it the poll backs off and goes on anyway."""
MIN_POLL_SECONDS = 1.0
"""An empty answer sooner than this (a manager ignoring `waitSeconds`) is waited out."""
DELIVERY_RETRY = RetryPolicy(attempts=5, deadline_seconds=30.0)


async def deliver(
    link: ManagerLink,
    events: EventLog,
    control: TurnControl,
    command_id: str,
    state: DeliveryState,
    detail: dict[str, Any] | None = None,
) -> None:
    """Report one delivery state to the manager (§6), and as a `steer.delivery` event
    unless the verdict is already decided (then the delivery alone, §6)."""
    detail = detail or {}
    if not control.ending:
        events.emit_nowait(
            "steer.delivery",
            {"commandId": command_id, "state": state, "detail": detail},
            command_id=command_id,
        )
    request = DeliveryRequest(lease_id=link.lease_id, state=state, time=utc_now(), detail=detail)
    try:
        await call_with_retries(
            DELIVERY_RETRY, lambda: link.events_client.deliver(command_id, request)
        )
    except ManagerError as exc:
        link.check(exc)
        log.warning("delivery %s of %s not recorded: %s", state, command_id, exc.message)


async def handle_command(
    raw: Any,
    link: ManagerLink,
    events: EventLog,
    liveness: LivenessTracker,
    control: TurnControl,
) -> None:
    """Act on one command of the long poll (§5); never raises for what the manager sent."""
    try:
        command = validate_command(raw)
    except InvalidCommand as exc:
        await _refuse(link, events, control, exc)
        return
    cid = command.command_id
    if control.ending:
        await deliver(link, events, control, cid, "rejected", {"reason": "attempt-ending"})
        return
    await deliver(link, events, control, cid, "received")
    if isinstance(command, CancelCommand):
        control.stop(InterruptReason.CANCEL)
        return
    await control.turn_active.wait()
    observer, client = control.observer, control.client
    if control.ending:
        await deliver(link, events, control, cid, "rejected", {"reason": "attempt-ending"})
        return
    if (
        observer is None
        or client is None
        or control.thread_id is None
        or observer.turn_id is None
        or observer.done.is_set()
        or control.reason is not None
    ):
        await deliver(link, events, control, cid, "rejected", {"reason": "no-active-turn"})
        return
    turn_id = observer.turn_id
    await deliver(link, events, control, cid, "forwarded", {"turnId": turn_id})
    try:
        await client.steer_turn(control.thread_id, turn_id, codex_input(command.input))
    except (JsonRpcError, RunnerError, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        reason = "no-active-turn" if "no active turn" in message else "backend-refused"
        await deliver(
            link, events, control, cid, "rejected", {"reason": reason, "message": message}
        )
        return
    liveness.model_output()
    await deliver(link, events, control, cid, "accepted", {"turnId": turn_id})


async def _refuse(
    link: ManagerLink, events: EventLog, control: TurnControl, exc: InvalidCommand
) -> None:
    detail = {"reason": "invalid-command", "field": exc.field, "message": exc.message}
    if exc.command_id is not None:
        await deliver(link, events, control, exc.command_id, "rejected", detail)
    elif not control.ending:
        # No commandId: no delivery can carry the refusal, so the run's events do.
        events.emit_nowait(
            "runner.action",
            {"action": "refuse-command", "reason": "invalid-command", "detail": detail},
        )


async def poll_commands(
    link: ManagerLink,
    events: EventLog,
    liveness: LivenessTracker,
    control: TurnControl,
    stop: anyio.Event,
) -> None:
    """Long-poll commands until `stop` is set (after the terminal report) or the lease is
    lost; then wait for the commands in hand to finish their deliveries (§5)."""
    async with task_group() as handlers, task_group() as poller:

        async def watch_stop() -> None:
            await stop.wait()
            poller.cancel_scope.cancel()

        poller.start_soon(watch_stop)
        await _poll_forever(link, events, liveness, control, handlers)
        poller.cancel_scope.cancel()


async def _poll_forever(
    link: ManagerLink,
    events: EventLog,
    liveness: LivenessTracker,
    control: TurnControl,
    handlers: anyio.abc.TaskGroup,
) -> None:
    cursor: str | None = None
    seen: set[str] = set()
    failures = 0
    while not link.lost.is_set():
        started = time.monotonic()
        try:
            response = await call_with_retries(
                POLL_RETRY,
                partial(
                    link.commands_client.poll_commands,
                    link.run_id,
                    link.lease_id,
                    cursor,
                    POLL_WAIT_SECONDS,
                ),
            )
        except ManagerError as exc:
            link.check(exc)
            if link.lost.is_set():
                return
            failures += 1
            log.warning(
                "commands poll failed (%d in a row), polling again: %s", failures, exc.message
            )
            await anyio.sleep(backoff_seconds(failures))
            continue
        failures = 0
        cursor = response.cursor or cursor
        for raw in response.commands:
            command_id = raw.get("commandId") if isinstance(raw, dict) else None
            if isinstance(command_id, str) and command_id in seen:
                continue  # the manager sent it again: one delivery per command
            if isinstance(command_id, str):
                seen.add(command_id)
            handlers.start_soon(handle_command, raw, link, events, liveness, control)
        if not response.commands:
            await anyio.sleep(max(0.0, MIN_POLL_SECONDS - (time.monotonic() - started)))
