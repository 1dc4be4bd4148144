"""An attempt started exactly as the Job starts it: `agentrun-boot` with the §1 env only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest

from adapters.codex.binary import npm_native_binary
from fakes.mirror import serve_git_mirror
from fakes.model import SCRIPTS_DIR, load_script
from fakes.stack import local_stack
from tests.boot.conftest import AGENTRUN_BOOT
from tests.boot.source_repo import SOURCE_REPO_URL, publish_project_source
from tests.e2e.helpers import of_type

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]


@pytest.mark.parametrize("codex_bin", ["explicit", "default"])
async def test_boot_fetches_the_commit_and_the_runner_from_that_checkout_completes_the_attempt(
    tmp_path: Path, codex_bin: str
) -> None:
    """With `default`, no `AGENTRUN_CODEX_BIN`: the fresh checkout has no `node_modules/`,
    so the runner must find the Codex of its environment (here the dev venv's checkout)."""
    published = publish_project_source(tmp_path / "mirror")
    codex = npm_native_binary()
    assert codex is not None
    boot_dir = tmp_path / "boot"
    boot_dir.mkdir()
    async with (
        serve_git_mirror(tmp_path / "mirror") as mirror,
        local_stack(tmp_path / "stack", load_script(SCRIPTS_DIR / "plain-answer.json")) as stack,
    ):
        from fakes.manager import example_job

        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        env = stack.runner_env(
            job["runnerJobId"],
            AGENTRUN_BOOT_COMMIT=published.commit,
            AGENTRUN_SOURCE_REPO_URL=SOURCE_REPO_URL,
            AGENTRUN_GIT_MIRROR_URL=mirror.base_url,
            AGENTRUN_BOOT_DIR=str(boot_dir),
            AGENTRUN_CODEX_BIN=str(codex) if codex_bin == "explicit" else None,
        )
        with anyio.fail_after(90):
            result = await anyio.run_process(
                [str(AGENTRUN_BOOT)], env=env, check=False, stdin=subprocess.DEVNULL
            )
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = stack.manager.events(job["runId"], job["attemptId"])
        fetches = mirror.fetch_count("agentrun/agentrun-runner")

    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert terminal is not None
    assert terminal["status"] == "succeeded"
    [started] = of_type(events, "runner.started")
    assert started["data"]["bootCommit"] == published.commit
    checkout = Path(started["data"]["bootCheckout"])
    assert checkout.is_relative_to(boot_dir)
    assert Path(started["data"]["sourcePath"]) == checkout
    assert isinstance(started["data"]["bootFetchMs"], int)
    assert started["data"]["bootDurationMs"] >= started["data"]["bootFetchMs"]
    assert fetches == 1
    [backend] = of_type(events, "backend.started")
    assert backend["data"]["binaryOrigin"] == ("env" if codex_bin == "explicit" else "npm")
    assert backend["data"]["version"] == "0.171.0"
