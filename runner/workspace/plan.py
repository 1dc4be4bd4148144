"""What the workspace result step needs from the attempt, and what it gives back (§12).

Small pure helpers around `runner.workspace.result`: the `ResultPlan` of an attempt
(read and write targets of the subject, token, scratch directory), the subject of a
recovered attempt (from its spooled `workspace.materialized` event), the §7 field of a
spooled `workspace.changed` event.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bundles.fetch import FetchRequest, fetch_into
from bundles.mirror import MirrorTarget, resolve_fetch_url, write_target
from bundles.workspace import subject_dir
from contract.failures import RunnerError, WorkspaceError
from contract.manager_api import TerminalWorkspace
from runner.env import RunnerEnv
from runner.eventlog.spool import Recovered
from runner.workspace.result import ResultPlan

__all__ = [
    "recovered_subject",
    "refetch_for",
    "result_plan",
    "terminal_workspace_of",
]


def result_plan(
    repo_url: str, subject: tuple[Path, str], env: RunnerEnv, scratch: Path
) -> ResultPlan:
    """The plan of one attempt's result.

    Args:
        repo_url: `workspace.repoUrl` of the job.
        subject: (work tree, base commit).
        env: the runner's §1 environment (mirror URLs, token file).
        scratch: the spool's workspace directory.

    Raises:
        RunnerError: the mirror URLs are unusable (`job-spec-invalid`) or the token
            file cannot be read (`secret-missing`).
    """
    if env.git_mirror_url is None:
        raise WorkspaceError("AGENTRUN_GIT_MIRROR_URL is not set; no result can be captured")
    read = resolve_fetch_url(repo_url, env.git_mirror_url)
    write: MirrorTarget | None = None
    if env.git_mirror_write_url:
        write = write_target(read, env.git_mirror_write_url)
    return ResultPlan(
        subject=subject[0],
        base_commit=subject[1],
        read_target=read,
        write_target=write,
        token=env.read_token() if write is not None else "",
        scratch=scratch,
    )


def refetch_for(plan: ResultPlan) -> Callable[[Path], None]:
    """Fetches the plan's base commit by id into a git dir (the agent deleted `.git`)."""

    def refetch(git_dir: Path) -> None:
        fetch_into(git_dir, plan.read_target, FetchRequest(ref=None, commit_id=plan.base_commit))

    return refetch


def recovered_subject(recovered: Recovered, workspace_root: Path) -> tuple[Path, str] | None:
    """(work tree, base commit) from a spooled `workspace.materialized`, if there is one."""
    events = recovered.of_type("workspace.materialized")
    if not events:
        return None
    data = events[-1].data
    path, commit = data.get("path"), data.get("commitId")
    if not isinstance(path, str) or not isinstance(commit, str):
        return None
    try:
        return subject_dir(workspace_root.resolve(), path), commit
    except RunnerError:
        return None


def terminal_workspace_of(data: dict[str, Any]) -> TerminalWorkspace:
    """The §7 `workspace` field that a spooled `workspace.changed` event stands for."""
    patch = data.get("patch") or {}
    return TerminalWorkspace(
        base_commit=str(data.get("baseCommit")),
        result_commit=str(data.get("resultCommit")),
        changed=bool(data.get("changed")),
        result_ref=data.get("resultRef") if data.get("pushed") else None,
        patch_sha256=patch.get("sha256") if patch.get("uploaded") else None,
    )
