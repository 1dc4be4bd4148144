"""The `data` of the `resource-bundle-materialized` and `workspace.materialized` events.

Contract §9 fields, exactly: `name, repoUrl, fetchRepoUrl, mirrorUsed, mirrorBaseUrl,
requestedRef, requestedCommit, commitId, bundles[{source,target,fileCount}], tools[],
promptRefs[], skillDirs[], durationMs`, plus `path` for the workspace. URLs come from
`MirrorTarget`'s display forms, so they never carry credentials. Every path is POSIX and
relative to `AGENTRUN_WORKSPACE`.

Meanings chosen here (the contract names the fields only):

- `mirrorUsed` is always true: every fetch goes through the mirror (there is no direct
  path to fall back to); `fetchRepoUrl` shows which mirror URL was fetched.
- `skillDirs`: the directories `.agents/skills/<name>` (workspace-relative) this bundle
  materialized something into. For the workspace: the subject repository's *own*
  `.agents/skills/*` directories (`subject/.agents/skills/x`); empty means it has none.
- `tools`: the executable files (git mode 100755) this bundle wrote outside
  `.agents/skills/`, workspace-relative, sorted. Always empty for the workspace.
- `promptRefs`: the bundle's `promptRefs` paths as given (repo-relative).
- `bundles` of the workspace: one entry `{source: ".", target: path, fileCount}` with
  the number of files tracked at the checked-out commit.
- `name` of the workspace: `"workspace"`.
- `durationMs`: wall time of fetch (or cache hit), planning and writing, milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from bundles.materialize import MappingResult
from bundles.mirror import MirrorTarget
from bundles.workspace import SubjectCheckout
from contract.job_spec import ResourceBundleSpec, WorkspaceSpec

__all__ = [
    "BUNDLE_EVENT",
    "WORKSPACE_EVENT",
    "WORKSPACE_NAME",
    "bundle_event_data",
    "skill_dirs_of",
    "tools_of",
    "workspace_event_data",
]

BUNDLE_EVENT = "resource-bundle-materialized"
WORKSPACE_EVENT = "workspace.materialized"
WORKSPACE_NAME = "workspace"
_SKILLS = (".agents", "skills")


def skill_dirs_of(results: Sequence[MappingResult]) -> list[str]:
    """The `.agents/skills/<name>` directories the written entries fall in, sorted."""
    found: set[str] = set()
    for result in results:
        for path, kind in result.written:
            parts = path.parts
            if parts[:2] != _SKILLS or len(parts) < 3:
                continue
            if len(parts) > 3 or kind == "dir":
                found.add(PurePosixPath(*parts[:3]).as_posix())
    return sorted(found)


def tools_of(results: Sequence[MappingResult]) -> list[str]:
    """The executable files written outside `.agents/skills/`, sorted."""
    return sorted(
        path.as_posix()
        for result in results
        for path, kind in result.written
        if kind == "exec" and path.parts[:2] != _SKILLS
    )


def _common(
    name: str,
    target: MirrorTarget,
    requested_ref: str | None,
    requested_commit: str | None,
    commit_id: str,
) -> dict[str, Any]:
    return {
        "name": name,
        "repoUrl": target.repo_url,
        "fetchRepoUrl": target.display_url,
        "mirrorUsed": True,
        "mirrorBaseUrl": target.mirror_base_url,
        "requestedRef": requested_ref,
        "requestedCommit": requested_commit,
        "commitId": commit_id,
    }


def bundle_event_data(
    spec: ResourceBundleSpec,
    target: MirrorTarget,
    commit_id: str,
    results: Sequence[MappingResult],
    *,
    duration_ms: int,
) -> dict[str, Any]:
    """`resource-bundle-materialized` data for one bundle (contract §9).

    Args:
        spec: the bundle as the job gave it (`requestedRef`/`requestedCommit` as given).
        target: its mirror target (display URLs only are used).
        commit_id: the recorded commit.
        results: what each mapping wrote.
        duration_ms: milliseconds spent on this bundle.
    """
    return {
        **_common(spec.name, target, spec.ref, spec.commit_id, commit_id),
        "bundles": [
            {"source": r.source, "target": r.target, "fileCount": r.file_count} for r in results
        ],
        "tools": tools_of(results),
        "promptRefs": list(spec.prompt_refs),
        "skillDirs": skill_dirs_of(results),
        "durationMs": duration_ms,
    }


def workspace_event_data(
    spec: WorkspaceSpec, target: MirrorTarget, checkout: SubjectCheckout, *, duration_ms: int
) -> dict[str, Any]:
    """`workspace.materialized` data (contract §9): bundle provenance plus `path`.

    Args:
        spec: the job's workspace (`path` is reported as given).
        target: its mirror target.
        checkout: the materialized subject repository.
        duration_ms: milliseconds spent fetching and checking out.
    """
    return {
        **_common(WORKSPACE_NAME, target, spec.ref, spec.commit_id, checkout.commit_id),
        "bundles": [{"source": ".", "target": spec.path, "fileCount": checkout.file_count}],
        "tools": [],
        "promptRefs": [],
        "skillDirs": list(checkout.skill_dirs),
        "durationMs": duration_ms,
        "path": spec.path,
    }
