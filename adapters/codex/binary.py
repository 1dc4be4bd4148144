"""Find the native Codex binary the runner spawns, and its version.

The runner always spawns the native binary, never the npm node wrapper: killing the
wrapper orphans the native child, which keeps stdout open (codex-app-server.md §11).
Resolution order: an explicit path (`AGENTRUN_CODEX_BIN`, contract §1), then the default
pin — the npm `@openai/codex@0.169.0` native binary under `node_modules/` of this
project (or `/opt/codex/bin/codex` in the env image) — then the PyPI
`openai-codex-cli-bin==0.163.0` wheel's binary.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contract.failures import BackendError, FailureKind

PROJECT_ROOT = Path(__file__).resolve().parents[2]

_TRIPLES = {
    "x86_64": ("linux-x64", "x86_64-unknown-linux-musl"),
    "aarch64": ("linux-arm64", "aarch64-unknown-linux-musl"),
}

IMAGE_CODEX_BIN = Path("/opt/codex/bin/codex")
"""Where the env image (Containerfile) installs the pinned native binary."""


@dataclass(frozen=True)
class CodexBinary:
    """A resolved Codex executable.

    Attributes:
        path: absolute path of the native binary.
        origin: `env` (AGENTRUN_CODEX_BIN), `npm`, `image` or `pypi`.
    """

    path: Path
    origin: str


def npm_native_binary(root: Path = PROJECT_ROOT) -> Path | None:
    """Path of the npm package's native binary for this machine, if it is installed."""
    triple = _TRIPLES.get(platform.machine())
    if triple is None:
        return None
    pkg, target = triple
    path = root / "node_modules" / "@openai" / f"codex-{pkg}" / "vendor" / target / "bin" / "codex"
    return path if path.is_file() else None


def pypi_native_binary() -> Path | None:
    """Path of the `openai-codex-cli-bin` wheel's binary, if that wheel is installed."""
    try:
        import codex_cli_bin  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    path = Path(codex_cli_bin.bundled_codex_path())
    return path if path.is_file() else None


def resolve_codex_binary(explicit: str | None) -> CodexBinary:
    """Pick the Codex binary to spawn.

    Args:
        explicit: `AGENTRUN_CODEX_BIN` (contract §1), or None for the default pin.

    Returns:
        The binary and where it came from. Existence of an explicit path is checked at
        spawn time, so that a bad path is reported as `backend-spawn-failed` there.

    Raises:
        BackendError: `backend-spawn-failed` when no explicit path is given and no pinned
            binary is installed.
    """
    if explicit:
        return CodexBinary(Path(explicit), "env")
    npm = npm_native_binary()
    if npm is not None:
        return CodexBinary(npm, "npm")
    if IMAGE_CODEX_BIN.is_file():
        return CodexBinary(IMAGE_CODEX_BIN, "image")
    pypi = pypi_native_binary()
    if pypi is not None:
        return CodexBinary(pypi, "pypi")
    raise BackendError(
        FailureKind.BACKEND_SPAWN_FAILED,
        "no Codex binary: set AGENTRUN_CODEX_BIN or run scripts/bootstrap to install the pin",
    )


@functools.lru_cache(maxsize=8)
def codex_version(path: Path, *, timeout_seconds: float = 10.0) -> str | None:
    """The version `codex --version` prints (e.g. `0.169.0`), or None if it cannot run.

    Cached per path: it is asked for the claim and again for `backend.started`.
    """
    try:
        out = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
            env={"PATH": os.environ.get("PATH", "")},
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.rsplit(" ", 1)[-1] if out else None
