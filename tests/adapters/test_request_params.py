"""Every request the runner sends fits the pinned Codex 0.171 schema (generated models).

The runner does not validate its params at run time (issue 14: the generated models cost
~0.25 s of every start); it builds them from a job that `contract.validation` accepted.
These tests close the gap: for every shape a valid job can take, each builder's output
validates against `adapters/codex/generated/protocol.py` and keeps its members.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, get_args

import anyio
import pytest

from adapters.codex.client import CodexClient, initialize_params
from adapters.codex.generated import protocol
from bundles.prompts import PromptRef, prompt_item
from contract.manager_api import ApprovalPolicy, Job, SandboxMode
from contract.validation import validate_job
from fakes.manager import example_job
from runner.turn.backend_run import codex_input, resume_params, thread_params, turn_input

INPUT_ITEMS: list[dict[str, Any]] = [
    {"type": "text", "text": "hello"},
    {"type": "image", "url": "https://example.test/a.png"},
    {"type": "image", "url": "https://example.test/a.png", "detail": "high"},
    {"type": "localImage", "path": "/w/a.png", "detail": "low"},
    {"type": "skill", "name": "review", "path": "/w/.agents/skills/review/SKILL.md"},
    {"type": "mention", "name": "notes", "path": "/w/NOTES.md"},
]


def fits(model: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` validated by the generated model and dumped back to the wire."""
    cls = getattr(protocol, model)
    dumped: dict[str, Any] = cls.model_validate(params).model_dump(
        by_alias=True, exclude_unset=True, mode="json"
    )
    return dumped


def job_with(**backend: Any) -> Job:
    raw = example_job()
    raw["backend"] |= backend
    return validate_job(raw)


def test_initialize_params_fit_the_schema_unchanged() -> None:
    params = initialize_params("1.2.3")
    assert fits("InitializeParams", params) == params


@pytest.mark.parametrize(
    ("approval", "sandbox"),
    list(itertools.product(get_args(ApprovalPolicy), get_args(SandboxMode))),
)
def test_thread_params_fit_the_schema_for_every_approval_policy_and_sandbox(
    approval: str, sandbox: str
) -> None:
    job = job_with(approvalPolicy=approval, sandbox=sandbox, configOverrides={"a.b": [1]})
    params = thread_params(job, Path("/w"))
    assert fits("ThreadStartParams", params) == params
    assert params["approvalPolicy"] == approval
    assert params["sandbox"] == sandbox


def test_thread_params_without_a_model_fit_the_schema() -> None:
    job = job_with(model=None)
    params = thread_params(job, Path("/w"))
    assert "model" not in params
    assert fits("ThreadStartParams", params) == params


def test_resume_params_fit_the_schema_and_name_the_thread() -> None:
    params = resume_params(job_with(sandbox="read-only"), Path("/w"), "thr_1")
    assert fits("ThreadResumeParams", params) == params
    assert params["threadId"] == "thr_1"


@pytest.mark.parametrize("item", INPUT_ITEMS, ids=lambda item: str(item["type"]))
def test_every_contract_input_item_fits_turn_start(item: dict[str, Any]) -> None:
    raw = example_job()
    raw["command"]["input"] = [item]
    job = validate_job(raw)
    prompt = prompt_item(PromptRef(bundle="b", path="p.md", commit_id="c" * 40, text="t"))
    params = {"threadId": "thr_1", "input": turn_input(job, [prompt])}
    assert fits("TurnStartParams", params) == params


def test_an_image_by_file_id_fits_turn_start() -> None:
    raw = example_job()
    raw["command"]["input"] = [{"type": "image", "fileId": "file_1"}]
    items = codex_input(validate_job(raw).command.input)
    params = {"threadId": "thr_1", "input": items}
    assert fits("TurnStartParams", params) == params


class RecordingSession:
    """Stands in for `JsonRpcSession`: records each request, answers `{}`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    async def request(self, method: str, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.requests.append((method, params))
        return {}


TEXT = [{"type": "text", "text": "x", "text_elements": []}]


@pytest.mark.parametrize(
    ("call", "model"),
    [
        (lambda c: c.start_turn("thr_1", TEXT), "TurnStartParams"),
        (lambda c: c.steer_turn("thr_1", "turn_1", TEXT), "TurnSteerParams"),
        (lambda c: c.interrupt_turn("thr_1", "turn_1"), "TurnInterruptParams"),
    ],
    ids=["turn/start", "turn/steer", "turn/interrupt"],
)
def test_the_client_sends_turn_params_that_fit_the_schema(call: Any, model: str) -> None:
    session = RecordingSession()
    client = CodexClient(session, None, None)  # type: ignore[arg-type]
    anyio.run(call, client)
    [(_, params)] = session.requests
    assert fits(model, params) == params
