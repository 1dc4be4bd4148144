"""Commands from the manager during an attempt: the long poll (§5) and deliveries (§6).

`poll_commands` long-polls on its own connection and hands each command to
`handle_command`: a `steer` is reported `received`, then `forwarded` with `turn/steer`
(`expectedTurnId` = the active turn), then `accepted` or `rejected` (`no-active-turn`
when the turn is gone); a `cancel` is `received` and stops the turn
(`turn/interrupt`, then status `cancelled`). Each delivery state is also a
`steer.delivery` event.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from pydantic import ValidationError

from adapters.codex.session import JsonRpcError
from concurrency.taskgroups import task_group
from contract.failures import ManagerError, RunnerError
from contract.manager_api import Command, DeliveryRequest, DeliveryState, utc_now
from runner.eventlog.events import EventLog
from runner.manager.delivery import ManagerLink
from runner.manager.retry import RetryPolicy, call_with_retries
from runner.turn.backend_run import TurnControl, codex_input
from runner.turn.liveness import LivenessTracker
from runner.turn.outcome import InterruptReason

log = logging.getLogger(__name__)

POLL_WAIT_SECONDS = 25
DELIVERY_RETRY = RetryPolicy(attempts=5, deadline_seconds=30.0)


async def deliver(
    link: ManagerLink,
    events: EventLog,
    command_id: str,
    state: DeliveryState,
    detail: dict[str, Any] | None = None,
) -> None:
    """Report one delivery state to the manager (§6) and as a `steer.delivery` event."""
    detail = detail or {}
    await events.emit(
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
    raw: dict[str, Any],
    link: ManagerLink,
    events: EventLog,
    liveness: LivenessTracker,
    control: TurnControl,
) -> None:
    """Act on one command of the long poll (§5)."""
    try:
        command = Command.model_validate(raw)
    except ValidationError:
        await events.emit(
            "backend.warning",
            {
                "message": "ignored a command that is not a valid §5 command",
                "commandId": raw.get("commandId"),
            },
        )
        return
    if command.type == "cancel":
        await deliver(link, events, command.command_id, "received")
        control.stop(InterruptReason.CANCEL)
        return
    if command.type != "steer":
        await deliver(link, events, command.command_id, "received")
        await deliver(
            link,
            events,
            command.command_id,
            "rejected",
            {"reason": "unknown-command-type", "type": command.type},
        )
        return
    await deliver(link, events, command.command_id, "received")
    await control.turn_active.wait()
    observer, client = control.observer, control.client
    if (
        observer is None
        or client is None
        or control.thread_id is None
        or observer.turn_id is None
        or observer.done.is_set()
        or control.reason is not None
    ):
        await deliver(link, events, command.command_id, "rejected", {"reason": "no-active-turn"})
        return
    items = codex_input(command.input)
    await deliver(link, events, command.command_id, "forwarded", {"turnId": observer.turn_id})
    try:
        await client.steer_turn(control.thread_id, observer.turn_id, items)
    except (JsonRpcError, RunnerError, ValidationError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        reason = "no-active-turn" if "no active turn" in message else "backend-refused"
        await deliver(
            link, events, command.command_id, "rejected", {"reason": reason, "message": message}
        )
        return
    liveness.model_output()
    await deliver(link, events, command.command_id, "accepted", {"turnId": observer.turn_id})


async def poll_commands(
    link: ManagerLink, events: EventLog, liveness: LivenessTracker, control: TurnControl
) -> None:
    """Long-poll commands until cancelled; each is handled in its own task (§5)."""
    cursor: str | None = None
    async with task_group() as tg:
        while True:
            try:
                response = await call_with_retries(
                    RetryPolicy(attempts=1_000, deadline_seconds=3600.0),
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
                log.warning("commands poll stopped: %s", exc.message)
                return
            cursor = response.cursor or cursor
            for raw in response.commands:
                tg.start_soon(handle_command, raw, link, events, liveness, control)
