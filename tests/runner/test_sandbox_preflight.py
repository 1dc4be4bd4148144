"""The sandbox preflight runs Codex's own `codex sandbox … -- true` before any thread."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest

from contract.failures import BackendError, FailureKind
from fakes.app_server import LAUNCHER
from runner.turn.sandbox_preflight import preflight_argv, preflight_sandbox
from tests.real_codex import REAL_CODEX
from tests.sandbox_helpers import path_without_bwrap, stripped_codex

pytestmark = pytest.mark.anyio


def codex_env(tmp_path: Path, path: str | None = None) -> dict[str, str]:
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    return {"PATH": path or os.environ.get("PATH", ""), "CODEX_HOME": str(home)}


def cwd(tmp_path: Path) -> Path:
    work = tmp_path / "workspace"
    work.mkdir(exist_ok=True)
    return work


@pytest.mark.real_codex
@pytest.mark.parametrize("build", list(REAL_CODEX))
@pytest.mark.parametrize("sandbox", ["workspace-write", "read-only"])
async def test_a_complete_codex_passes_the_preflight(
    tmp_path: Path, build: str, sandbox: str
) -> None:
    codex = REAL_CODEX[build]()
    assert codex is not None
    with anyio.fail_after(60):
        await preflight_sandbox(codex, sandbox, codex_env(tmp_path), cwd(tmp_path))


@pytest.mark.real_codex
@pytest.mark.parametrize("build", ["codex-0.171-npm", "codex-0.169-npm"])
async def test_a_codex_without_its_bubblewrap_fails_the_preflight_with_sandbox_error(
    tmp_path: Path, build: str
) -> None:
    codex = stripped_codex(tmp_path, build)
    env = codex_env(tmp_path, path_without_bwrap())
    with anyio.fail_after(60), pytest.raises(BackendError) as caught:
        await preflight_sandbox(codex, "workspace-write", env, cwd(tmp_path))

    assert caught.value.kind is FailureKind.SANDBOX_ERROR
    assert not caught.value.retryable
    assert caught.value.detail["exitCode"] == 101
    assert caught.value.detail["profile"] == ":workspace"


@pytest.mark.real_codex
async def test_danger_full_access_runs_no_preflight(tmp_path: Path) -> None:
    codex = stripped_codex(tmp_path)
    env = codex_env(tmp_path, path_without_bwrap())
    assert preflight_argv(codex, "danger-full-access", tmp_path) is None
    with anyio.fail_after(60):
        await preflight_sandbox(codex, "danger-full-access", env, cwd(tmp_path))


async def test_the_fake_app_servers_unavailable_sandbox_fails_the_preflight(
    tmp_path: Path,
) -> None:
    env = codex_env(tmp_path)
    scenario = {"sandbox": "unavailable", "turns": [{"steps": []}]}
    (Path(env["CODEX_HOME"]) / "fake-codex-scenario.json").write_text(json.dumps(scenario))
    with anyio.fail_after(60), pytest.raises(BackendError) as caught:
        await preflight_sandbox(LAUNCHER, "read-only", env, cwd(tmp_path))
    assert caught.value.kind is FailureKind.SANDBOX_ERROR


async def test_a_preflight_that_does_not_finish_is_sandbox_error(tmp_path: Path) -> None:
    hangs = tmp_path / "codex"
    hangs.write_text("#!/bin/sh\nexec sleep 30\n")
    hangs.chmod(0o755)
    with anyio.fail_after(30), pytest.raises(BackendError) as caught:
        await preflight_sandbox(
            hangs, "workspace-write", codex_env(tmp_path), cwd(tmp_path), timeout_seconds=0.2
        )
    assert caught.value.kind is FailureKind.SANDBOX_ERROR


@pytest.mark.real_codex
async def test_a_broken_config_toml_is_left_to_the_app_server_to_report(tmp_path: Path) -> None:
    codex = REAL_CODEX["codex-0.171-npm"]()
    assert codex is not None
    env = codex_env(tmp_path)
    (Path(env["CODEX_HOME"]) / "config.toml").write_text("[model_providers.broken\n")
    with anyio.fail_after(60):
        await preflight_sandbox(codex, "workspace-write", env, cwd(tmp_path))
