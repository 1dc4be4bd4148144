"""The subject repository: a shallow working checkout in `AGENTRUN_WORKSPACE/{path}`.

The subject repo is fetched through the mirror like a bundle (`--depth=1`, commit id
wins over ref), but into its own repository at the workspace path rather than into the
shared object store, because it becomes the agent's working tree and must stay complete
after the attempt's scratch space is gone. Checkout mode: when a `ref` was given, a
local branch named after it (`refs/heads/`/`refs/tags/` stripped; `v0.2` → branch
`v0.2`) is created at the recorded commit, so the agent commits on a branch; when only
a commit id was given (or the ref is not a valid branch name), HEAD is detached at it.
`origin` is set to the credential-free mirror URL. No upstream is configured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git

from bundles.fetch import FetchRequest, fetch_into
from bundles.gitops import FETCH_TIMEOUT_SECONDS, run_git, sanitized
from bundles.mirror import MirrorTarget, url_secrets
from bundles.paths import clean_relative, is_within, path_error
from contract.failures import BundleError, FailureKind

__all__ = ["SubjectCheckout", "checkout_subject", "subject_dir"]


@dataclass(frozen=True)
class SubjectCheckout:
    """The materialized subject repository.

    Attributes:
        path: its directory (absolute, resolved); the backend's cwd.
        commit_id: the checked-out commit (40 hex).
        branch: the local branch HEAD is on, or None when detached.
        file_count: files tracked at that commit (`git ls-files`).
        skill_dirs: workspace-relative paths of the repo's own `.agents/skills/*`
            directories (empty when it has none).
    """

    path: Path
    commit_id: str
    branch: str | None
    file_count: int
    skill_dirs: list[str]


def subject_dir(workspace_root: Path, path: str) -> Path:
    """The absolute subject directory for `workspace.path`.

    Raises:
        BundleError: `bundle-path-invalid` for an absolute path, `..`, the workspace root
            itself, or a location resolving outside the workspace.
    """
    rel = clean_relative(path, what="workspace.path")
    dest = workspace_root / rel
    ancestor = dest
    while not ancestor.exists() and ancestor != workspace_root:
        ancestor = ancestor.parent
    real = ancestor.resolve() / dest.relative_to(ancestor)
    if not is_within(real, workspace_root) or real == workspace_root:
        raise path_error("workspace.path resolves outside the workspace", path=path)
    return real


def _branch_name(repo_path: Path, ref: str | None) -> str | None:
    if ref is None:
        return None
    name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    if name == "HEAD":
        return None
    try:
        run_git(repo_path, ["check-ref-format", "--branch", name])
    except git.GitCommandError:
        return None
    return name


def checkout_subject(
    dest: Path, target: MirrorTarget, request: FetchRequest, *, workspace_root: Path
) -> SubjectCheckout:
    """Fetch and check out the subject repository at `dest`. Blocking.

    Args:
        dest: from `subject_dir`; must not exist or be an empty directory.
        target: where to fetch from.
        request: the ref or commit.
        workspace_root: `AGENTRUN_WORKSPACE`, resolved (for workspace-relative paths).

    Returns:
        The checkout and its facts.

    Raises:
        BundleError: `bundle-path-invalid` when `dest` is not empty; the fetch kinds of
            `bundles.fetch.fetch_into`; `bundle-fetch-failed` when the checkout fails.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise path_error("workspace.path already exists and is not empty", path=str(dest))
    dest.mkdir(parents=True, exist_ok=True)
    secrets = url_secrets(target.fetch_url)
    run_git(dest, ["init", "--quiet", "."])
    commit_id = fetch_into(dest, target, request)
    branch = None if request.by_commit and request.ref is None else _branch_name(dest, request.ref)
    try:
        if branch is not None:
            run_git(
                dest,
                ["checkout", "--quiet", "-B", branch, commit_id],
                timeout_seconds=FETCH_TIMEOUT_SECONDS,
            )
        else:
            run_git(
                dest,
                ["checkout", "--quiet", "--detach", commit_id],
                timeout_seconds=FETCH_TIMEOUT_SECONDS,
            )
        for ref in run_git(dest, ["for-each-ref", "--format=%(refname)", "refs/agentrun/"]).split():
            run_git(dest, ["update-ref", "-d", ref])
        run_git(dest, ["remote", "add", "origin", target.display_url])
        files = run_git(dest, ["ls-files", "-z"])
    except git.GitCommandError as exc:
        raise BundleError(
            FailureKind.BUNDLE_FETCH_FAILED,
            f"checking out {commit_id} of {target.display_url} failed",
            detail={"fetchRepoUrl": target.display_url},
        ) from sanitized(exc, *secrets)
    file_count = len([f for f in files.split("\0") if f])
    return SubjectCheckout(
        path=dest,
        commit_id=commit_id,
        branch=branch,
        file_count=file_count,
        skill_dirs=own_skill_dirs(dest, workspace_root),
    )


def own_skill_dirs(repo_dir: Path, workspace_root: Path) -> list[str]:
    """Workspace-relative `.agents/skills/*` directories a directory contains, sorted."""
    skills = repo_dir / ".agents" / "skills"
    if skills.is_symlink() or not skills.is_dir():
        return []
    found = []
    for entry in sorted(os.scandir(skills), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            found.append(PurePosixPath(Path(entry.path).relative_to(workspace_root)).as_posix())
    return found
