"""Client request params as Codex 0.169 checks them (serde wording, §11).

Missing fields give `Invalid request: missing field `threadId``, mistyped ones `Invalid
request: invalid type: integer `5`, expected a string`, as observed on the wire.
"""

from __future__ import annotations

import os
from typing import Any

from fakes.app_server import errors


def string(params: dict[str, Any], name: str) -> str:
    """A required string param, with serde's wording for missing or mistyped fields."""
    if name not in params:
        raise errors.missing_field(name)
    value = params[name]
    if not isinstance(value, str):
        raise errors.invalid_type(value)
    return value


def user_input(params: dict[str, Any]) -> list[dict[str, Any]]:
    if "input" not in params:
        raise errors.missing_field("input")
    value = params["input"]
    if not isinstance(value, list) or not all(isinstance(part, dict) for part in value):
        raise errors.invalid_type(value, "a sequence of UserInput")
    return value


def absolute(cwd: Any) -> str:
    """`cwd` resolved against the server's cwd (a relative cwd is accepted, §3)."""
    return os.path.abspath(str(cwd or os.getcwd()))
