"""A subject materialized as the runner does it, for the workspace result tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bundles.fetch import FetchRequest
from bundles.mirror import resolve_fetch_url
from bundles.workspace import checkout_subject
from fakes.mirror import GitMirrorServer, Symlink, make_repo
from runner.workspace.capture import CommitInfo

SECRET = "s3cr3t-value-0123456789"
WRITE_TOKEN = "write-token-0123456789"
INFO = CommitInfo("run-1", "att-1", 1, "cmd-1", "thr-1", "succeeded", 1_700_000_000)


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, input=input, capture_output=True, check=True
    )
    return out.stdout.decode()


@pytest.fixture
def mirror_server(tmp_path: Path) -> Iterator[GitMirrorServer]:
    """The loopback mirror, both sides, holding `acme/subject`."""
    make_repo(
        tmp_path / "mirror",
        "acme/subject",
        [
            {"README.md": "old\n", "src/app.py": "print(1)\n"},
            {
                "src/app.py": "print(2)\n",
                "src/gone.txt": "bye\n",
                "src/move_me.txt": "a fairly long line that stays the same\n" * 5,
                "run.sh": "#!/bin/sh\necho hi\n",
                "link": Symlink("README.md"),
                ".gitignore": "build/\n",
            },
        ],
    )
    server = GitMirrorServer(tmp_path / "mirror", write_token=WRITE_TOKEN)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def subject(tmp_path: Path, mirror_server: GitMirrorServer) -> tuple[Path, str]:
    """A depth-1 checkout of `acme/subject` (as the runner makes it) and its base commit."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    target = resolve_fetch_url("https://github.com/acme/subject", mirror_server.mirror.base_url)
    checkout = checkout_subject(
        workspace / "subject",
        target,
        FetchRequest(ref="main", commit_id=None),
        workspace_root=workspace.resolve(),
    )
    return checkout.path, checkout.commit_id
