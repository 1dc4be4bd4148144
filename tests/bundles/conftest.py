"""Repositories and a running loopback mirror for the bundle tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fakes.mirror import Executable, FakeRepo, GitMirror, Symlink, make_repo, serve_git_mirror


@dataclass
class Repos:
    """The repositories every bundle test can use."""

    tools: FakeRepo
    subject: FakeRepo
    evil: FakeRepo
    skilled_subject: FakeRepo


@dataclass
class Events:
    """An `emit` that records what it was given."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, event_type: str, data: dict[str, Any]) -> None:
        self.received.append((event_type, data))

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [data for kind, data in self.received if kind == event_type]


def build_repos(root: Path) -> Repos:
    tools = make_repo(
        root,
        "acme/tools",
        [
            {
                "tools/run.sh": Executable("#!/bin/sh\necho run\n"),
                "tools/lib/util.py": "def util() -> None: ...\n",
                "tools/lib/current": Symlink("util.py"),
                ".agents/skills/caserun/SKILL.md": "# caserun\n",
                ".agents/skills/caserun/scripts/go.sh": Executable("#!/bin/sh\n"),
                "prompts/caserun.md": "prompt v0\n",
                "README.md": "v0\n",
            },
            {"README.md": "v1\n", "prompts/caserun.md": "prompt v1\n"},
            {"README.md": "v2\n", "prompts/caserun.md": "prompt v2\n"},
            {"prompts/caserun.md": "prompt head\n"},
        ],
        branches={"stable": 1},
        tags={"v1.0": 2},
    )
    subject = make_repo(
        root,
        "acme/subject",
        [
            {"src/app.py": "print('v0')\n", "README.md": "subject\n"},
            {"src/app.py": "print('v1')\n"},
        ],
        tags={"v0.2": 0},
    )
    evil = make_repo(
        root,
        "acme/evil",
        [
            {
                "tools/ok.sh": Executable("#!/bin/sh\n"),
                "tools/etc": Symlink("/etc"),
                "escape/up": Symlink("../../outside"),
                "inner/link": Symlink("../tools/ok.sh"),
                "etc-link": Symlink("/etc"),
            }
        ],
    )
    skilled_subject = make_repo(
        root,
        "acme/skilled",
        [{"main.c": "int main(void) { return 0; }\n", ".agents/skills/own/SKILL.md": "# own\n"}],
    )
    return Repos(tools=tools, subject=subject, evil=evil, skilled_subject=skilled_subject)


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return build_repos(tmp_path / "mirror")


@pytest.fixture
async def mirror(tmp_path: Path, repos: Repos) -> AsyncIterator[GitMirror]:
    async with serve_git_mirror(tmp_path / "mirror") as running:
        yield running


@pytest.fixture
def workspace_root(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def scratch_dir(tmp_path: Path) -> Path:
    return tmp_path / "scratch"


@pytest.fixture
def events() -> Events:
    return Events()
