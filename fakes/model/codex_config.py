"""Write a CODEX_HOME configuration that points Codex at the scripted model.

`write_codex_config` writes `config.toml` (a `mock` provider on the Responses wire API, no
credentials, retries off by default) and `models_catalog.json` (model metadata for
`mock-model` with the freeform `apply_patch` tool). Checked against Codex 0.163 and 0.169.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PROVIDER_ID",
    "models_catalog",
    "toml_value",
    "write_codex_config",
]

DEFAULT_MODEL = "mock-model"
DEFAULT_PROVIDER_ID = "mock"
CATALOG_FILE_NAME = "models_catalog.json"
BASE_INSTRUCTIONS = "You are a scripted test model. Follow the test script."

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def models_catalog(model: str = DEFAULT_MODEL, *, context_window: int = 272_000) -> dict[str, Any]:
    """Return a `{"models": [ModelInfo]}` catalog describing one scripted model.

    Field names and enum spellings follow `ModelInfo` in openai/codex
    `codex-rs/protocol/src/openai_models.rs`; Codex 0.163 and 0.169 load it through
    `model_catalog_json`. `apply_patch_tool_type = "freeform"` makes Codex offer
    `apply_patch` as a custom tool; `base_instructions` become the first developer message.

    Args:
        model: The slug Codex is configured with.
        context_window: Tokens; Codex reports it as `modelContextWindow`.
    """
    return {
        "models": [
            {
                "slug": model,
                "display_name": model,
                "description": "Scripted model for deterministic tests",
                "default_reasoning_level": "medium",
                "supported_reasoning_levels": [
                    {"effort": "low", "description": "low"},
                    {"effort": "medium", "description": "medium"},
                    {"effort": "high", "description": "high"},
                ],
                "shell_type": "shell_command",
                "visibility": "list",
                "supported_in_api": True,
                "priority": 1,
                "upgrade": None,
                "base_instructions": BASE_INSTRUCTIONS,
                "supports_reasoning_summaries": True,
                "support_verbosity": False,
                "default_verbosity": None,
                "apply_patch_tool_type": "freeform",
                "truncation_policy": {"mode": "bytes", "limit": 10_000},
                "supports_parallel_tool_calls": False,
                "context_window": context_window,
                "experimental_supported_tools": [],
            }
        ]
    }


def toml_value(value: object) -> str:
    """Render a Python value as a TOML value.

    Args:
        value: `str`, `bool`, `int`, finite `float`, or a list of those.

    Returns:
        The TOML text, e.g. `"a\\"b"`, `true`, `[1, 2]`.

    Raises:
        TypeError: The value has another type, or is a non-finite float.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        # A JSON string without ASCII escaping is a valid TOML basic string.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def _toml_key(dotted: str) -> str:
    parts = dotted.split(".")
    return ".".join(part if _BARE_KEY.match(part) else json.dumps(part) for part in parts)


def write_codex_config(
    home: Path,
    base_url: str,
    *,
    model: str = DEFAULT_MODEL,
    provider_id: str = DEFAULT_PROVIDER_ID,
    stream_idle_timeout_ms: int = 30_000,
    request_max_retries: int = 0,
    stream_max_retries: int = 0,
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Write `config.toml` and `models_catalog.json` for the scripted model into `home`.

    The provider has no `env_key` and `requires_openai_auth = false`, so Codex sends no
    `Authorization` header and needs no `auth.json` (checked with Codex 0.163 and 0.169).
    Codex may later append `[projects."<cwd>"]` trust entries to the file.

    Args:
        home: The CODEX_HOME directory; created if missing.
        base_url: The server's base URL ending in `/v1` (`ScriptedModel.base_url`).
        model: Model slug, also written to the catalog.
        provider_id: Key under `[model_providers]`.
        stream_idle_timeout_ms: Milliseconds of SSE silence before Codex gives up on a stream.
        request_max_retries: Codex's silent HTTP-level retries (0: the first error is final).
        stream_max_retries: Codex's visible "Reconnecting... n/max" retries.
        extra: More top-level settings as dotted keys, e.g. `{"approval_policy": "never",
            "sandbox_mode": "danger-full-access"}`; values as for `toml_value`.

    Returns:
        The path of `config.toml`.

    Raises:
        TypeError: An `extra` value cannot be written as TOML.
    """
    home.mkdir(parents=True, exist_ok=True)
    catalog_path = home / CATALOG_FILE_NAME
    catalog_path.write_text(json.dumps(models_catalog(model), indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Written by fakes.model.codex_config for the scripted model.",
        f"model = {toml_value(model)}",
        f"model_provider = {toml_value(provider_id)}",
        f"model_catalog_json = {toml_value(str(catalog_path))}",
        "check_for_update_on_startup = false",
    ]
    for key, value in (extra or {}).items():
        lines.append(f"{_toml_key(key)} = {toml_value(value)}")
    lines += [
        "",
        f"[model_providers.{_toml_key(provider_id)}]",
        'name = "Scripted model"',
        f"base_url = {toml_value(base_url)}",
        'wire_api = "responses"',
        "requires_openai_auth = false",
        f"request_max_retries = {request_max_retries}",
        f"stream_max_retries = {stream_max_retries}",
        f"stream_idle_timeout_ms = {stream_idle_timeout_ms}",
        "",
    ]
    config_path = home / "config.toml"
    config_path.write_text("\n".join(lines), encoding="utf-8")
    return config_path
