"""Small helpers for the Codex app-server messages: the text `UserInput` and `dig`.

The runner reads notification fields tolerantly with `dig`, so an unknown method or a
new field never costs a message; items are read through the hand-written views of
`adapters.codex.items`. The generated models of the pinned Codex 0.171 schema
(`adapters/codex/generated/protocol.py`, by `scripts/generate_protocol.py`, from
`codex app-server generate-json-schema --experimental`) are not imported at run time:
the tests check the runner's request params and item views against them (issue 14:
building them cost ~0.25 s and ~7 MiB of every start).
"""

from __future__ import annotations

from typing import Any


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
