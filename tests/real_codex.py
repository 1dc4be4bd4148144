"""The real Codex builds the suites run against, by test id (README "Codex").

`codex-0.171-npm` is the default pin; `codex-0.169-npm` the package.json alias
`codex-0169`; `codex-0.163-pypi` the `openai-codex-cli-bin` wheel (dev extra).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adapters.codex.binary import NPM_OLDER_ALIAS, npm_native_binary, pypi_native_binary


def _npm_older() -> Path | None:
    return npm_native_binary(alias=NPM_OLDER_ALIAS)


REAL_CODEX: dict[str, Callable[[], Path | None]] = {
    "codex-0.171-npm": npm_native_binary,
    "codex-0.169-npm": _npm_older,
    "codex-0.163-pypi": pypi_native_binary,
}
"""Test id → finder of that build's native binary (None when it is not installed)."""
