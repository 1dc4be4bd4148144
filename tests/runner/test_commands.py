"""Commands (§5) and their delivery states (§6), against `httpx.MockTransport`."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from runner.eventlog.events import EventLog
from runner.manager.client import ManagerClient, make_http_client
from runner.manager.commands import handle_command, poll_commands
from runner.manager.delivery import ManagerLink
from runner.manager.retry import set_instant_retries
from runner.safety.masking import Masker
from runner.turn.backend_run import TurnControl
from runner.turn.liveness import LivenessTracker
from runner.turn.outcome import InterruptReason

pytestmark = pytest.mark.anyio


def link_recording(
    deliveries: list[dict[str, object]], delivered: anyio.Event | None = None
) -> ManagerLink:
    def handler(request: httpx.Request) -> httpx.Response:
        deliveries.append({"path": request.url.path, **json.loads(request.content)})
        if delivered is not None:
            delivered.set()
        return httpx.Response(200, json={})

    client = ManagerClient(
        make_http_client("http://mgr.test", "t0ken-value", transport=httpx.MockTransport(handler))
    )
    return ManagerLink(client, client, client, "run-1", "att-1", "lse-1", 10.0)


async def test_a_steer_after_the_turn_ended_is_rejected_as_no_active_turn() -> None:
    deliveries: list[dict[str, object]] = []
    link = link_recording(deliveries)
    control = TurnControl()
    control.turn_active.set()  # the turn ran and is over: no client, no observer
    events = EventLog(Masker())
    steer = {"commandId": "cmd-s", "type": "steer", "input": [{"type": "text", "text": "hi"}]}
    with anyio.fail_after(5):
        await handle_command(steer, link, events, LivenessTracker(lambda a, b: None), control)
    await link.events_client.http.aclose()
    assert [d["state"] for d in deliveries] == ["received", "rejected"]
    assert deliveries[-1]["detail"] == {"reason": "no-active-turn"}
    assert [e.data["state"] for e in events.batch()] == ["received", "rejected"]


async def test_a_cancel_is_received_and_stops_the_turn() -> None:
    deliveries: list[dict[str, object]] = []
    link = link_recording(deliveries)
    control = TurnControl()
    cancel = {"commandId": "cmd-c", "type": "cancel", "reason": "user-cancelled"}
    with anyio.fail_after(5):
        await handle_command(
            cancel, link, EventLog(Masker()), LivenessTracker(lambda a, b: None), control
        )
    await link.events_client.http.aclose()
    assert [d["state"] for d in deliveries] == ["received"]
    assert control.reason is InterruptReason.CANCEL
    assert control.requested.is_set()


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"commandId": "cmd-x", "type": "pause"}, "type"),
        ({"commandId": "cmd-x", "type": "steer", "input": [{"type": "text"}]}, "input[0].text"),
        ({"commandId": "cmd-x", "type": "steer", "input": "also docs"}, "input"),
        ({"commandId": "cmd-x", "type": "steer", "input": [{"type": "video"}]}, "input[0].type"),
        ({"commandId": "cmd-x", "type": "steer", "input": []}, "input"),
        ({"commandId": "cmd-x", "type": "cancel", "reason": 5}, "reason"),
    ],
)
async def test_a_command_the_runner_cannot_use_is_rejected_as_invalid_command_naming_the_field(
    command: dict[str, object], field: str
) -> None:
    deliveries: list[dict[str, object]] = []
    link = link_recording(deliveries)
    control = TurnControl()
    events = EventLog(Masker())
    with anyio.fail_after(5):
        await handle_command(command, link, events, LivenessTracker(lambda a, b: None), control)
    await link.events_client.http.aclose()
    assert [d["state"] for d in deliveries] == ["rejected"]
    detail = deliveries[0]["detail"]
    assert isinstance(detail, dict)
    assert detail["reason"] == "invalid-command"
    assert detail["field"] == field
    assert control.reason is None  # the attempt goes on
    assert [e.data["state"] for e in events.batch()] == ["rejected"]


@pytest.mark.parametrize("command", [["steer"], "cancel", None, {"type": "cancel"}, 7])
async def test_a_command_without_a_usable_command_id_is_one_runner_action_event(
    command: object,
) -> None:
    deliveries: list[dict[str, object]] = []
    link = link_recording(deliveries)
    control = TurnControl()
    events = EventLog(Masker())
    with anyio.fail_after(5):
        await handle_command(command, link, events, LivenessTracker(lambda a, b: None), control)
    await link.events_client.http.aclose()
    assert deliveries == []
    [event] = events.batch()
    assert event.type == "runner.action"
    assert event.data["reason"] == "invalid-command"
    assert control.reason is None


async def test_a_command_after_the_verdict_is_rejected_as_attempt_ending_without_an_event() -> None:
    deliveries: list[dict[str, object]] = []
    link = link_recording(deliveries)
    control = TurnControl()
    control.end()
    events = EventLog(Masker())
    steer = {"commandId": "cmd-s", "type": "steer", "input": [{"type": "text", "text": "hi"}]}
    cancel = {"commandId": "cmd-c", "type": "cancel"}
    with anyio.fail_after(5):
        for command in (steer, cancel):
            await handle_command(command, link, events, LivenessTracker(lambda a, b: None), control)
    await link.events_client.http.aclose()
    assert [(d["path"], d["state"]) for d in deliveries] == [
        ("/api/v1/commands/cmd-s/delivery", "rejected"),
        ("/api/v1/commands/cmd-c/delivery", "rejected"),
    ]
    assert all(d["detail"] == {"reason": "attempt-ending"} for d in deliveries)
    assert events.batch() == []
    assert control.reason is None


async def test_a_steer_held_for_a_turn_that_never_starts_is_rejected_when_the_attempt_ends() -> (
    None
):
    deliveries: list[dict[str, object]] = []
    received = anyio.Event()
    link = link_recording(deliveries, received)
    control = TurnControl()
    events = EventLog(Masker())
    steer = {"commandId": "cmd-s", "type": "steer", "input": [{"type": "text", "text": "hi"}]}
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                handle_command, steer, link, events, LivenessTracker(lambda a, b: None), control
            )
            await received.wait()
            control.end()
    await link.events_client.http.aclose()
    assert [d["state"] for d in deliveries] == ["received", "rejected"]
    assert deliveries[-1]["detail"] == {"reason": "attempt-ending"}
    assert [e.data["state"] for e in events.batch()] == ["received"]


async def test_the_long_poll_survives_bad_answers_and_still_sees_a_later_cancel() -> None:
    answers: list[httpx.Response] = [
        httpx.Response(200, content=b"<html>not json</html>"),
        httpx.Response(200, json={"commands": "nope"}),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(500, json={"error": {"code": "boom", "message": "x"}}),
        httpx.Response(400, json={"error": {"code": "bad", "message": "x"}}),
        httpx.Response(
            200, json={"cursor": "1", "commands": [{"commandId": "cmd-c", "type": "cancel"}]}
        ),
    ]
    deliveries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/delivery"):
            deliveries.append(json.loads(request.content)["state"])
            return httpx.Response(200, json={})
        return answers.pop(0) if answers else httpx.Response(200, json={"commands": []})

    client = ManagerClient(
        make_http_client("http://mgr.test", "t0ken-value", transport=httpx.MockTransport(handler))
    )
    link = ManagerLink(client, client, client, "run-1", "att-1", "lse-1", 10.0)
    control = TurnControl()
    stop = anyio.Event()
    set_instant_retries(True)
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    poll_commands,
                    link,
                    EventLog(Masker()),
                    LivenessTracker(lambda a, b: None),
                    control,
                    stop,
                )
                await control.requested.wait()
                stop.set()
    finally:
        set_instant_retries(False)
        await client.http.aclose()
    assert control.reason is InterruptReason.CANCEL
    assert deliveries == ["received"]
