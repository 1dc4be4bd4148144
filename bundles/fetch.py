"""Shallow fetches through the mirror into one object store per repository per attempt.

`ObjectStore` keeps a bare repository per mirror repository under
`{scratch_dir}/objects/{OWNER}/{REPO}.git` and remembers what it resolved: the first
request for a ref or commit of a repository fetches it (`git fetch --depth=1 --no-tags`),
every later request for the same ref, the same commit, or a commit whose objects are
already in the store is answered without touching the network. So several bundles from
one repository cost one fetch. A commit id wins over a ref when both are given; with
neither, the repository's default branch (`HEAD`) is fetched. Fetched commits are kept
alive by local refs under `refs/agentrun/`.

`fetch_into` is the blocking fetch itself, shared with `bundles.workspace`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import git

from bundles.gitops import (
    FETCH_TIMEOUT_SECONDS,
    classify_fetch_error,
    run_git,
    sanitized,
)
from bundles.mirror import MirrorTarget, url_secrets
from bundles.requests import FetchRequest, fetch_request
from contract.failures import BundleError, FailureKind

__all__ = [
    "FetchRequest",
    "FetchedCommit",
    "ObjectStore",
    "fetch_into",
    "fetch_request",
    "has_commit",
]


@dataclass(frozen=True)
class FetchedCommit:
    """A commit available locally.

    Attributes:
        repo_path: the git directory (bare store) holding it.
        commit_id: the resolved 40-hex commit (a tag is peeled to its commit).
        fetched: False when the store already had it and no fetch was made.
    """

    repo_path: Path
    commit_id: str
    fetched: bool


def _local_ref(request: FetchRequest) -> str:
    digest = hashlib.sha256(request.wanted.encode()).hexdigest()[:16]
    return f"refs/agentrun/{'commits' if request.by_commit else 'refs'}/{digest}"


def has_commit(repo_path: Path, commit_id: str) -> bool:
    """Whether the repository at `repo_path` (or its alternates) has `commit_id`. Blocking."""
    try:
        run_git(repo_path, ["cat-file", "-e", f"{commit_id}^{{commit}}"])
    except git.GitCommandError:
        return False
    return True


def fetch_into(repo_path: Path, target: MirrorTarget, request: FetchRequest) -> str:
    """Fetch `request` from `target` into the repository at `repo_path`. Blocking.

    Runs `git fetch --depth=1 --no-tags --no-write-fetch-head URL +WANTED:refs/agentrun/…`
    (bounded by `FETCH_TIMEOUT_SECONDS`) and resolves the result to a commit.

    Args:
        repo_path: an initialized repository (bare store or working checkout).
        target: where to fetch from (`target.fetch_url` may carry credentials).
        request: the ref or commit.

    Returns:
        The fetched commit id (40 hex), tags peeled.

    Raises:
        BundleError: `bundle-mirror-miss`, `bundle-ref-not-found` (also when a commit id
            names no commit), `bundle-fetch-failed`; messages hold display URLs only.
    """
    local = _local_ref(request)
    secrets = url_secrets(target.fetch_url)
    args = ["fetch", "--depth=1", "--no-tags", "--no-write-fetch-head", "--quiet"]
    try:
        run_git(
            repo_path,
            [*args, target.display_url, f"+{request.wanted}:{local}"],
            timeout_seconds=FETCH_TIMEOUT_SECONDS,
            secret_config=target.url_rewrite(),
        )
    except git.GitCommandError as exc:
        error = classify_fetch_error(
            exc, what=request.wanted, display_url=target.display_url, secrets=secrets
        )
        raise error from sanitized(exc, *secrets)
    try:
        commit_id = run_git(repo_path, ["rev-parse", "--verify", f"{local}^{{commit}}"])
    except git.GitCommandError as exc:
        raise BundleError(
            FailureKind.BUNDLE_REF_NOT_FOUND,
            f"{request.wanted} in {target.display_url} is not a commit",
            detail={"fetchRepoUrl": target.display_url, "requested": request.wanted},
        ) from sanitized(exc, *secrets)
    if request.commit_id is not None and commit_id != request.commit_id:
        raise BundleError(
            FailureKind.BUNDLE_FETCH_FAILED,
            f"the mirror returned {commit_id} for commit {request.commit_id}",
            detail={"fetchRepoUrl": target.display_url, "requested": request.wanted},
        )
    return commit_id


class ObjectStore:
    """One bare object store per repository for one attempt, with a resolution cache.

    Args:
        scratch_dir: a writable directory outside the workspace; stores go to
            `{scratch_dir}/objects/{repo_key}.git`.

    Attributes:
        fetch_count: number of network fetches made (for tests and logs).
    """

    def __init__(self, scratch_dir: Path) -> None:
        self._root = scratch_dir / "objects"
        self._resolved: dict[tuple[str, str], str] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self.fetch_count = 0

    def _store_path(self, target: MirrorTarget) -> Path:
        safe = "/".join(part for part in target.repo_key.split("/") if part not in ("", ".."))
        return self._root / f"{safe}.git"

    async def fetch(self, target: MirrorTarget, request: FetchRequest) -> FetchedCommit:
        """The commit `request` names in `target`'s repository, fetching at most once.

        Args:
            target: the repository, from `bundles.mirror.resolve_fetch_url`.
            request: the ref or commit.

        Returns:
            The store and the resolved commit; `fetched` says whether the network was used.

        Raises:
            BundleError: as `fetch_into`.
        """
        lock = self._locks.setdefault(target.repo_key, anyio.Lock())
        async with lock:
            path = self._store_path(target)
            key = (target.repo_key, request.wanted)
            if key in self._resolved:
                return FetchedCommit(path, self._resolved[key], fetched=False)
            if not path.exists():
                await anyio.to_thread.run_sync(_init_bare, path)
            elif request.commit_id is not None and await anyio.to_thread.run_sync(
                has_commit, path, request.commit_id
            ):
                self._resolved[key] = request.commit_id
                return FetchedCommit(path, request.commit_id, fetched=False)
            commit_id = await anyio.to_thread.run_sync(fetch_into, path, target, request)
            self.fetch_count += 1
            self._resolved[key] = commit_id
            return FetchedCommit(path, commit_id, fetched=True)


def _init_bare(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, ["init", "--quiet", "--bare", "."])
