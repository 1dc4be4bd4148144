"""Commands (§5) and their delivery states (§6), against `httpx.MockTransport`."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from runner.eventlog.events import EventLog
from runner.manager.client import ManagerClient, make_http_client
from runner.manager.commands import handle_command
from runner.manager.delivery import ManagerLink
from runner.safety.masking import Masker
from runner.turn.backend_run import TurnControl
from runner.turn.liveness import LivenessTracker
from runner.turn.outcome import InterruptReason

pytestmark = pytest.mark.anyio


def link_recording(deliveries: list[dict[str, object]]) -> ManagerLink:
    def handler(request: httpx.Request) -> httpx.Response:
        deliveries.append({"path": request.url.path, **json.loads(request.content)})
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


async def test_a_command_of_an_unknown_type_is_rejected_not_ignored() -> None:
    deliveries: list[dict[str, object]] = []
    link = link_recording(deliveries)
    with anyio.fail_after(5):
        await handle_command(
            {"commandId": "cmd-x", "type": "pause"},
            link,
            EventLog(Masker()),
            LivenessTracker(lambda a, b: None),
            TurnControl(),
        )
    await link.events_client.http.aclose()
    assert [d["state"] for d in deliveries] == ["received", "rejected"]
