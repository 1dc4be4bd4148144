"""A whole local AgentRun on loopback: fake manager, scripted model, dirs, the runner.

`local_stack` starts the fake manager and the scripted model, makes the directories a
runner Job gets (provider home with a Codex `config.toml` pointing at the scripted model,
runtime home, workspace, session cache, token file), and runs `python -m runner run`
as a real subprocess with exactly the contract §1 environment. The end-to-end tests and
`agentrun-runner demo` both use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from fakes.manager import FakeManager, serve_fake_manager
from fakes.model import ScriptedModel, serve_scripted_model, write_codex_config
from fakes.model.script import Script

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok-local-stack-0123456789"
"""The fake manager's bearer token (a test value, masked like a real one)."""


@dataclass
class RunnerResult:
    """How one runner process ended: exit status and its stderr (JSON log lines)."""

    returncode: int
    stderr: str


@dataclass
class LocalStack:
    """The running pieces and the directories of one local attempt setup.

    Attributes:
        manager: the fake manager (real HTTP on loopback).
        model: the scripted model server.
        root: the scratch directory holding everything below.
        session_cache: shared by all attempts of the stack (a PVC in production).
    """

    manager: FakeManager
    model: ScriptedModel
    root: Path
    provider_home: Path
    session_cache: Path
    token_file: Path
    mirror_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    _attempts: int = 0

    def runner_env(self, runner_job_id: str, **overrides: str | None) -> dict[str, str]:
        """The contract §1 environment for one runner process (fresh runtime/workspace).

        Args:
            runner_job_id: the job to claim.
            overrides: variables to set (a None value removes the variable).
        """
        self._attempts += 1
        attempt_dir = self.root / f"attempt-{self._attempts}"
        runtime = attempt_dir / "runtime-home"
        workspace = attempt_dir / "workspace"
        runtime.mkdir(parents=True)
        workspace.mkdir(parents=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AGENTRUN_MANAGER_URL": self.manager.url,
            "AGENTRUN_RUNNER_JOB_ID": runner_job_id,
            "AGENTRUN_RUNNER_TOKEN_FILE": str(self.token_file),
            "AGENTRUN_PROVIDER_HOME": str(self.provider_home),
            "AGENTRUN_RUNTIME_HOME": str(runtime),
            "AGENTRUN_WORKSPACE": str(workspace),
            "AGENTRUN_SESSION_CACHE": str(self.session_cache),
            **self.extra_env,
        }
        if self.mirror_url:
            env["AGENTRUN_GIT_MIRROR_URL"] = self.mirror_url
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    @asynccontextmanager
    async def runner_process(self, env: Mapping[str, str]) -> AsyncIterator[anyio.abc.Process]:
        """Start `python -m runner run` and yield its process (for signals, kills).

        On exit the process is waited for; bound the block with `anyio.fail_after`.
        Its stderr is discarded (stdout too); use `run_runner` to keep stderr.
        """
        process = await anyio.open_process(
            [sys.executable, "-m", "runner", "run"],
            env=dict(env),
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with process:
            try:
                yield process
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(60):
                    await process.wait()
                if process.returncode is None:
                    process.kill()

    async def run_runner(
        self, runner_job_id: str, *, env: Mapping[str, str] | None = None
    ) -> RunnerResult:
        """Run `python -m runner run` to the end (bound it with `anyio.fail_after`)."""
        result = await anyio.run_process(
            [sys.executable, "-m", "runner", "run"],
            env=dict(env if env is not None else self.runner_env(runner_job_id)),
            cwd=PROJECT_ROOT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return RunnerResult(result.returncode, result.stderr.decode(errors="replace"))


@asynccontextmanager
async def local_stack(
    root: Path,
    script: Script | list[Any] | Path,
    *,
    codex_config: Mapping[str, Any] | None = None,
    stream_idle_timeout_ms: int = 30_000,
) -> AsyncIterator[LocalStack]:
    """Start the fake manager and the scripted model; make the Job's directories.

    Args:
        root: an empty scratch directory.
        script: the scripted model's steps (see `fakes.model`).
        codex_config: extra top-level `config.toml` keys for Codex.
        stream_idle_timeout_ms: the mock provider's SSE idle timeout.
    """
    provider = root / "provider-home"
    provider.mkdir(parents=True)
    cache = root / "session-cache"
    cache.mkdir()
    token_file = root / "runner-token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    async with (
        serve_fake_manager(token=TOKEN) as manager,
        serve_scripted_model(script) as model,
    ):
        write_codex_config(
            provider,
            model.base_url,
            stream_idle_timeout_ms=stream_idle_timeout_ms,
            extra=dict(codex_config or {}),
        )
        yield LocalStack(
            manager=manager,
            model=model,
            root=root,
            provider_home=provider,
            session_cache=cache,
            token_file=token_file,
        )
