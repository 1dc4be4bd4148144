"""A real Codex whose sandbox cannot start: the native binary alone, no `bwrap` on PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.real_codex import REAL_CODEX


def path_without_bwrap() -> str:
    """`PATH` minus the directories holding a `bwrap`; skips the test if `/usr/bin` has one."""
    if Path("/usr/bin/bwrap").exists():
        pytest.skip("a system bwrap is installed in /usr/bin; the sandbox would start")
    dirs = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not (Path(d) / "bwrap").exists())


def stripped_codex(tmp_path: Path, build: str = "codex-0.171-npm") -> Path:
    """A copy of `build`'s native binary with no `codex-resources/` (or `codex-path/`) beside it."""
    source = REAL_CODEX[build]()
    assert source is not None, f"{build} is not installed (scripts/bootstrap installs it)"
    target = tmp_path / "stripped" / "bin" / "codex"
    target.parent.mkdir(parents=True)
    shutil.copy2(source, target)
    return target
