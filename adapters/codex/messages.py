"""Typed views of the Codex app-server messages the runner sends and consumes.

The models are generated (`adapters/codex/generated/protocol.py`, by
`scripts/generate_protocol.py`) from `codex app-server generate-json-schema
--experimental` of the pinned default binary, Codex 0.169.0, and cover only the closure
of the messages listed there. Why generated rather than the official `openai-codex`
package's models: that package's models are for 0.163 (its own pinned binary) while our
default backend is 0.169, it brings its own client stack we do not use, and generating
from the exact binary we spawn keeps the schema and the wire in step (regenerate when the
pin moves). The generated models ignore unknown fields; an unknown method, or a message
the schema of this version cannot validate (protocol drift, e.g. the 0.163 binary), falls
back to the raw dict so nothing is lost.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from adapters.codex.generated import protocol as p

M = TypeVar("M", bound=BaseModel)

NOTIFICATION_MODELS: dict[str, type[BaseModel]] = {
    "thread/started": p.ThreadStartedNotification,
    "turn/started": p.TurnStartedNotification,
    "turn/completed": p.TurnCompletedNotification,
    "item/started": p.ItemStartedNotification,
    "item/completed": p.ItemCompletedNotification,
    "error": p.ErrorNotification,
    "item/agentMessage/delta": p.AgentMessageDeltaNotification,
    "item/commandExecution/outputDelta": p.CommandExecutionOutputDeltaNotification,
    "item/reasoning/summaryTextDelta": p.ReasoningSummaryTextDeltaNotification,
    "thread/tokenUsage/updated": p.ThreadTokenUsageUpdatedNotification,
    "rawResponseItem/completed": p.RawResponseItemCompletedNotification,
    "serverRequest/resolved": p.ServerRequestResolvedNotification,
    "thread/status/changed": p.ThreadStatusChangedNotification,
}


def parse_notification(method: str, params: dict[str, Any]) -> BaseModel | None:
    """The typed params of a known notification, or None (unknown method or drift)."""
    model = NOTIFICATION_MODELS.get(method)
    if model is None:
        return None
    try:
        return model.model_validate(params)
    except ValidationError:
        return None


def build_params(model: type[M], data: dict[str, Any]) -> dict[str, Any]:
    """Validate request params against the pinned schema and dump them for the wire.

    Args:
        model: a generated `*Params` model, e.g. `p.ThreadStartParams`.
        data: the params in wire (camelCase) form.

    Returns:
        The params in wire form, `None` members dropped.

    Raises:
        pydantic.ValidationError: `data` does not fit the schema of Codex 0.169.
    """
    return model.model_validate(data).model_dump(by_alias=True, exclude_none=True, mode="json")


def text_input(text: str) -> dict[str, Any]:
    """A `UserInput` text item as Codex 0.169 takes it in `turn/start.input`."""
    return {"type": "text", "text": text, "text_elements": []}


def dig(value: Any, *path: str | int) -> Any:
    """Walk dicts/lists by keys and indexes; None where anything is missing."""
    for key in path:
        if isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value):
            value = value[key]
        elif isinstance(key, str) and isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value
