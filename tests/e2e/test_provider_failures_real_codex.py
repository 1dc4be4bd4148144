"""Every way the model provider can fail a turn, through the real Codex, by kind (§10)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fakes.manager import example_job
from fakes.model import SCRIPTS_DIR, load_script
from fakes.stack import local_stack
from tests.e2e.helpers import of_type, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

CASES = [
    ("http-500", "provider-unavailable"),
    ("http-503", "provider-unavailable"),
    ("http-429-rate-limit", "provider-rate-limited"),
    ("http-429-insufficient-quota", "provider-quota"),
    ("http-401", "provider-auth"),
    ("http-400", "provider-bad-request"),
    ("http-404-model-not-found", "provider-bad-request"),
    ("http-400-context-length", "context-window-exceeded"),
    ("response-failed-context-length", "context-window-exceeded"),
    ("response-failed-insufficient-quota", "provider-quota"),
    ("response-failed-rate-limit", "provider-rate-limited"),
    ("response-failed-server-error", "provider-stream-disconnected"),
    ("response-failed-invalid-prompt", "provider-bad-request"),
    ("response-incomplete", "provider-error"),
    ("stream-cut", "provider-stream-disconnected"),
    ("sse-error", "provider-stream-disconnected"),
    ("reset", "provider-unreachable"),
    ("hang", "provider-stream-disconnected"),
]


@pytest.mark.parametrize(("script", "kind"), CASES, ids=[c[0] for c in CASES])
async def test_a_provider_failure_fails_the_attempt_with_its_kind(
    tmp_path: Path, script: str, kind: str
) -> None:
    async with local_stack(
        tmp_path, load_script(SCRIPTS_DIR / f"{script}.json"), stream_idle_timeout_ms=1000
    ) as stack:
        job = example_job()
        done = await run_job(stack, job)
        terminal, events = done.terminal, done.events

    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == kind
    [failure] = [f for f in of_type(events, "failure") if f["data"]["terminal"]]
    assert failure["data"]["failureKind"] == kind
    assert failure["data"]["source"] == "provider"
    [turn] = of_type(events, "turn.completed")
    assert turn["data"]["status"] == "failed"


async def test_nothing_listening_is_interrupted_at_idle_seconds_as_provider_unreachable(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    async with local_stack(tmp_path, []) as stack:
        config = (stack.provider_home / "config.toml").read_text()
        (stack.provider_home / "config.toml").write_text(
            config.replace(stack.model.base_url, f"http://127.0.0.1:{closed_port}/v1")
        )
        job = example_job(idle_seconds=3)
        done = await run_job(stack, job)
        terminal, events = done.terminal, done.events

    assert terminal["status"] == "failed"
    assert terminal["failureKind"] == "provider-unreachable"
    warnings = of_type(events, "backend.warning")
    assert any(w["data"].get("willRetry") for w in warnings)
    actions = [(a["data"]["action"], a["data"]["reason"]) for a in of_type(events, "runner.action")]
    assert actions == [("interrupt-turn", "idle-timeout")]
    [turn] = of_type(events, "turn.completed")
    assert turn["data"]["status"] == "interrupted"
