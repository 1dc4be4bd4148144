"""The scripted model driving the real Codex CLI (`codex exec`), end to end on loopback.

Each test starts the server, writes a fresh CODEX_HOME with `write_codex_config`, and runs
`codex exec --json` once (about 0.3 s per run on an idle machine). The core tests run on
every installed build (npm 0.171.0 and 0.169.0, PyPI 0.163.0); the provider-failure table
runs on the npm builds, whose messages the shared notes `codex-app-server.md` §8 record
(probed on 0.169.0; 0.171.0 words them the same).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from fakes.model import (
    EXHAUSTED_ERROR_CODE,
    SCRIPTS_DIR,
    load_script,
    parse_script,
    serve_scripted_model,
    write_codex_config,
)
from tests.real_codex import REAL_CODEX

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_SECONDS = 60


def _binary_param(version: str, path: Path | None) -> Any:
    missing = path is None or not path.exists()
    return pytest.param(
        path,
        id=version,
        marks=pytest.mark.skipif(missing, reason=f"codex {version} binary not installed"),
    )


BINARIES = [_binary_param(build.split("-")[1], find()) for build, find in REAL_CODEX.items()]
NPM_BINARIES = [
    _binary_param(build.split("-")[1], find())
    for build, find in REAL_CODEX.items()
    if build.endswith("-npm")
]


@dataclass(frozen=True)
class CodexRun:
    """The outcome of one `codex exec --json`."""

    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    def agent_messages(self) -> list[str]:
        return [
            event["item"]["text"]
            for event in self.events
            if event.get("type") == "item.completed"
            and event["item"].get("type") == "agent_message"
        ]

    def failure(self) -> str | None:
        failed = [e for e in self.events if e.get("type") == "turn.failed"]
        return str(failed[-1]["error"]["message"]) if failed else None


async def run_codex_exec(binary: Path, base_url: str, tmp_path: Path, **config: Any) -> CodexRun:
    """Run one non-interactive Codex turn against `base_url` with a fresh CODEX_HOME."""
    home = tmp_path / "codex-home"
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    write_codex_config(home, base_url, **config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env["CODEX_HOME"] = str(home)
    command = [
        str(binary),
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "-C",
        str(work),
        "say hi",
    ]
    with anyio.fail_after(RUN_TIMEOUT_SECONDS):
        result = await anyio.run_process(command, env=env, check=False, stdin=subprocess.DEVNULL)
    events = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
    return CodexRun(result.returncode, events, result.stderr.decode(errors="replace"))


@pytest.mark.parametrize("binary", BINARIES)
async def test_codex_prints_the_scripted_answer_without_any_credentials(
    binary: Path, tmp_path: Path
) -> None:
    async with serve_scripted_model(load_script(SCRIPTS_DIR / "plain-answer.json")) as model:
        run = await run_codex_exec(binary, model.base_url, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.agent_messages() == ["Hello there, this is the scripted model answering."]
    (request,) = model.requests
    assert request.path == "/v1/responses"
    assert request.body["model"] == "mock-model"
    assert "authorization" not in {name.lower() for name in request.headers}
    assert not (tmp_path / "codex-home" / "auth.json").exists()
    # The catalog is loaded: apply_patch is offered and no metadata fallback is used.
    assert "apply_patch" in {tool.get("name") for tool in request.body["tools"]}
    assert "Model metadata" not in run.stderr


@pytest.mark.parametrize("binary", BINARIES)
async def test_an_exec_command_call_runs_and_its_output_reaches_the_next_request(
    binary: Path, tmp_path: Path
) -> None:
    async with serve_scripted_model(load_script(SCRIPTS_DIR / "exec-then-answer.json")) as model:
        run = await run_codex_exec(binary, model.base_url, tmp_path)
    assert run.returncode == 0, run.stderr
    assert model.steps_served == 2
    outputs = [
        item
        for item in model.model_requests[1].body["input"]
        if item.get("type") == "function_call_output"
    ]
    assert [item["call_id"] for item in outputs] == ["call_exec_1"]
    assert "hello-from-exec\n" in outputs[0]["output"]
    assert run.agent_messages() == ["Done: the command printed hello-from-exec."]


@pytest.mark.parametrize("binary", BINARIES)
async def test_an_http_500_fails_the_run(binary: Path, tmp_path: Path) -> None:
    async with serve_scripted_model(load_script(SCRIPTS_DIR / "http-500.json")) as model:
        run = await run_codex_exec(binary, model.base_url, tmp_path)
    assert run.returncode != 0
    assert run.failure() is not None
    assert len(model.model_requests) == 1  # request_max_retries = 0: no silent retry


@pytest.mark.parametrize("binary", BINARIES)
async def test_an_exhausted_script_fails_the_run_loudly_instead_of_retrying(
    binary: Path, tmp_path: Path
) -> None:
    async with serve_scripted_model(parse_script({"steps": []})) as model:
        run = await run_codex_exec(binary, model.base_url, tmp_path, request_max_retries=2)
    assert run.returncode != 0
    assert EXHAUSTED_ERROR_CODE in (run.failure() or "")
    assert len(model.model_requests) == 1  # a 400 is not retried, even with retries on
    assert [r.number for r in model.exhausted_requests] == [1]


@pytest.mark.parametrize("codex", NPM_BINARIES)
async def test_invalid_tool_calls_come_back_as_tool_outputs_and_the_turn_completes(
    codex: Path, tmp_path: Path
) -> None:
    async with serve_scripted_model(load_script(SCRIPTS_DIR / "invalid-tool-calls.json")) as m:
        run = await run_codex_exec(codex, m.base_url, tmp_path)
    assert run.returncode == 0, run.stderr
    outputs = {
        item["call_id"]: item["output"]
        for request in m.model_requests
        for item in request.body["input"]
        if item.get("type") in ("function_call_output", "custom_tool_call_output")
    }
    assert outputs["call_bad_1"].startswith("failed to parse function arguments:")
    assert outputs["call_unknown_1"].startswith("unsupported call: no_such_tool")
    assert "apply_patch verification failed" in outputs["call_bad_patch_1"]


# What Codex 0.169 and 0.171 report for each shipped failure script (codex-app-server.md §8).
FAILURES_0_169 = {
    "http-500.json": "We\u2019re currently experiencing high demand",
    "http-503.json": "unexpected status 503 Service Unavailable: overloaded",
    "http-429-rate-limit.json": "exceeded retry limit, last status: 429 Too Many Requests",
    "http-429-insufficient-quota.json": "Quota exceeded. Check your plan and billing details.",
    "http-401.json": "unexpected status 401 Unauthorized: Incorrect API key provided",
    "http-400.json": '"message":"Invalid value for tools"',
    "http-400-context-length.json": "Codex ran out of room in the model's context window.",
    "http-404-model-not-found.json": "The model `mock-model` does not exist",
    "response-failed-context-length.json": "Codex ran out of room in the model's context window.",
    "response-failed-insufficient-quota.json": "Quota exceeded.",
    "response-failed-rate-limit.json": "rate limit exceeded: Rate limit reached.",
    "response-failed-server-error.json": (
        "stream disconnected before completion: The server had an error."
    ),
    "response-failed-invalid-prompt.json": "Invalid prompt: flagged.",
    "response-incomplete.json": "Incomplete response returned, reason: max_output_tokens",
    "stream-cut.json": "stream closed before response.completed",
    "sse-error.json": "stream closed before response.completed",
    "reset.json": "stream disconnected before completion: error sending request",
    "hang.json": "idle timeout waiting for SSE",
}


@pytest.mark.parametrize("codex", NPM_BINARIES)
@pytest.mark.parametrize(("script_name", "message"), sorted(FAILURES_0_169.items()))
async def test_each_provider_failure_script_fails_the_turn_as_codex_0_169_reports_it(
    script_name: str, message: str, codex: Path, tmp_path: Path
) -> None:
    async with serve_scripted_model(load_script(SCRIPTS_DIR / script_name)) as model:
        run = await run_codex_exec(codex, model.base_url, tmp_path, stream_idle_timeout_ms=500)
    assert run.returncode != 0
    assert message in (run.failure() or ""), run.events
    assert len(model.model_requests) == 1
