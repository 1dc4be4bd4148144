"""Typed views of the Codex thread items the runner summarizes (`ThreadItem`, Codex 0.171).

`item/started` and `item/completed` carry one `ThreadItem`: a union tagged by `type`
(19 members in the pinned 0.171 schema, `THREAD_ITEM_TYPES`). The runner reads a few
fields of seven of them, so these views are written by hand and hold only those fields;
every other field of the item is ignored. Status fields are plain strings here (the
schema's enums), so a status added by a newer Codex does not turn an item into drift.

Why not the generated models of the whole union: building them was the largest single
cost of an attempt's start, ~0.25 s of CPU and ~7 MiB (issue 14, docs/benchmarks.md).
`tests/adapters/test_item_views.py` keeps these views honest: every field they read
exists with the same wire name in the generated 0.171 models
(`adapters/codex/generated/protocol.py`), required where they require it, and
`THREAD_ITEM_TYPES` is the union's set of tags.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

THREAD_ITEM_TYPES = frozenset(
    {
        "agentMessage",
        "collabAgentToolCall",
        "commandExecution",
        "contextCompaction",
        "dynamicToolCall",
        "enteredReviewMode",
        "exitedReviewMode",
        "fileChange",
        "functionCallOutput",
        "hookPrompt",
        "imageGeneration",
        "imageView",
        "mcpToolCall",
        "plan",
        "reasoning",
        "sleep",
        "subAgentActivity",
        "userMessage",
        "webSearch",
    }
)
"""The `type` tags of the `ThreadItem` union in the pinned Codex 0.171 schema."""


class _View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class AgentMessageItem(_View):
    """`agentMessage`: the agent's text (`text`)."""

    type: Literal["agentMessage"]
    id: str
    text: str


class CommandExecutionItem(_View):
    """`commandExecution`: a command the agent ran; `aggregated_output` is stdout+stderr."""

    type: Literal["commandExecution"]
    id: str
    command: str
    cwd: str
    status: str
    exit_code: int | None = None
    duration_ms: int | None = None
    """Wall time of the command in milliseconds."""
    aggregated_output: str | None = None


class PatchChangeKind(_View):
    """`PatchChangeKind`: `add`, `delete` or `update` (with `move_path`, not read here)."""

    type: str


class FileUpdateChange(_View):
    """One file of a `fileChange` item."""

    path: str
    kind: PatchChangeKind


class FileChangeItem(_View):
    """`fileChange`: a patch the agent applied (or proposed)."""

    type: Literal["fileChange"]
    id: str
    changes: list[FileUpdateChange]
    status: str


class McpToolCallItem(_View):
    """`mcpToolCall`: a call of an MCP server's tool."""

    type: Literal["mcpToolCall"]
    id: str
    server: str
    tool: str
    status: str


class DynamicToolCallItem(_View):
    """`dynamicToolCall`: a call of a client-defined tool."""

    type: Literal["dynamicToolCall"]
    id: str
    tool: str
    status: str
    success: bool | None = None


class ReasoningItem(_View):
    """`reasoning`: the reasoning summary parts (`summary`), when the model sent any."""

    type: Literal["reasoning"]
    id: str
    summary: list[str] | None = None


class UserInputPart(_View):
    """One `UserInput` of a `userMessage`; only `text` parts carry `text`."""

    type: str
    text: str | None = None


class UserMessageItem(_View):
    """`userMessage`: the input the turn was started or steered with."""

    type: Literal["userMessage"]
    id: str
    content: list[UserInputPart]


SummarizedItem = (
    AgentMessageItem
    | CommandExecutionItem
    | FileChangeItem
    | McpToolCallItem
    | DynamicToolCallItem
    | ReasoningItem
    | UserMessageItem
)
"""The items whose fields the runner reads (contract §9 `item.*` summaries)."""

SUMMARIZED_TYPES: frozenset[str] = frozenset(
    get_args(view.model_fields["type"].annotation)[0] for view in get_args(SummarizedItem)
)
"""The `type` tags of `SummarizedItem`, read off its members."""

_ADAPTER: TypeAdapter[SummarizedItem] = TypeAdapter(
    Annotated[SummarizedItem, Field(discriminator="type")]
)


def parse_item(raw: Any) -> SummarizedItem | None:
    """The typed view of a summarized item, or None.

    Returns None for an item of any other type (known or not: see `THREAD_ITEM_TYPES`)
    and for one of the summarized types whose fields do not fit (schema drift, e.g. a
    field renamed by another Codex version).
    """
    if not isinstance(raw, dict) or raw.get("type") not in SUMMARIZED_TYPES:
        return None
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError:
        return None
