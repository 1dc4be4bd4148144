"""Put this project's own source into a bare repository that the loopback mirror serves.

`publish_project_source` snapshots the working tree (tracked and untracked files, minus
what `.gitignore` excludes, so uncommitted work boots too) as commit A, then adds a
commit B on top as the branch tip. Booting A proves that boot fetches the exact commit
and not a branch tip. Reusable by the end-to-end test that boots the real runner.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCE_REPO = "agentrun/agentrun-runner"
"""OWNER/REPO the test source is published as; its GitHub URL maps to the mirror."""
SOURCE_REPO_URL = f"https://github.com/{SOURCE_REPO}"
TIP_MARKER = "BRANCH-TIP-ONLY"
"""A file that exists only in the tip commit B, never in the boot commit A."""
_GIT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class PublishedSource:
    """The bare repository holding the project source.

    Attributes:
        bare: path of the bare repository (`mirror_root/OWNER/REPO.git`).
        commit: commit A: the working tree snapshot (the one to boot).
        tip: commit B: the branch tip, A plus `TIP_MARKER`.
    """

    bare: Path
    commit: str
    tip: str


def _git(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        check=True,
        capture_output=True,
        input=stdin,
        env=env,
        timeout=_GIT_TIMEOUT_SECONDS,
    )
    return result.stdout.decode().strip()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME="agentrun test",
        GIT_AUTHOR_EMAIL="test@agentrun.invalid",
        GIT_COMMITTER_NAME="agentrun test",
        GIT_COMMITTER_EMAIL="test@agentrun.invalid",
        GIT_AUTHOR_DATE="2025-01-01T00:00:00Z",
        GIT_COMMITTER_DATE="2025-01-01T00:00:00Z",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    env.update(extra)
    return env


def publish_project_source(
    mirror_root: Path, *, source: Path = PROJECT_ROOT, repo: str = SOURCE_REPO
) -> PublishedSource:
    """Create `mirror_root/OWNER/REPO.git` holding the working tree of `source`.

    Args:
        mirror_root: the directory the loopback mirror serves.
        source: the project work tree to snapshot (default: this checkout).
        repo: `OWNER/REPO`.

    Returns:
        The bare repository and its two commits.
    """
    bare = mirror_root / f"{repo}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", "--bare", "--initial-branch=main", str(bare), env=_clean_env())
    index = bare / "agentrun-test-index"
    env = _clean_env(GIT_DIR=str(bare), GIT_WORK_TREE=str(source), GIT_INDEX_FILE=str(index))
    _git("-C", str(source), "add", "-A", ".", env=env)
    tree = _git("write-tree", env=env)
    commit = _git("commit-tree", tree, "-m", "project source snapshot", env=env)
    marker_blob = _git("hash-object", "-w", "--stdin", env=env, stdin=b"tip only\n")
    _git("update-index", "--add", "--cacheinfo", f"100644,{marker_blob},{TIP_MARKER}", env=env)
    tip_tree = _git("write-tree", env=env)
    tip = _git("commit-tree", tip_tree, "-p", commit, "-m", "branch tip", env=env)
    _git("update-ref", "refs/heads/main", tip, env=env)
    index.unlink()
    return PublishedSource(bare=bare, commit=commit, tip=tip)
