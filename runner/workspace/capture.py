"""Capture what the agent changed in the subject repository as one commit (contract §12).

Nothing of the agent's repository is written: the capture works in its own bare
repository (`{scratch}/result.git`), which borrows the subject's objects through
`objects/info/alternates` and its `shallow` list, and builds the tree in a temporary
index (`GIT_INDEX_FILE`) over the subject's work tree: `read-tree baseCommit`, `add -A`
(the subject's `.gitignore` applies; modes, symlinks and binary files are kept as git
stores them), secrets masked blob by blob, `write-tree`, `commit-tree`. The agent's own
config, hooks and attributes filters never run (only its `.gitignore`/`.gitattributes`
files are read, as git reads them). The numbers (`--numstat`), statuses (`--name-status
-M`) and the patch (`git diff --binary baseCommit resultCommit`) come from git itself.

All functions here are blocking; callers run them in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import git

from bundles.fetch import has_commit
from bundles.gitops import git_message, run_git, sanitized
from contract.failures import RunnerError, WorkspaceError
from runner.safety.masking import Masker
from runner.safety.masking_files import mask_stream
from runner.workspace.changes import ChangedFile, changed_files

__all__ = [
    "AUTHOR_EMAIL",
    "AUTHOR_NAME",
    "Capture",
    "CommitInfo",
    "capture_change",
]

AUTHOR_NAME = "AgentRun runner"
AUTHOR_EMAIL = "runner@agentrun.invalid"
SKILLS_PREFIX = ".agents/skills/"
_BLOB_MODES = ("100644", "100755", "120000")


@dataclass(frozen=True)
class CommitInfo:
    """What the result commit's message says (§12).

    Attributes:
        run_id / attempt_id / command_id / thread_id: the trailers' values.
        attempt: the attempt number of the job (`attempt`).
        status: the terminal status (`succeeded`, `failed`, `cancelled`, `timed-out`).
        time: author and committer date, seconds since the epoch (UTC).
    """

    run_id: str
    attempt_id: str
    attempt: int
    command_id: str
    thread_id: str | None
    status: str
    time: int

    def message(self) -> str:
        """First line `agentrun: {runId} attempt {attempt} {status}`, then the trailers."""
        trailers = [
            f"AgentRun-Run-Id: {self.run_id}",
            f"AgentRun-Attempt-Id: {self.attempt_id}",
            f"AgentRun-Command-Id: {self.command_id}",
        ]
        if self.thread_id:
            trailers.append(f"AgentRun-Thread-Id: {self.thread_id}")
        return f"agentrun: {self.run_id} attempt {self.attempt} {self.status}\n\n" + (
            "\n".join(trailers) + "\n"
        )


@dataclass
class Capture:
    """The captured change.

    Attributes:
        base_commit: the commit the subject was materialized at.
        result_commit: the new commit, or `base_commit` when nothing changed.
        changed: whether the turn's tree differs from the base's.
        git_dir: the capture repository (holds `result_commit`; pushed from here).
        files: every changed file, in git's order.
        masked: paths whose committed content had a secret replaced by `***`.
        patch_path: the `git diff --binary` file, or None when nothing changed.
        patch_sha256 / patch_size_bytes: of that file (empty patch: "" / 0).
        agent_head: the agent's own HEAD kept as the second parent, or None.
        notes: what the capture left out and why (e.g. agent commits with a secret).
    """

    base_commit: str
    result_commit: str
    changed: bool
    git_dir: Path
    files: list[ChangedFile] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)
    patch_path: Path | None = None
    patch_sha256: str = ""
    patch_size_bytes: int = 0
    agent_head: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def insertions(self) -> int:
        return sum(f.insertions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)

    @property
    def skills_in_subject(self) -> list[str]:
        """Changed paths under the subject's `.agents/skills/` (negative isolation)."""
        found = set()
        for f in self.files:
            for path in (f.path, f.old_path):
                if path is not None and path.startswith(SKILLS_PREFIX):
                    found.add(path)
        return sorted(found)


class _Git:
    """git in the capture repository, over the subject's work tree and a temp index."""

    def __init__(self, git_dir: Path, work_tree: Path, index: Path) -> None:
        self.git_dir = git_dir
        self.work_tree = work_tree
        self.env = {
            "GIT_DIR": str(git_dir),
            "GIT_WORK_TREE": str(work_tree),
            "GIT_INDEX_FILE": str(index),
            # The repository stays bare on disk (so gitpython reads it as one); only
            # these commands see it as having the subject's work tree.
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "core.bare",
            "GIT_CONFIG_VALUE_0": "false",
            "GIT_AUTHOR_NAME": AUTHOR_NAME,
            "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
            "GIT_COMMITTER_NAME": AUTHOR_NAME,
            "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        }

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> str:
        return run_git(self.work_tree, list(args), extra_env={**self.env, **(env or {})})

    def to_file(self, path: Path, *args: str) -> None:
        with path.open("wb") as out:
            run_git(self.work_tree, list(args), extra_env=self.env, output_stream=out)


def _prepare_repo(git_dir: Path, subject: Path) -> None:
    """The capture repository: bare objects of its own, the subject's as alternates."""
    if not (git_dir / "HEAD").exists():
        git_dir.mkdir(parents=True, exist_ok=True)
        run_git(git_dir, ["init", "--quiet", "--bare", "."])
        run_git(git_dir, ["config", "core.hooksPath", os.devnull])
    subject_git = subject / ".git"
    objects = subject_git / "objects"
    info = git_dir / "objects" / "info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "alternates").write_text(f"{objects.resolve()}\n" if objects.is_dir() else "")
    shallow = subject_git / "shallow"
    if shallow.is_file() and not shallow.is_symlink():
        known = (
            set((git_dir / "shallow").read_text().split())
            if (git_dir / "shallow").exists()
            else set()
        )
        known |= set(shallow.read_text().split())
        (git_dir / "shallow").write_text("".join(f"{sha}\n" for sha in sorted(known)))


def _mask_index(g: _Git, base: str, masker: Masker, scratch: Path) -> list[str]:
    """Replace, in the temp index, every changed blob that holds a secret; the paths."""
    raw = g("diff-index", "--cached", "--no-renames", "-z", "--raw", base)
    fields = raw.split("\0")
    masked: list[str] = []
    repo = git.Repo(str(g.git_dir))
    try:
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            if not meta.startswith(":"):
                continue
            _old_mode, new_mode, _old_sha, new_sha, status = meta[1:].split(" ")
            if status.startswith("D") or new_mode not in _BLOB_MODES:
                continue
            with tempfile.NamedTemporaryFile(dir=scratch, delete=False) as out:
                stream = repo.odb.stream(bytes.fromhex(new_sha))
                changed = mask_stream(stream, out, masker)  # type: ignore[arg-type]
            try:
                if changed:
                    blob = g("hash-object", "-w", "--no-filters", out.name)
                    g("update-index", "--cacheinfo", f"{new_mode},{blob},{path}")
                    masked.append(path)
            finally:
                os.unlink(out.name)
    finally:
        repo.close()
    return masked


def _agent_head(g: _Git, subject: Path, base: str, masker: Masker) -> tuple[str | None, str | None]:
    """The agent's own HEAD if it committed on top of `base` and nothing there is secret.

    Returns:
        (head to keep as a second parent or None, a note when it was left out).
    """
    try:  # read in Python: git itself would read the agent's own config
        with git.Repo(str(subject)) as agent_repo:
            head = git.SymbolicReference.dereference_recursive(agent_repo, "HEAD")
    except (git.GitError, OSError, ValueError, TypeError):
        return None, None
    if head == base or not has_commit(g.git_dir, head):
        return None, None
    try:
        g("merge-base", "--is-ancestor", base, head)
    except git.GitCommandError:
        return None, "the agent's HEAD does not descend from baseCommit; its commits are not kept"
    objects = g("rev-list", "--objects", f"{base}..{head}").split("\n")
    repo = git.Repo(str(g.git_dir))
    try:
        for line in objects:
            sha = line.split(" ", 1)[0]
            if not sha:
                continue
            if repo.odb.info(bytes.fromhex(sha)).type not in (b"blob", b"commit"):
                continue
            stream = repo.odb.stream(bytes.fromhex(sha))
            if mask_stream(stream, _Discard(), masker):  # type: ignore[arg-type]
                return None, "the agent's own commits hold a secret; they are not kept"
    finally:
        repo.close()
    return head, None


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def capture_change(
    subject: Path,
    base_commit: str,
    scratch: Path,
    masker: Masker,
    info: CommitInfo,
    *,
    refetch_base: Callable[[Path], None] | None = None,
) -> Capture:
    """Capture the subject's change against `base_commit` as one masked commit. Blocking.

    Args:
        subject: `AGENTRUN_WORKSPACE/{workspace.path}` (the agent's work tree).
        base_commit: `commitId` of `workspace.materialized` (40 hex).
        scratch: a writable directory outside the workspace (kept for a restart).
        masker: the attempt's masker; blobs holding a secret are committed masked.
        info: the commit message's facts.
        refetch_base: fetches `base_commit` into the given git dir when the subject's own
            repository no longer has it (the agent deleted `.git`).

    Returns:
        The capture; `changed` False (and `result_commit == base_commit`) when the
        turn's tree equals the base's.

    Raises:
        WorkspaceError: `workspace-publish-failed` when the subject is gone or git fails.
    """
    git_dir = scratch / "result.git"
    index = scratch / "index"
    try:
        if not subject.is_dir():
            raise WorkspaceError("the subject directory is gone; nothing can be captured")
        _prepare_repo(git_dir, subject)
        g = _Git(git_dir, subject, index)
        if not has_commit(git_dir, base_commit) and refetch_base is not None:
            refetch_base(git_dir)
        if not has_commit(git_dir, base_commit):
            raise WorkspaceError(
                f"the base commit {base_commit} is no longer in the workspace's repository",
                detail={"baseCommit": base_commit},
            )
        index.unlink(missing_ok=True)
        g("read-tree", base_commit)
        g("add", "--all", ".")
        masked = _mask_index(g, base_commit, masker, scratch)
        tree = g("write-tree")
        capture = Capture(base_commit, base_commit, False, git_dir, masked=masked)
        if tree == g("rev-parse", f"{base_commit}^{{tree}}"):
            return capture
        head, note = _agent_head(g, subject, base_commit, masker)
        capture.agent_head = head
        capture.notes += [note] if note else []
        parents = ["-p", base_commit] + (["-p", head] if head else [])
        date = {
            "GIT_AUTHOR_DATE": f"@{info.time} +0000",
            "GIT_COMMITTER_DATE": f"@{info.time} +0000",
        }
        message = scratch / "message"
        message.write_text(info.message())
        capture.result_commit = g("commit-tree", tree, *parents, "-F", str(message), env=date)
        capture.changed = True
        capture.files = changed_files(g, base_commit, capture.result_commit)
        raw_patch, patch = scratch / "workspace.patch.raw", scratch / "workspace.patch"
        g.to_file(raw_patch, "diff", "--binary", base_commit, capture.result_commit)
        with raw_patch.open("rb") as source, patch.open("wb") as target:
            if mask_stream(source, target, masker):  # only a path can still hold one
                capture.notes.append("a secret in a changed path was masked in the patch")
        raw_patch.unlink()
        capture.patch_path = patch
        capture.patch_sha256, capture.patch_size_bytes = _digest(patch)
        return capture
    except git.GitCommandError as exc:
        raise WorkspaceError(
            f"capturing the workspace failed: {git_message(exc)}",
            detail={"gitStatus": exc.status},
        ) from sanitized(exc)
    except WorkspaceError:
        raise
    except RunnerError as exc:  # the base commit could not be fetched again
        raise WorkspaceError(f"capturing the workspace failed: {exc.message}") from exc
    except OSError as exc:
        raise WorkspaceError(f"capturing the workspace failed: {exc.strerror or exc}") from exc
    finally:
        index.unlink(missing_ok=True)


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def remove_capture(scratch: Path) -> None:
    """Delete a capture's scratch directory (tests and clean-up)."""
    shutil.rmtree(scratch, ignore_errors=True)
