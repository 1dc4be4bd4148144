"""When the backend starts: after the whole job is checked (§2), while the workspace and
the bundles are fetched (issue 14), and a fetch failure still names the fetch.

The real Codex runs behind a wrapper that writes down each invocation (`codex --version`
for the claim, `codex sandbox` for the preflight, `codex app-server`) before it execs the
pinned binary; the mirror is the real smart-HTTP one on loopback.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from pathlib import Path

import anyio
import psutil
import pytest

from adapters.codex.binary import npm_native_binary
from fakes.demo import demo_job, make_demo_repos
from fakes.mirror import serve_git_mirror
from fakes.stack import local_stack
from tests.e2e.helpers import Finished, of_type, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

HOLD_SECONDS = 20.0
"""How long the mirror holds a fetch that nothing released (the failure case only)."""


def recording_codex(tmp_path: Path, *, app_server_exits: bool = False) -> tuple[Path, Path]:
    """A `codex` that appends its arguments to a log, then runs the pinned binary.

    With `app_server_exits`, `codex app-server` exits 1 at once instead (a backend that
    cannot start). Returns the wrapper and its log.
    """
    real = npm_native_binary()
    assert real is not None, "the pinned Codex is not installed (scripts/bootstrap)"
    log = tmp_path / "codex-invocations.log"
    wrapper = tmp_path / "codex"
    fail = 'case "$1" in app-server) exit 1;; esac\n' if app_server_exits else ""
    wrapper.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\n{fail}'
        f'exec {shlex.quote(str(real))} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, log


def invocations(log: Path) -> list[str]:
    """The subcommand of each recorded invocation (`--version`, `sandbox`, `app-server`)."""
    if not log.exists():
        return []
    return [line.split(" ", 1)[0] for line in log.read_text().splitlines()]


async def test_the_app_server_starts_while_the_subject_repository_is_fetched(
    tmp_path: Path,
) -> None:
    mirror_root = tmp_path / "mirror"
    mirror_root.mkdir()
    make_demo_repos(mirror_root)
    wrapper, log = recording_codex(tmp_path)
    spawned = threading.Event()
    done: Finished | None = None
    async with (
        serve_git_mirror(mirror_root) as mirror,
        local_stack(tmp_path / "stack", [{"kind": "text", "text": "done"}]) as stack,
    ):
        # Every fetch waits until `codex app-server` was invoked: a runner that spawned it
        # only after the fetches would be held for HOLD_SECONDS and counted below.
        mirror.hold_reads_until(spawned, timeout_seconds=HOLD_SECONDS)
        stack.mirror_url = mirror.base_url
        job = demo_job("Say done.")
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(wrapper))
        async with anyio.create_task_group() as tg:

            async def release_when_spawned() -> None:
                # Another process writes the log: there is no event to wait on.
                while "app-server" not in invocations(log):  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                spawned.set()

            tg.start_soon(release_when_spawned)
            done = await run_job(stack, job, env=env)
            tg.cancel_scope.cancel()

    assert done is not None
    assert done.terminal["status"] == "succeeded"
    assert mirror.held_past_timeout == 0
    types = [e["type"] for e in done.events]
    assert types.index("workspace.materialized") < types.index("backend.started")
    assert types.index("resource-bundle-materialized") < types.index("backend.started")


async def test_a_bundle_path_that_escapes_the_workspace_starts_no_thread_and_no_sandbox(
    tmp_path: Path,
) -> None:
    wrapper, log = recording_codex(tmp_path)
    async with local_stack(tmp_path / "stack", []) as stack:
        stack.mirror_url = "http://127.0.0.1:9/"  # never reached: the paths are checked first
        job = demo_job("Say done.")
        job["resourceBundles"][0]["bundles"][0]["target"] = "../outside"
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(wrapper))
        done = await run_job(stack, job, env=env)
        model_requests = len(stack.model.model_requests)

    assert done.terminal["status"] == "failed"
    assert done.terminal["failureKind"] == "bundle-path-invalid"
    # The warm app-server (§2 v1.2) may have been spawned during the claim; it is
    # stopped unused: no preflight, no backend.started, no thread, no model request.
    assert "sandbox" not in invocations(log)
    assert not of_type(done.events, "backend.started")
    assert model_requests == 0
    assert processes_in(Path(env["AGENTRUN_WORKSPACE"])) == []


def processes_in(cwd: Path) -> list[int]:
    """Pids of live processes whose working directory is `cwd` (the backend's, §2)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if Path(proc.cwd()) == cwd.resolve():
                found.append(proc.pid)
    return found


async def test_a_failed_fetch_is_the_verdict_even_when_the_backend_cannot_start_either(
    tmp_path: Path,
) -> None:
    mirror_root = tmp_path / "mirror"
    mirror_root.mkdir()
    make_demo_repos(mirror_root)
    wrapper, log = recording_codex(tmp_path, app_server_exits=True)
    async with (
        serve_git_mirror(mirror_root) as mirror,
        local_stack(tmp_path / "stack", []) as stack,
    ):
        mirror.set_repo_down("agentrun-demo/toolbox", status=404)
        stack.mirror_url = mirror.base_url
        job = demo_job("Say done.")
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(wrapper))
        done = await run_job(stack, job, env=env)

    assert "app-server" in invocations(log)
    assert done.terminal["status"] == "failed"
    assert done.terminal["failureKind"] == "bundle-mirror-miss"
    assert not of_type(done.events, "backend.started")
