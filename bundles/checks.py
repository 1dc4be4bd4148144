"""The I/O-free checks of a job's `workspace` and `resourceBundles` (contract §2, §10).

Run before the backend is spawned, so a job whose repositories or paths are wrong
starts no backend (§2: the whole job is validated first), and again by
`bundles.job.materialize_job` itself. Imports no git (issue 14: it is on the start path).
"""

from __future__ import annotations

from collections.abc import Sequence

from bundles.mirror import MirrorTarget, resolve_fetch_url
from bundles.paths import clean_relative
from bundles.requests import fetch_request
from contract.failures import JobSpecError
from contract.job_spec import ResourceBundleSpec, WorkspaceSpec


def check_resources(
    workspace: WorkspaceSpec | None,
    bundles: Sequence[ResourceBundleSpec],
    mirror_base_url: str | None,
) -> tuple[MirrorTarget | None, list[MirrorTarget]]:
    """Check everything that needs no I/O; return the mirror targets (workspace, bundles).

    Raises:
        JobSpecError: `job-spec-invalid`: the mirror URL is missing while something must
            be fetched, a `repoUrl` is neither GitHub nor under the mirror, a bad ref or
            commit id.
        BundleError: `bundle-path-invalid`: a path that is absolute or escapes its root.
    """
    if workspace is None and not bundles:
        return None, []
    if not mirror_base_url:
        raise JobSpecError(
            "AGENTRUN_GIT_MIRROR_URL is required when the job has a workspace or bundles"
        )
    workspace_target = None
    if workspace is not None:
        workspace_target = resolve_fetch_url(workspace.repo_url, mirror_base_url)
        fetch_request(workspace.ref, workspace.commit_id)
        clean_relative(workspace.path, what="workspace.path")
    targets = []
    for bundle in bundles:
        targets.append(resolve_fetch_url(bundle.repo_url, mirror_base_url))
        fetch_request(bundle.ref, bundle.commit_id)
        for mapping in bundle.bundles:
            clean_relative(mapping.source, what="source", allow_root=True)
            clean_relative(mapping.target, what="target")
        for ref in bundle.prompt_refs:
            clean_relative(ref, what="promptRef")
    return workspace_target, targets
