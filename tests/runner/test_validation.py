"""The job and command validators take any JSON and only ever refuse it by kind (§2, §5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.failures import FailureKind, JobSpecError
from contract.validation import InvalidCommand, validate_command, validate_job
from fakes.manager import example_job

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = ("type", "text", "commandId", "input", "reason", "url", "path", "name", "fileId")


def refusal(validate: Any, raw: Any) -> Exception | None:
    """The exception `validate(raw)` raised, or None when it accepted `raw`.

    Anything but `JobSpecError` / `InvalidCommand` propagates and fails the test.
    """
    try:
        validate(raw)
    except (JobSpecError, InvalidCommand) as exc:
        return exc
    return None


COMMANDISH = st.dictionaries(
    st.sampled_from(FIELDS), JSON | st.sampled_from(["steer", "cancel", "text", "c-1"])
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_job_is_a_job_or_job_spec_invalid(raw: Any) -> None:
    exc = refusal(validate_job, raw)
    if exc is not None:
        assert isinstance(exc, JobSpecError)
        assert exc.kind is FailureKind.JOB_SPEC_INVALID
        assert exc.detail["field"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["command", "session", "backend", "timeouts", "limits"]), JSON)
def test_a_job_with_any_json_in_one_section_is_a_job_or_job_spec_invalid(
    section: str, value: Any
) -> None:
    raw = example_job()
    raw[section] = value
    exc = refusal(validate_job, raw)
    if exc is not None:
        assert isinstance(exc, JobSpecError)
        assert exc.detail["field"].startswith(section)


@settings(max_examples=300, deadline=None)
@given(st.lists(COMMANDISH | JSON, max_size=3))
def test_any_json_as_the_job_input_is_valid_or_names_the_input_field(items: list[Any]) -> None:
    raw = example_job()
    raw["command"]["input"] = items
    exc = refusal(validate_job, raw)
    if exc is not None:
        assert isinstance(exc, JobSpecError)
        assert exc.detail["field"].startswith("command.input")


@settings(max_examples=500, deadline=None)
@given(COMMANDISH | JSON)
def test_any_json_command_is_a_command_or_an_invalid_command(raw: Any) -> None:
    exc = refusal(validate_command, raw)
    if exc is not None:
        assert isinstance(exc, InvalidCommand)
        assert exc.field
        expected_id = raw.get("commandId") if isinstance(raw, dict) else None
        if not (isinstance(expected_id, str) and expected_id):
            expected_id = None
        assert exc.command_id == expected_id


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (lambda j: j["command"]["input"][0].pop("text"), "command.input[0].text"),
        (lambda j: j["command"]["input"][0].update(type="video"), "command.input[0].type"),
        (lambda j: j["command"].update(input=[{"type": "image"}]), "command.input[0]"),
        (lambda j: j["backend"].update(sandbox="none"), "backend.sandbox"),
        (lambda j: j["backend"].update(approvalPolicy="always"), "backend.approvalPolicy"),
        (lambda j: j["timeouts"].update(idleSeconds=-1), "timeouts.idleSeconds"),
        (lambda j: j.update(attempt=0), "attempt"),
        (lambda j: j["session"].update(threadId=""), "session.threadId"),
    ],
)
def test_a_bad_job_names_the_field_that_is_wrong(spoil: Any, field: str) -> None:
    raw = copy.deepcopy(example_job())
    spoil(raw)
    with pytest.raises(JobSpecError) as caught:
        validate_job(raw)
    assert caught.value.detail["field"] == field
    assert str(caught.value.message).startswith(f"job.{field}")


def test_every_codex_input_type_with_its_fields_is_accepted() -> None:
    raw = example_job()
    raw["command"]["input"] = [
        {"type": "text", "text": "hi"},
        {"type": "image", "url": "https://example.invalid/x.png"},
        {"type": "image", "fileId": "file-1"},
        {"type": "localImage", "path": "/tmp/x.png"},
        {"type": "skill", "name": "caserun", "path": ".agents/skills/caserun/SKILL.md"},
        {"type": "mention", "name": "README", "path": "README.md"},
    ]
    job = validate_job(raw)
    assert [item.type for item in job.command.input] == [
        "text",
        "image",
        "image",
        "localImage",
        "skill",
        "mention",
    ]
