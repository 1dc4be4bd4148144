"""The fake mirror serves real git smart HTTP, logs fetches and fails on request."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from fakes.mirror import Executable, Symlink, append_commit, make_repo, serve_git_mirror

pytestmark = pytest.mark.anyio

_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=60
    )


async def _run_git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return await anyio.to_thread.run_sync(lambda: _git(*args, cwd=cwd))


async def test_a_commit_deep_in_history_can_be_fetched_by_id_over_smart_http(
    tmp_path: Path,
) -> None:
    root = tmp_path / "mirror"
    repo = make_repo(
        root,
        "acme/tools",
        [
            {"a.txt": "one", "run.sh": Executable("#!/bin/sh\n"), "ln": Symlink("a.txt")},
            {"a.txt": "two"},
            {"a.txt": "three"},
        ],
        tags={"v1": 0},
    )
    client = tmp_path / "client"
    client.mkdir()
    _git("init", "-q", cwd=client)
    with anyio.fail_after(30):
        async with serve_git_mirror(root) as mirror:
            url = mirror.url_of("acme/tools")
            result = await _run_git("fetch", "--depth=1", url, repo.commits[0], cwd=client)
            assert result.returncode == 0, result.stderr
            shown = _git("show", f"{repo.commits[0]}:a.txt", cwd=client)
            assert shown.stdout == "one"
            assert mirror.fetch_count("acme/tools") == 1
            assert mirror.fetch_count("other/repo") == 0


async def test_a_missing_repository_is_a_404_and_injected_failures_are_logged(
    tmp_path: Path,
) -> None:
    root = tmp_path / "mirror"
    repo = make_repo(root, "acme/tools", [{"a.txt": "one"}])
    client = tmp_path / "client"
    client.mkdir()
    _git("init", "-q", cwd=client)
    with anyio.fail_after(30):
        async with serve_git_mirror(root) as mirror:
            missing = await _run_git("ls-remote", mirror.url_of("acme/nope"), cwd=client)
            assert missing.returncode != 0
            assert "not found" in missing.stderr
            mirror.fail_next_requests(1)
            failed = await _run_git("ls-remote", mirror.url_of("acme/tools"), cwd=client)
            assert failed.returncode != 0
            assert "500" in failed.stderr
            assert mirror.requests[-1].injected
            mirror.set_repo_down("acme/tools")
            down = await _run_git("ls-remote", mirror.url_of("acme/tools"), cwd=client)
            assert down.returncode != 0
            mirror.set_repo_down("acme/tools", down=False)
            new = append_commit(repo, {"b.txt": "two"})
            ok = await _run_git("ls-remote", mirror.url_of("acme/tools"), cwd=client)
            assert ok.returncode == 0, ok.stderr
            assert f"{new}\trefs/heads/main" in ok.stdout
