"""The typed client against the real Codex binaries: handshake failures by kind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from adapters.codex.client import open_codex
from adapters.codex.session import ServerRequest
from contract.failures import BackendError, FailureKind
from tests.real_codex import REAL_CODEX

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

BINARIES = REAL_CODEX


async def refuse(request: ServerRequest) -> dict[str, Any]:
    return {}


@pytest.mark.parametrize("binary", list(BINARIES))
async def test_a_missing_codex_home_is_backend_config_invalid(tmp_path: Path, binary: str) -> None:
    codex = BINARIES[binary]()
    assert codex is not None
    env = {"PATH": os.environ.get("PATH", ""), "CODEX_HOME": str(tmp_path / "does-not-exist")}
    with anyio.fail_after(30), pytest.raises(BackendError) as caught:
        async with open_codex(codex, env=env, cwd=tmp_path, handler=refuse, client_version="test"):
            pass
    assert caught.value.kind is FailureKind.BACKEND_CONFIG_INVALID


async def test_a_binary_that_is_not_executable_is_backend_spawn_failed(tmp_path: Path) -> None:
    fake = tmp_path / "codex"
    fake.write_text("not a program")
    with anyio.fail_after(30), pytest.raises(BackendError) as caught:
        async with open_codex(
            fake, env={"PATH": ""}, cwd=tmp_path, handler=refuse, client_version="test"
        ):
            pass
    assert caught.value.kind is FailureKind.BACKEND_SPAWN_FAILED
