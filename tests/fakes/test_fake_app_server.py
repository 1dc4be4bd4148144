"""Behaviour of the fake Codex app-server (`fakes.app_server`), driven over real stdio.

Each test spawns the fake as the runner would (`<launcher> app-server` with a given
`CODEX_HOME`) and checks one behaviour against what codex-app-server.md records of Codex
0.169. The last test points the real runner (`python -m runner run`) at the fake.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from fakes.app_server import LAUNCHER, RECORD_FILE_NAME, SCENARIO_FILE_NAME, SCENARIOS_DIR
from fakes.app_server.driver import Driver, ServerExited, default_answer, open_driver, text_input
from fakes.app_server.driver import ProtocolError as BadLine
from fakes.manager import example_job
from fakes.stack import local_stack
from runner.manager.retry import set_instant_retries

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 15


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "CODEX_HOME": str(home), **extra}


@asynccontextmanager
async def fake(
    home: Path,
    scenario: str | None = "plain-answer",
    *,
    answer: Any = default_answer,
    lines: list[Any] | None = None,
    **env: str,
) -> AsyncIterator[Driver]:
    """The fake launched like Codex, with `scenarios/<scenario>.json` via the env var."""
    if scenario is not None:
        env.setdefault("FAKE_CODEX_SCENARIO", str(SCENARIOS_DIR / f"{scenario}.json"))
    observe = lines.append if lines is not None else (lambda _m: None)
    with anyio.fail_after(WAIT_SECONDS):
        async with open_driver(
            [str(LAUNCHER), "app-server"],
            env=_env(home, **env),
            cwd=home,
            observe=observe,
            answer=answer,
        ) as driver:
            yield driver


async def _thread(driver: Driver, home: Path, **params: Any) -> str:
    await driver.initialize()
    response = await driver.request("thread/start", {"cwd": str(home), **params})
    thread_id = response["result"]["thread"]["id"]
    assert isinstance(thread_id, str)
    return thread_id


def _methods(lines: list[Any]) -> list[str]:
    return [m["method"] for m in lines if isinstance(m, dict) and "method" in m]


async def test_requests_before_initialize_are_refused_as_not_initialized(tmp_path: Path) -> None:
    async with fake(tmp_path) as driver:
        early = await driver.request("thread/start", {})
        await driver.initialize()
        again = await driver.request("initialize", {"clientInfo": {"name": "x", "version": "1"}})

    assert early["error"] == {"code": -32600, "message": "Not initialized"}
    assert again["error"] == {"code": -32600, "message": "Already initialized"}


async def test_an_unknown_method_is_an_invalid_request_naming_the_variant(tmp_path: Path) -> None:
    async with fake(tmp_path) as driver:
        response = await driver.request("foo/bar")

    assert response["error"]["code"] == -32600
    assert response["error"]["message"].startswith(
        "Invalid request: unknown variant `foo/bar`, expected one of `initialize`, "
    )


async def test_a_plain_answer_streams_its_deltas_and_completes_with_the_final_message(
    tmp_path: Path,
) -> None:
    lines: list[Any] = []
    async with fake(tmp_path, lines=lines) as driver:
        thread_id = await _thread(driver, tmp_path)
        done = await driver.run_turn(thread_id)

    methods = _methods(lines)
    assert methods.count("item/agentMessage/delta") == 3
    assert done["turn"]["status"] == "completed"
    assert done["turn"]["items"][0]["text"] == (
        "Hello there, this is the fake app-server answering."
    )
    assert methods.index("thread/tokenUsage/updated") < methods.index("turn/completed")
    assert all("jsonrpc" not in m for m in lines if isinstance(m, dict))


async def test_a_new_process_resumes_the_thread_from_its_rollout_file(tmp_path: Path) -> None:
    async with fake(tmp_path) as driver:
        thread_id = await _thread(driver, tmp_path)
        await driver.run_turn(thread_id, "FIRST-PROMPT")
    async with fake(tmp_path) as driver:
        await driver.initialize()
        resumed = await driver.request("thread/resume", {"threadId": thread_id})
        done = await driver.run_turn(thread_id)

    thread = resumed["result"]["thread"]
    assert thread["id"] == thread_id
    assert thread["preview"] == "FIRST-PROMPT"
    assert [t["status"] for t in thread["turns"]] == ["completed"]
    assert thread["path"].startswith(str(tmp_path / "sessions"))
    assert done["turn"]["status"] == "completed"


async def test_resume_of_unknown_or_malformed_ids_fails_with_the_real_messages(
    tmp_path: Path,
) -> None:
    unknown = "01a1ffa0-0000-7000-8000-000000000000"
    async with fake(tmp_path) as driver:
        await driver.initialize()
        missing = await driver.request("thread/resume", {"threadId": unknown})
        malformed = await driver.request("thread/resume", {"threadId": "nope"})
        empty = await driver.request("thread/resume", {"threadId": ""})

    assert missing["error"]["message"] == f"no rollout found for thread id {unknown}"
    assert malformed["error"]["message"] == (
        "invalid session id: invalid character: expected an optional prefix of `urn:uuid:` "
        "followed by [0-9a-fA-F-], found `n` at 1"
    )
    assert empty["error"]["message"] == (
        "invalid session id: invalid length: expected length 32 for simple format, found 0"
    )


async def test_steer_needs_expected_turn_id_and_an_active_turn(tmp_path: Path) -> None:
    async with fake(tmp_path, "hang-until-interrupt") as driver:
        thread_id = await _thread(driver, tmp_path)
        idle = await driver.request(
            "turn/steer", {"threadId": thread_id, "expectedTurnId": "t", "input": []}
        )
        started = await driver.request(
            "turn/start", {"threadId": thread_id, "input": text_input("go")}
        )
        turn_id = started["result"]["turn"]["id"]
        missing = await driver.request("turn/steer", {"threadId": thread_id, "input": []})
        wrong = await driver.request(
            "turn/steer", {"threadId": thread_id, "expectedTurnId": "nope", "input": []}
        )
        steered = await driver.request(
            "turn/steer",
            {"threadId": thread_id, "expectedTurnId": turn_id, "input": text_input("STEER")},
        )
        done = await driver.until(lambda m: m.get("method") == "turn/completed")

    assert idle["error"]["message"] == "no active turn to steer"
    assert missing["error"]["message"] == "Invalid request: missing field `expectedTurnId`"
    assert wrong["error"]["message"] == f"expected active turn id `nope` but found `{turn_id}`"
    assert steered["result"] == {"turnId": turn_id}
    assert done["params"]["turn"]["status"] == "completed"
    assert done["params"]["turn"]["items"][0]["text"] == "Answer after the steer."


async def test_interrupt_ends_a_hanging_turn_as_interrupted(tmp_path: Path) -> None:
    async with fake(tmp_path, "hang-until-interrupt") as driver:
        thread_id = await _thread(driver, tmp_path)
        started = await driver.request(
            "turn/start", {"threadId": thread_id, "input": text_input("go")}
        )
        turn_id = started["result"]["turn"]["id"]
        interrupted = await driver.request(
            "turn/interrupt", {"threadId": thread_id, "turnId": turn_id}
        )
        done = await driver.until(lambda m: m.get("method") == "turn/completed")
        after = await driver.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id})

    assert interrupted["result"] == {}
    assert done["params"]["turn"]["status"] == "interrupted"
    assert done["params"]["turn"]["error"] is None
    assert after["error"]["message"] == "no active turn to interrupt"


async def test_a_declined_command_approval_is_recorded_and_the_turn_goes_on_after_it(
    tmp_path: Path,
) -> None:
    lines: list[Any] = []
    async with fake(
        tmp_path,
        "server-request-command-approval",
        answer=lambda _method, _params: {"decision": "decline"},
        lines=lines,
    ) as driver:
        thread_id = await _thread(driver, tmp_path)
        done = await driver.run_turn(thread_id)

    records = [json.loads(line) for line in (tmp_path / RECORD_FILE_NAME).read_text().splitlines()]
    answered = [r for r in records if r["type"] == "serverRequestAnswered"]
    assert answered[0]["method"] == "item/commandExecution/requestApproval"
    assert answered[0]["result"] == {"decision": "decline"}
    completed = [
        m["params"]["item"]
        for m in lines
        if isinstance(m, dict) and m.get("method") == "item/completed"
    ]
    assert [i["status"] for i in completed if i["type"] == "commandExecution"] == ["declined"]
    methods = _methods(lines)
    assert methods.index("item/commandExecution/requestApproval") < methods.index(
        "serverRequest/resolved"
    )
    assert done["turn"]["status"] == "completed"


async def test_a_crash_mid_turn_closes_stdout_with_the_scripted_exit_code(tmp_path: Path) -> None:
    async with fake(tmp_path, "crash-mid-turn") as driver:
        thread_id = await _thread(driver, tmp_path)
        with pytest.raises(ServerExited):
            await driver.run_turn(thread_id)
        returncode = await driver.transport.process.wait()

    assert returncode == 3
    assert "fake crash" in driver.transport.stderr_tail.text()


async def test_a_never_answered_thread_start_leaves_the_connection_usable(tmp_path: Path) -> None:
    lines: list[Any] = []
    async with fake(tmp_path, "never-answers-thread-start", lines=lines) as driver:
        await driver.initialize()
        pending = await driver.send_request("thread/start", {"cwd": str(tmp_path)})
        probe = await driver.request("foo/bar")

    assert probe["error"]["code"] == -32600
    assert not [m for m in lines if isinstance(m, dict) and m.get("id") == pending]


async def test_malformed_lines_and_the_huge_line_reach_the_client_as_written(
    tmp_path: Path,
) -> None:
    bad: list[Any] = []
    async with fake(tmp_path, "malformed-lines", lines=bad) as driver:
        done = await driver.run_turn(await _thread(driver, tmp_path))
    huge: list[Any] = []
    async with fake(tmp_path, "five-mb-line", lines=huge) as driver:
        await driver.run_turn(await _thread(driver, tmp_path))

    assert sum(isinstance(m, BadLine) for m in bad) == 5
    assert done["turn"]["items"][0]["text"] == "Still here after the bad lines."
    deltas = [
        m for m in huge if isinstance(m, dict) and m.get("method") == "item/agentMessage/delta"
    ]
    assert len(json.dumps(deltas[0])) >= 5 * 1024 * 1024 - 200


async def test_raw_function_call_outputs_arrive_only_with_experimental_raw_events(
    tmp_path: Path,
) -> None:
    with_raw: list[Any] = []
    async with fake(tmp_path, "invalid-tool-call-x3", lines=with_raw) as driver:
        await driver.run_turn(await _thread(driver, tmp_path, experimentalRawEvents=True))
    without: list[Any] = []
    async with fake(tmp_path, "invalid-tool-call-x3", lines=without) as driver:
        await driver.run_turn(await _thread(driver, tmp_path))

    outputs = [
        m["params"]["item"]["output"]
        for m in with_raw
        if isinstance(m, dict)
        and m.get("method") == "rawResponseItem/completed"
        and m["params"]["item"]["type"] == "function_call_output"
    ]
    assert len(outputs) == 3
    assert all(o.startswith("failed to parse function arguments:") for o in outputs)
    assert "rawResponseItem/completed" not in _methods(without)


async def test_a_provider_500_fails_the_turn_with_internal_server_error(tmp_path: Path) -> None:
    lines: list[Any] = []
    async with fake(tmp_path, "provider-500", lines=lines) as driver:
        done = await driver.run_turn(await _thread(driver, tmp_path))

    errors = [m["params"] for m in lines if isinstance(m, dict) and m.get("method") == "error"]
    assert errors[0]["willRetry"] is False
    assert errors[0]["error"]["codexErrorInfo"] == "internalServerError"
    assert done["turn"]["status"] == "failed"
    assert done["turn"]["error"] == errors[0]["error"]


async def test_the_flood_delivers_one_hundred_thousand_deltas(tmp_path: Path) -> None:
    count = 0

    def observe(message: Any) -> None:
        nonlocal count
        if isinstance(message, dict) and message.get("method") == "item/agentMessage/delta":
            count += 1

    env = _env(tmp_path, FAKE_CODEX_SCENARIO=str(SCENARIOS_DIR / "flood-100k-deltas.json"))
    with anyio.fail_after(WAIT_SECONDS):
        async with open_driver(
            [str(LAUNCHER), "app-server"], env=env, cwd=tmp_path, observe=observe
        ) as driver:
            done = await driver.run_turn(await _thread(driver, tmp_path))

    assert count == 100_000
    assert len(done["turn"]["items"][0]["text"]) == 100_000


async def test_the_scenario_env_var_wins_over_the_file_in_codex_home(tmp_path: Path) -> None:
    shutil.copy(SCENARIOS_DIR / "provider-500.json", tmp_path / SCENARIO_FILE_NAME)
    async with fake(tmp_path, None) as driver:
        from_file = await driver.run_turn(await _thread(driver, tmp_path))
    async with fake(tmp_path, "plain-answer") as driver:
        from_env = await driver.run_turn(await _thread(driver, tmp_path))

    assert from_file["turn"]["status"] == "failed"
    assert from_env["turn"]["status"] == "completed"


def test_the_launcher_prints_the_fake_version_and_refuses_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"turns": [{"steps": [{"kind": "agentMessage", "txt": "x"}]}]}))
    version = subprocess.run(
        [str(LAUNCHER), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    refused = subprocess.run(
        [str(LAUNCHER), "app-server"],
        env=_env(tmp_path, FAKE_CODEX_SCENARIO=str(bad)),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    missing_home = subprocess.run(
        [str(LAUNCHER), "app-server"],
        env=_env(tmp_path / "nope"),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert version.stdout.strip() == "codex-cli 0.169.0-fake"
    assert refused.returncode == 2
    assert "turns.0.steps.0.agentMessage.txt" in refused.stderr
    assert missing_home.returncode == 1
    assert "CODEX_HOME points to" in missing_home.stderr


async def test_the_runner_pointed_at_the_fake_succeeds_with_the_scripted_text(
    tmp_path: Path,
) -> None:
    set_instant_retries(True)
    try:
        async with local_stack(tmp_path, []) as stack:
            shutil.copy(
                SCENARIOS_DIR / "plain-answer.json", stack.provider_home / SCENARIO_FILE_NAME
            )
            job = example_job(text="Say hello.")
            stack.manager.add_job(job, heartbeat_interval_seconds=1)
            env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(LAUNCHER))
            with anyio.fail_after(60):
                result = await stack.run_runner(job["runnerJobId"], env=env)
            terminal = stack.manager.terminal(job["runId"], job["attemptId"])
    finally:
        set_instant_retries(False)

    assert result.returncode == 0, result.stderr[-2000:]
    assert terminal is not None
    assert terminal["status"] == "succeeded"
    assert terminal["finalResponse"] == "Hello there, this is the fake app-server answering."
