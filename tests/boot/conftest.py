"""Fixtures for boot tests: the loopback mirror serving this project's source, and the
environment `agentrun-boot` gets in a Job (contract §1), with boot's test knobs."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakes.mirror.server import GitMirror, serve_git_mirror
from tests.boot.source_repo import SOURCE_REPO_URL, PublishedSource, publish_project_source

AGENTRUN_BOOT = Path(sys.executable).with_name("agentrun-boot")
"""The console script, as the env image's entrypoint runs it."""


@pytest.fixture
def published_source(tmp_path: Path) -> PublishedSource:
    """This project's working tree published as `agentrun/agentrun-runner` on the mirror."""
    return publish_project_source(tmp_path / "mirror")


@pytest.fixture
async def mirror(tmp_path: Path, published_source: PublishedSource) -> AsyncIterator[GitMirror]:
    """The loopback git mirror serving `published_source`."""
    async with serve_git_mirror(tmp_path / "mirror") as running:
        yield running


@pytest.fixture
def boot_env(tmp_path: Path) -> dict[str, str]:
    """The contract §1 environment of a runner pod, minus the mirror URL and commit.

    Tests add `AGENTRUN_GIT_MIRROR_URL` and `AGENTRUN_BOOT_COMMIT`. `AGENTRUN_BOOT_DIR` is a
    fresh directory; `AGENTRUN_BOOT_FETCH_ATTEMPTS=1` keeps failure tests free of pauses.
    """
    for name in ("provider", "home", "workspace", "boot"):
        (tmp_path / name).mkdir()
    token = tmp_path / "token"
    token.write_text("token-value-never-printed\n")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AGENTRUN_MANAGER_URL": "http://127.0.0.1:9",
        "AGENTRUN_RUNNER_JOB_ID": "rj-boot-test",
        "AGENTRUN_RUNNER_TOKEN_FILE": str(token),
        "AGENTRUN_SOURCE_REPO_URL": SOURCE_REPO_URL,
        "AGENTRUN_PROVIDER_HOME": str(tmp_path / "provider"),
        "AGENTRUN_RUNTIME_HOME": str(tmp_path / "home"),
        "AGENTRUN_WORKSPACE": str(tmp_path / "workspace"),
        "AGENTRUN_BOOT_DIR": str(tmp_path / "boot"),
        "AGENTRUN_BOOT_FETCH_ATTEMPTS": "1",
        "AGENTRUN_BOOT_FETCH_TIMEOUT_SECONDS": "30",
    }
