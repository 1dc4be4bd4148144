"""Typed views of the Codex app-server messages the runner sends and consumes.

The models are generated (`adapters/codex/generated/protocol.py`, by
`scripts/generate_protocol.py`) from `codex app-server generate-json-schema
--experimental` of the pinned default binary, Codex 0.171.0, and cover only the closure
of the messages listed there. Why generated rather than the official `openai-codex`
package's models: that package's models are for 0.163 (its own pinned binary) while our
default backend is 0.171, it brings its own client stack we do not use, and generating
from the exact binary we spawn keeps the schema and the wire in step (regenerate when the
pin moves). Requests are validated through them before they are sent; items are read
through them (`runner.turn.items`, falling back to the raw dict on drift, e.g. from the 0.163
or 0.169 binaries); the few other notification fields the runner needs are read tolerantly with
`dig`, so an unknown method or a new field never costs a message.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from pydantic import BaseModel


def protocol() -> ModuleType:
    """The generated models, imported on first use (it takes ~0.3 s; boot pays it late)."""
    return importlib.import_module("adapters.codex.generated.protocol")


def build_params(model: str, data: dict[str, Any]) -> dict[str, Any]:
    """Validate request params against the pinned schema and dump them for the wire.

    Args:
        model: the name of a generated `*Params` model, e.g. `"ThreadStartParams"`.
        data: the params in wire (camelCase) form.

    Returns:
        The params in wire form, `None` members dropped.

    Raises:
        pydantic.ValidationError: `data` does not fit the schema of Codex 0.171.
    """
    cls: type[BaseModel] = getattr(protocol(), model)
    return cls.model_validate(data).model_dump(by_alias=True, exclude_none=True, mode="json")


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
