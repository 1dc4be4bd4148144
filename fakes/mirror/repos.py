"""Build bare git repositories with a given history, for the fake mirror to serve.

`make_repo` writes `root/OWNER/REPO.git` with one commit per entry of `history`; each
entry is a delta over the previous tree (a path mapped to text, bytes, an `Executable`,
a `Symlink`, or None to delete it). Branches and tags point at commits by their index.
`append_commit` adds a commit to an existing repository later. Commits are made with
git plumbing (`write-tree`, `commit-tree`, `update-ref`) and fixed author and dates,
so a history is deterministic. Blocking (runs `git`); call from sync code or a thread.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Executable",
    "FakeRepo",
    "FileSpec",
    "Symlink",
    "append_commit",
    "files_from_directory",
    "make_repo",
]

_EPOCH = 1_700_000_000
"""Author/committer time of the first commit (seconds); commit i is one minute later."""


@dataclass(frozen=True)
class Symlink:
    """A symbolic link whose text is `target` (e.g. `/etc` or `../shared`)."""

    target: str


@dataclass(frozen=True)
class Executable:
    """A regular file with mode 100755."""

    content: str | bytes


FileSpec = str | bytes | Executable | Symlink | None
"""One path's content in a commit delta; None deletes the path."""


@dataclass(frozen=True)
class FakeRepo:
    """A bare repository built by `make_repo`.

    Attributes:
        name: `OWNER/REPO`.
        path: the bare repository directory (`root/OWNER/REPO.git`).
        commits: the 40-hex ids of the commits of `history`, oldest first.
    """

    name: str
    path: Path
    commits: tuple[str, ...]

    @property
    def head(self) -> str:
        """The last commit of `history`."""
        return self.commits[-1]

    @property
    def github_url(self) -> str:
        """`https://github.com/OWNER/REPO`, the form a job spec uses."""
        return f"https://github.com/{self.name}"

    def mirror_url(self, base_url: str) -> str:
        """`{base_url}/OWNER/REPO.git`."""
        return f"{base_url.rstrip('/')}/{self.name}.git"


def _git(git_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(git_dir),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_DIR": str(git_dir),
    }
    result = subprocess.run(
        ["git", *args],
        env={**base_env, **(env or {})},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode().strip()


def _write_delta(worktree: Path, files: Mapping[str, FileSpec]) -> None:
    for rel, spec in files.items():
        path = worktree / rel
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        if spec is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, Symlink):
            path.symlink_to(spec.target)
            continue
        content = spec.content if isinstance(spec, Executable) else spec
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(0o755 if isinstance(spec, Executable) else 0o644)


def _commit(
    git_dir: Path,
    worktree: Path,
    index: Path,
    files: Mapping[str, FileSpec],
    *,
    parent: str | None,
    message: str,
    sequence: int,
) -> str:
    _write_delta(worktree, files)
    env = {
        "GIT_WORK_TREE": str(worktree),
        "GIT_INDEX_FILE": str(index),
        "GIT_AUTHOR_NAME": "Fake Author",
        "GIT_AUTHOR_EMAIL": "author@example.invalid",
        "GIT_COMMITTER_NAME": "Fake Author",
        "GIT_COMMITTER_EMAIL": "author@example.invalid",
        "GIT_AUTHOR_DATE": f"{_EPOCH + 60 * sequence} +0000",
        "GIT_COMMITTER_DATE": f"{_EPOCH + 60 * sequence} +0000",
    }
    _git(git_dir, "add", "-A", ".", env=env)
    tree = _git(git_dir, "write-tree", env=env)
    parents = ["-p", parent] if parent else []
    return _git(git_dir, "commit-tree", tree, *parents, "-m", message, env=env)


def make_repo(
    root: Path,
    name: str,
    history: Sequence[Mapping[str, FileSpec]],
    *,
    branch: str = "main",
    branches: Mapping[str, int] | None = None,
    tags: Mapping[str, int] | None = None,
    annotated_tags: bool = True,
) -> FakeRepo:
    """Create the bare repository `root/{name}.git` with a linear history.

    Example::

        repo = make_repo(root, "acme/tools", [
            {"tools/run.sh": Executable("#!/bin/sh\\necho hi\\n"), "README.md": "v1"},
            {"README.md": "v2", ".agents/skills/fix/SKILL.md": "# fix"},
        ], tags={"v1": 0}, branches={"old": 0})

    Args:
        root: the mirror's root directory (created if missing).
        name: `OWNER/REPO`.
        history: commit deltas, oldest first (at least one). Each maps a POSIX path to
            its new content (`str` is UTF-8 text, `bytes`, `Executable`, `Symlink`) or
            None to delete it; unmentioned paths keep their previous content.
        branch: the branch holding the whole history; also the repository's HEAD.
        branches: extra branches, name → index into `history`.
        tags: tags, name → index into `history`.
        annotated_tags: make annotated tag objects (True) or lightweight tags.

    Returns:
        The repository with its commit ids.

    Raises:
        ValueError: `history` is empty or the repository already exists.
        subprocess.CalledProcessError: git failed.
    """
    if not history:
        raise ValueError("history needs at least one commit")
    git_dir = root / f"{name}.git"
    if git_dir.exists():
        raise ValueError(f"{git_dir} already exists")
    git_dir.mkdir(parents=True)
    subprocess.run(
        ["git", "init", "--quiet", "--bare", f"--initial-branch={branch}", str(git_dir)],
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
        timeout=60,
    )
    commits: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fake-repo-") as scratch:
        worktree = Path(scratch) / "tree"
        worktree.mkdir()
        index = Path(scratch) / "index"
        for number, files in enumerate(history):
            commits.append(
                _commit(
                    git_dir,
                    worktree,
                    index,
                    files,
                    parent=commits[-1] if commits else None,
                    message=f"commit {number}",
                    sequence=number,
                )
            )
    _git(git_dir, "update-ref", f"refs/heads/{branch}", commits[-1])
    for extra, at in (branches or {}).items():
        _git(git_dir, "update-ref", f"refs/heads/{extra}", commits[at])
    for tag, at in (tags or {}).items():
        if annotated_tags:
            env = {
                "GIT_COMMITTER_NAME": "Fake Author",
                "GIT_COMMITTER_EMAIL": "author@example.invalid",
                "GIT_COMMITTER_DATE": f"{_EPOCH} +0000",
            }
            _git(git_dir, "tag", "-a", tag, "-m", f"tag {tag}", commits[at], env=env)
        else:
            _git(git_dir, "update-ref", f"refs/tags/{tag}", commits[at])
    return FakeRepo(name=name, path=git_dir, commits=tuple(commits))


def append_commit(
    repo: FakeRepo, files: Mapping[str, FileSpec], *, branch: str = "main", message: str = ""
) -> str:
    """Add one commit on top of `branch` (created from nothing if it does not exist).

    Args:
        repo: a repository from `make_repo`.
        files: the delta, as in `make_repo`'s `history` entries.
        branch: the branch to advance.
        message: commit message (default `commit N`).

    Returns:
        The new commit's id. (`repo.commits` is not updated; it is frozen.)
    """
    git_dir = repo.path
    try:
        parent: str | None = _git(git_dir, "rev-parse", "--verify", f"refs/heads/{branch}")
    except subprocess.CalledProcessError:
        parent = None
    count = int(_git(git_dir, "rev-list", "--count", "--all") or "0")
    with tempfile.TemporaryDirectory(prefix="fake-repo-") as scratch:
        worktree = Path(scratch) / "tree"
        worktree.mkdir()
        index = Path(scratch) / "index"
        if parent:
            env = {"GIT_WORK_TREE": str(worktree), "GIT_INDEX_FILE": str(index)}
            _git(git_dir, "read-tree", "-u", "--reset", parent, env=env)
        commit = _commit(
            git_dir,
            worktree,
            index,
            files,
            parent=parent,
            message=message or f"commit {count}",
            sequence=count,
        )
    _git(git_dir, "update-ref", f"refs/heads/{branch}", commit)
    return commit


def files_from_directory(
    source: Path, *, exclude: Sequence[str] = (".git", ".venv", "__pycache__")
) -> dict[str, FileSpec]:
    """Read a directory into a `make_repo` history entry (e.g. a project's own source).

    Args:
        source: the directory to snapshot.
        exclude: directory or file names skipped wherever they occur.

    Returns:
        POSIX relative path → content; executables and symlinks are kept as such.
    """
    files: dict[str, FileSpec] = {}
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in exclude)
        for filename in sorted(filenames):
            if filename in exclude:
                continue
            path = Path(dirpath) / filename
            rel = path.relative_to(source).as_posix()
            if path.is_symlink():
                files[rel] = Symlink(os.readlink(path))
            elif os.access(path, os.X_OK):
                files[rel] = Executable(path.read_bytes())
            else:
                files[rel] = path.read_bytes()
    return files
