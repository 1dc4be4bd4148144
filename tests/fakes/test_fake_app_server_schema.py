"""Every message the fake app-server emits validates against the pinned Codex's schema.

The schema is what `codex app-server generate-json-schema --experimental` prints for the
pinned npm 0.171.0 binary (generated once per session into a tmp dir). Every shipped
scenario is played by a raw stdio driver (`fakes.app_server.driver`) through a thread, its
turns (steered or interrupted where the turn hangs) and a `thread/resume` in a new
process. Notifications are validated against `ServerNotification.json` (by the union
branch of their `method`: the branches' method enums are disjoint, so that equals the
`oneOf`); the only method outside the union, `rawResponseItem/completed`, against its
own `v2/RawResponseItemCompletedNotification.json`. Responses are validated against
`v1|v2/<Method>Response.json` and server requests against `ServerRequest.json`.
Malformed lines are exempt (they are the point of those scenarios).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import jsonschema  # type: ignore[import-untyped]  # no types-jsonschema in the lock
import jsonschema.validators  # type: ignore[import-untyped]
import pytest

from adapters.codex.binary import npm_native_binary
from adapters.codex.transport import Incoming, ProtocolError
from fakes.app_server import SCENARIOS_DIR, load_scenario
from fakes.app_server.driver import Driver, ServerExited, open_driver
from fakes.app_server.scenario import HangStep, Scenario

pytestmark = pytest.mark.anyio

OFF_UNION_NOTIFICATIONS = {"rawResponseItem/completed"}
"""Seen on the wire with `experimentalRawEvents` (§7) but absent from the 0.171 union."""
SCENARIO_SECONDS = 120
"""A hang guard, not a speed check: the 100k-delta flood validates 100k messages (~30 s on a
loaded 2-core machine)."""


def _pascal(method: str) -> str:
    """`thread/tokenUsage/updated` → `ThreadTokenUsageUpdated`."""
    return "".join(part[:1].upper() + part[1:] for part in method.split("/"))


@dataclass
class SchemaChecker:
    """Validates server lines on the fly (constant memory) and keeps the first problems."""

    root: Path
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    methods_by_id: dict[int, str] = field(default_factory=dict)
    off_union: set[str] = field(default_factory=set)
    server_request_ids: list[int] = field(default_factory=list)
    _branches: dict[tuple[str, str], Any] = field(default_factory=dict)
    _files: dict[str, Any] = field(default_factory=dict)

    def _file_validator(self, relative: str) -> Any | None:
        if relative not in self._files:
            path = self.root / relative
            validator = None
            if path.is_file():
                schema = json.loads(path.read_text())
                validator = jsonschema.validators.validator_for(schema)(schema)
            self._files[relative] = validator
        return self._files[relative]

    def _branch(self, union: str, method: str) -> Any | None:
        """A validator of the `union` file restricted to the branch whose method is `method`."""
        key = (union, method)
        if key not in self._branches:
            schema = json.loads((self.root / union).read_text())
            branches = [
                b for b in schema["oneOf"] if b["properties"]["method"].get("enum") == [method]
            ]
            validator = None
            if branches:
                narrowed = {**schema, "oneOf": branches}
                validator = jsonschema.validators.validator_for(schema)(narrowed)
            self._branches[key] = validator
        return self._branches[key]

    def _check(self, validator: Any, instance: Any, what: str) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None and len(self.problems) < 20:
            self.problems.append(f"{what}: {error.message} at {list(error.absolute_path)}")

    def expect_response(self, request_id: int, method: str) -> None:
        """Say which method the response with `request_id` answers."""
        self.methods_by_id[request_id] = method

    def __call__(self, message: Incoming) -> None:
        if isinstance(message, ProtocolError):
            self.counts["<malformed>"] = self.counts.get("<malformed>", 0) + 1
            return
        if "jsonrpc" in message:
            self.problems.append(f"server message with a jsonrpc member: {str(message)[:200]}")
        method = message.get("method")
        if isinstance(method, str) and "id" in message:
            self.server_request_ids.append(message["id"])
            self._count(f"request {method}")
            validator = self._branch("ServerRequest.json", method)
            if validator is None:
                self.problems.append(f"server request {method} is not in ServerRequest.json")
            else:
                self._check(validator, message, f"server request {method}")
        elif isinstance(method, str):
            self._count(method)
            if not isinstance(message.get("emittedAtMs"), int):
                self.problems.append(f"notification {method} without integer emittedAtMs")
            validator = self._branch("ServerNotification.json", method)
            if validator is not None:
                self._check(validator, message, f"notification {method}")
                return
            self.off_union.add(method)
            own = self._file_validator(f"v2/{_pascal(method)}Notification.json")
            if own is None:
                self.problems.append(f"notification {method} has no schema at all")
            else:
                self._check(own, message.get("params"), f"notification {method}")
        elif "result" in message:
            request_id = message.get("id")
            request_method = (
                self.methods_by_id.get(request_id, "?") if isinstance(request_id, int) else "?"
            )
            self._count(f"response {request_method}")
            name = _pascal(request_method)
            validator = self._file_validator(f"v2/{name}Response.json") or self._file_validator(
                f"v1/{name}Response.json"
            )
            if validator is not None:
                self._check(validator, message["result"], f"response to {request_method}")

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


@pytest.fixture(scope="session")
def schema_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned 0.171.0 binary's experimental JSON Schema, generated once per session."""
    binary = npm_native_binary()
    if binary is None:
        pytest.skip("the pinned npm Codex 0.171.0 binary is not installed")
    out = tmp_path_factory.mktemp("codex-schema")
    subprocess.run(
        [str(binary), "app-server", "generate-json-schema", "--experimental", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


def _scenarios() -> Iterator[Any]:
    for path in sorted(SCENARIOS_DIR.glob("*.json")):
        yield pytest.param(path, id=path.stem)


async def _request(driver: Driver, checker: SchemaChecker, method: str, params: Any) -> Any:
    request_id = await driver.send_request(method, params)
    checker.expect_response(request_id, method)
    return await driver.until(lambda m: m.get("id") == request_id and "method" not in m)


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "text_elements": []}]


async def _turn(driver: Driver, checker: SchemaChecker, thread_id: str, control: str) -> bool:
    """One turn to `turn/completed`; `control` is `steer`, `interrupt` or `none`.

    Returns:
        False when the server exited before the turn completed (a crash scenario).
    """
    params = {"threadId": thread_id, "input": _text("go")}
    turn_id = (await _request(driver, checker, "turn/start", params))["result"]["turn"]["id"]
    try:
        if control != "none":
            await driver.until(lambda m: m.get("method") == "turn/started")
        if control == "steer":
            steer = {"threadId": thread_id, "expectedTurnId": turn_id, "input": _text("steer")}
            await _request(driver, checker, "turn/steer", steer)
        elif control == "interrupt":
            interrupt = {"threadId": thread_id, "turnId": turn_id}
            await _request(driver, checker, "turn/interrupt", interrupt)
        await driver.until(lambda m: m.get("method") == "turn/completed")
    except ServerExited:
        return False
    return True


async def _play(scenario: Scenario, path: Path, home: Path, checker: SchemaChecker) -> None:
    """Thread, turn(s), then `thread/resume` in a new process (see the module doc)."""
    argv = [sys.executable, "-m", "fakes.app_server", "--scenario", str(path), "app-server"]
    env = {"PATH": os.environ.get("PATH", ""), "CODEX_HOME": str(home), "PYTHONPATH": os.getcwd()}
    async with open_driver(argv, env=env, cwd=home, observe=checker) as driver:
        await _request(driver, checker, "initialize", _initialize_params())
        await driver.notify("initialized")
        if "thread/start" in scenario.requests:
            await driver.send_request("thread/start", {"cwd": str(home)})
            probe = await _request(driver, checker, "fake/probe", None)
            assert probe["error"]["code"] == -32600
            return
        params = {"cwd": str(home), "experimentalRawEvents": True}
        started = await _request(driver, checker, "thread/start", params)
        thread_id = started["result"]["thread"]["id"]
        first = scenario.turns[0]
        hangs = any(isinstance(step, HangStep) for step in first.steps)
        control = ("steer" if first.after_steer is not None else "interrupt") if hangs else "none"
        completed = await _turn(driver, checker, thread_id, control)
        if completed and hangs:
            await _turn(driver, checker, thread_id, "interrupt")
    async with open_driver(argv, env=env, cwd=home, observe=checker) as driver:
        await _request(driver, checker, "initialize", _initialize_params())
        await _request(driver, checker, "thread/resume", {"threadId": thread_id})


def _initialize_params() -> dict[str, Any]:
    return {
        "clientInfo": {"name": "schema_test", "version": "0.0.1"},
        "capabilities": {"experimentalApi": True},
    }


@pytest.mark.parametrize("path", list(_scenarios()))
async def test_every_message_of_the_scenario_validates_against_the_pinned_schema(
    path: Path, schema_dir: Path, tmp_path: Path
) -> None:
    scenario = load_scenario(path)
    checker = SchemaChecker(schema_dir)
    with anyio.fail_after(SCENARIO_SECONDS):
        await _play(scenario, path, tmp_path, checker)

    assert checker.problems == []
    assert checker.off_union <= OFF_UNION_NOTIFICATIONS
    assert checker.server_request_ids == list(range(len(checker.server_request_ids)))
    resumed = checker.counts.get("response thread/resume", 0)
    assert resumed == (0 if "thread/start" in scenario.requests else 1)
