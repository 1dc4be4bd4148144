"""Push the result commit to the mirror's write side (contract §1, §12).

`git push --porcelain <write URL> <commit>:refs/agentrun/runs/{runId}/{attemptId}`:
no `+`, so never a force push, and the ref is always under `refs/agentrun/runs/`, never
a branch. The runner token reaches git as `http.extraHeader` through git's environment
config (`GIT_CONFIG_COUNT`), never in argv, a URL or a log; git's messages are stripped
of it. A push that finds the ref already at the same commit (a runner restarted in the
same pod pushing again) is a success. Transient failures (HTTP 5xx/429, connection
errors, timeouts) are retried with back-off (`runner.manager.retry`, tenacity);
everything else (401/403/404, a rejected ref update) fails at once.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from pathlib import Path

import anyio.to_thread
import git

from bundles.gitops import FETCH_TIMEOUT_SECONDS, git_message, run_git, sanitized
from bundles.mirror import MirrorTarget, url_secrets
from contract.failures import WorkspaceError
from runner.manager.retry import RetryPolicy, call_with_retries

__all__ = ["PUSH_RETRY", "push_once", "push_result", "result_ref"]

log = logging.getLogger(__name__)

PUSH_RETRY = RetryPolicy(attempts=6, deadline_seconds=120.0, initial_seconds=0.5, max_seconds=8.0)
"""Bounds of the push retries: 6 tries, back-off 0.5 s doubling to 8 s, 2 min in all."""

_TRANSIENT = (
    re.compile(r"returned error: (5\d\d|429)"),
    re.compile(r"Could not resolve host|Failed to connect|Connection refused|Connection reset"),
    re.compile(r"timed out|Operation too slow|early EOF|RPC failed|unexpected disconnect"),
    re.compile(r"the remote end hung up unexpectedly"),
)


def result_ref(run_id: str, attempt_id: str) -> str:
    """`refs/agentrun/runs/{runId}/{attemptId}` (§12)."""
    return f"refs/agentrun/runs/{run_id}/{attempt_id}"


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, WorkspaceError) and exc.transient


def push_once(git_dir: str, target: MirrorTarget, token: str, commit: str, ref: str) -> None:
    """One push. Blocking.

    Raises:
        WorkspaceError: `transient` for what §8 calls transient, else permanent; the
            message is git's (token and URL credentials removed).
    """
    header = {"http.extraHeader": f"Authorization: Bearer {token}"} if token else {}
    secrets = [s for s in (token, *url_secrets(target.fetch_url)) if s]
    try:
        run_git(
            Path(git_dir),
            ["push", "--porcelain", "--no-verify", target.display_url, f"{commit}:{ref}"],
            timeout_seconds=FETCH_TIMEOUT_SECONDS,
            secret_config={**header, **target.url_rewrite()},
            extra_env={"GIT_DIR": git_dir},
        )
    except git.GitCommandError as exc:
        message = git_message(exc, *secrets)
        stdout = exc.stdout if isinstance(exc.stdout, str) else ""
        rejected = [line for line in stdout.splitlines() if line.startswith("!")]
        transient = not rejected and any(p.search(message) for p in _TRANSIENT)
        reason = rejected[0].split("\t")[-1] if rejected else message
        raise WorkspaceError(
            f"pushing {ref} to {target.display_url} failed: {reason}",
            transient=transient,
            detail={"resultRef": ref, "pushRepoUrl": target.display_url},
        ) from sanitized(exc, *secrets)


async def push_result(git_dir: str, target: MirrorTarget, token: str, commit: str, ref: str) -> int:
    """Push `commit` as `ref`, retrying transient failures within `PUSH_RETRY`.

    Returns:
        The number of tries it took.

    Raises:
        WorkspaceError: `workspace-publish-failed` once every try failed or one failed
            for good; `detail.tries` says how many were made.
    """
    tries = 0

    async def once() -> None:
        nonlocal tries
        tries += 1
        try:
            await anyio.to_thread.run_sync(partial(push_once, git_dir, target, token, commit, ref))
        except WorkspaceError as exc:
            log.warning("push of %s failed (try %d): %s", ref, tries, exc.message)
            raise

    try:
        await call_with_retries(PUSH_RETRY, once, transient=_is_transient)
    except WorkspaceError as exc:
        exc.detail["tries"] = tries
        raise
    return tries
