"""The hand-written item views read what the pinned Codex 0.171 schema says items carry.

`adapters.codex.items` replaces the generated `ThreadItem` models at run time (issue 14).
Checked against those generated models (`adapters/codex/generated/protocol.py`): the set
of item types, every field a view reads (same wire name, required only where the schema
requires it), and the values read from items the schema accepts.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel

from adapters.codex import items
from adapters.codex.generated import protocol
from runner.turn.items import item_summary


def literal_of(annotation: Any) -> str:
    """The one value of a `Literal[...]`, or of a `RootModel[Literal[...]]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        annotation = annotation.model_fields["root"].annotation
    value: str = typing.get_args(annotation)[0]
    return value


def shapes(model: type[BaseModel]) -> tuple[type[BaseModel], ...]:
    """The object shapes of a model: itself, or the members of a `RootModel` union of them."""
    if "root" in model.model_fields:
        return typing.get_args(model.model_fields["root"].annotation)
    return (model,)


def generated_members() -> dict[str, type[BaseModel]]:
    """The `ThreadItem` union's members by their `type` tag."""
    members: dict[str, type[BaseModel]] = {}
    for member in typing.get_args(protocol.ThreadItem.model_fields["root"].annotation):
        shape = shapes(member)[0]  # imageGeneration is a union of two shapes with one tag
        members[literal_of(shape.model_fields["type"].annotation)] = member
    return members


VIEWS: dict[str, type[BaseModel]] = {
    typing.get_args(view.model_fields["type"].annotation)[0]: view
    for view in typing.get_args(items.SummarizedItem)
}


def wire_fields(model: type[BaseModel]) -> dict[str, bool]:
    """Wire name → required, for every field of `model`."""
    return {(f.alias or name): f.is_required() for name, f in model.model_fields.items()}


def test_the_item_types_are_the_schemas_thread_item_tags() -> None:
    assert set(generated_members()) == items.THREAD_ITEM_TYPES
    assert set(VIEWS) == items.SUMMARIZED_TYPES
    assert items.SUMMARIZED_TYPES <= items.THREAD_ITEM_TYPES


@pytest.mark.parametrize("tag", sorted(VIEWS))
def test_every_field_a_view_reads_is_in_the_schema_and_required_only_if_it_is(tag: str) -> None:
    schema = wire_fields(generated_members()[tag])
    for name, required in wire_fields(VIEWS[tag]).items():
        assert name in schema, f"{tag}.{name} is not in the 0.171 schema"
        assert schema[name] or not required, f"{tag}.{name} is optional in the schema"


def test_the_nested_views_read_fields_of_the_schemas_nested_types() -> None:
    change = wire_fields(protocol.FileUpdateChange)
    assert {"path", "kind"} <= {k for k, v in change.items() if v}
    for kind in shapes(protocol.PatchChangeKind):
        assert wire_fields(kind)["type"]
    for part in shapes(protocol.UserInput):
        for shape in shapes(part):
            assert wire_fields(shape)["type"]
    assert wire_fields(protocol.TextUserInput)["text"]


SAMPLES: list[dict[str, Any]] = [
    {"type": "agentMessage", "id": "m1", "text": "Hello."},
    {
        "type": "commandExecution",
        "id": "c1",
        "command": "ls",
        "cwd": "/w",
        "commandActions": [],
        "status": "completed",
        "exitCode": 0,
        "durationMs": 12,
        "aggregatedOutput": "a\n",
    },
    {
        "type": "fileChange",
        "id": "f1",
        "status": "completed",
        "changes": [{"path": "a.txt", "kind": {"type": "add"}, "diff": "+a"}],
    },
    {
        "type": "mcpToolCall",
        "id": "t1",
        "server": "s",
        "tool": "t",
        "status": "completed",
        "arguments": {},
    },
    {
        "type": "dynamicToolCall",
        "id": "d1",
        "tool": "t",
        "status": "failed",
        "arguments": {},
        "success": False,
    },
    {"type": "reasoning", "id": "r1", "summary": ["Think", "ing"]},
    {
        "type": "userMessage",
        "id": "u1",
        "content": [
            {"type": "text", "text": "one", "text_elements": []},
            {"type": "mention", "name": "n", "path": "/w/n"},
            {"type": "text", "text": "two", "text_elements": []},
        ],
    },
]


@pytest.mark.parametrize("raw", SAMPLES, ids=lambda raw: str(raw["type"]))
def test_a_view_reads_the_same_values_as_the_generated_model(raw: dict[str, Any]) -> None:
    generated = protocol.ThreadItem.model_validate(raw).root
    view = items.parse_item(raw)
    assert view is not None
    for name in type(view).model_fields:
        if name in ("changes", "content"):
            continue
        assert getattr(view, name) == getattr(
            getattr(generated, name), "root", getattr(generated, name)
        )


def test_summaries_of_the_samples_carry_their_fields_without_drift() -> None:
    summaries = {raw["type"]: item_summary(raw) for raw in SAMPLES}
    assert not any("schemaDrift" in s for s in summaries.values())
    assert summaries["fileChange"]["changes"] == [{"path": "a.txt", "kind": "add"}]
    assert summaries["userMessage"]["text"] == "one\ntwo"
    assert summaries["reasoning"]["summary"] == "Thinking"
    assert summaries["dynamicToolCall"] == {
        "itemId": "d1",
        "itemType": "dynamicToolCall",
        "tool": "t",
        "status": "failed",
        "success": False,
    }


def test_a_known_type_that_is_not_summarized_keeps_its_status_without_drift() -> None:
    summary = item_summary({"type": "collabAgentToolCall", "id": "x", "status": "inProgress"})
    assert summary == {"itemId": "x", "itemType": "collabAgentToolCall", "status": "inProgress"}


def test_an_unknown_item_type_is_summarized_from_the_raw_item_as_drift() -> None:
    summary = item_summary({"type": "hologram", "id": "h", "text": "hi", "status": "done"})
    assert summary["schemaDrift"] is True
    assert summary["text"] == "hi"
    assert summary["status"] == "done"


def test_a_summarized_type_whose_fields_do_not_fit_is_drift_not_a_loss() -> None:
    summary = item_summary({"type": "commandExecution", "id": "c", "cmd": "ls", "status": "x"})
    assert summary["schemaDrift"] is True
    assert summary["itemId"] == "c"
    assert summary["status"] == "x"
