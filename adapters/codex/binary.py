"""Find the native Codex binary the runner spawns, and its version.

The runner always spawns the native binary, never the npm node wrapper: killing the
wrapper orphans the native child, which keeps stdout open (codex-app-server.md §11).
Resolution order (`resolve_codex_binary`):

1. an explicit path, `AGENTRUN_CODEX_BIN` (contract §1);
2. the runner's own installed environment: `scripts/install-env PREFIX` makes the venv
   `PREFIX/venv` and the binary `PREFIX/bin/codex` (the env image: `/opt/agentrun`), so
   it is `Path(sys.prefix).parent / "bin/codex"`, then the venv's own `bin/codex`;
3. the npm pin (`@openai/codex@0.171.0`, package.json) of a development checkout: under
   `node_modules/` of this source tree, then of the checkout that owns the venv (a runner
   booted by `agentrun-boot` runs from a fresh checkout with no `node_modules/`);
4. the PyPI `openai-codex-cli-bin==0.163.0` wheel's binary.

The installed prefix is derived from the interpreter, so there is no second copy of the
image path to keep in step with `install-env`.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contract.failures import BackendError, FailureKind

PROJECT_ROOT = Path(__file__).resolve().parents[2]

_TRIPLES = {
    "x86_64": ("linux-x64", "x86_64-unknown-linux-musl"),
    "aarch64": ("linux-arm64", "aarch64-unknown-linux-musl"),
}

NPM_OLDER_ALIAS = "codex-0169"
"""The package.json alias (`npm:@openai/codex@0.169.0`) kept for the contract suite."""


@dataclass(frozen=True)
class CodexBinary:
    """A resolved Codex executable.

    Attributes:
        path: absolute path of the native binary.
        origin: `env` (AGENTRUN_CODEX_BIN), `installed` (the install-env prefix or the
            venv), `npm` or `pypi`.
    """

    path: Path
    origin: str


def installed_binaries(prefix: Path | None = None) -> list[Path]:
    """Where `scripts/install-env` puts Codex for the venv `prefix` (default `sys.prefix`).

    Returns:
        `PREFIX/bin/codex` for the venv `PREFIX/venv`, then the venv's own `bin/codex`,
        whether they exist or not.
    """
    venv = Path(sys.prefix) if prefix is None else prefix
    return [venv.parent / "bin" / "codex", venv / "bin" / "codex"]


def npm_native_binary(root: Path = PROJECT_ROOT, *, alias: str | None = None) -> Path | None:
    """Path of the npm package's native binary for this machine, if it is installed.

    Args:
        root: the directory holding `node_modules/`.
        alias: None for the default pin (`@openai/codex`), or a package.json alias such as
            `NPM_OLDER_ALIAS`, whose platform package npm nests under the alias
            (`node_modules/ALIAS/node_modules/@openai/codex-linux-x64`).
    """
    triple = _TRIPLES.get(platform.machine())
    if triple is None:
        return None
    pkg, target = triple
    modules = root / "node_modules"
    if alias is not None:
        modules = modules / alias / "node_modules"
    path = modules / "@openai" / f"codex-{pkg}" / "vendor" / target / "bin" / "codex"
    return path if path.is_file() else None


def pypi_native_binary() -> Path | None:
    """Path of the `openai-codex-cli-bin` wheel's binary, if that wheel is installed."""
    try:
        import codex_cli_bin  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    path = Path(codex_cli_bin.bundled_codex_path())
    return path if path.is_file() else None


def default_candidates(prefix: Path | None = None, root: Path = PROJECT_ROOT) -> list[CodexBinary]:
    """The installed default binaries in resolution order, the PyPI wheel excluded.

    Args:
        prefix: the runner's venv (default `sys.prefix`).
        root: this source tree (default the checkout this module is in).
    """
    venv = Path(sys.prefix) if prefix is None else prefix
    out = [CodexBinary(path, "installed") for path in installed_binaries(venv) if path.is_file()]
    for tree in dict.fromkeys([root, venv.parent]):
        npm = npm_native_binary(tree)
        if npm is not None:
            out.append(CodexBinary(npm, "npm"))
    return out


def resolve_codex_binary(
    explicit: str | None, *, prefix: Path | None = None, root: Path = PROJECT_ROOT
) -> CodexBinary:
    """Pick the Codex binary to spawn (order: see the module docstring).

    Args:
        explicit: `AGENTRUN_CODEX_BIN` (contract §1), or None for the default.
        prefix: the runner's venv (default `sys.prefix`); a test seam.
        root: this source tree; a test seam.

    Returns:
        The binary and where it came from. Existence of an explicit path is checked at
        spawn time, so that a bad path is reported as `backend-spawn-failed` there.

    Raises:
        BackendError: `backend-spawn-failed` when no explicit path is given and no
            candidate is installed.
    """
    if explicit:
        return CodexBinary(Path(explicit), "env")
    candidates = default_candidates(prefix, root)
    if candidates:
        return candidates[0]
    pypi = pypi_native_binary()
    if pypi is not None:
        return CodexBinary(pypi, "pypi")
    raise BackendError(
        FailureKind.BACKEND_SPAWN_FAILED,
        "no Codex binary: set AGENTRUN_CODEX_BIN, install the env with scripts/install-env "
        "or run scripts/bootstrap to install the pin",
    )


@functools.lru_cache(maxsize=8)
def codex_version(path: Path, *, timeout_seconds: float = 10.0) -> str | None:
    """The version `codex --version` prints (e.g. `0.171.0`), or None if it cannot run.

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
