"""`materialize_job`: the one entry point the runner calls between claim and backend start.

Order: validate the whole spec without I/O (URLs, refs, paths; `job-spec-invalid` or
`bundle-path-invalid` before any network); check out the subject repository and emit
`workspace.materialized`; then, bundle by bundle in job order, fetch through the
per-attempt `ObjectStore` (one fetch per repository and ref/commit), copy the mappings,
read the prompt refs, and emit `resource-bundle-materialized`. Blocking git and file work
runs in worker threads. The first failure raises; events already emitted stay true.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio.to_thread

from bundles.checks import check_resources
from bundles.fetch import FetchedCommit, ObjectStore, fetch_request
from bundles.materialize import materialize_mappings
from bundles.mirror import MirrorTarget
from bundles.prompts import prompt_item, read_prompt_refs
from bundles.provenance import (
    BUNDLE_EVENT,
    WORKSPACE_EVENT,
    bundle_event_data,
    workspace_event_data,
)
from bundles.workspace import SubjectCheckout, checkout_subject, subject_dir
from concurrency.taskgroups import task_group
from contract.failures import RunnerError
from contract.job_spec import ResourceBundleSpec, WorkspaceSpec

__all__ = ["Emit", "Materialized", "materialize_job"]

logger = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
"""`emit(event_type, data)`: hands one provenance event to the runner's event stream."""


@dataclass(frozen=True)
class Materialized:
    """The outcome of `materialize_job`.

    Attributes:
        cwd: the backend's working directory: the subject repository, else the
            workspace root (absolute, resolved).
        prompt_items: `{"type": "text", "text": ...}` items of every prompt ref, bundle
            order then `promptRefs` order; the runner puts them before the command input.
        subject: the subject checkout, if the job has a workspace.
        bundle_commits: bundle name → recorded commit id.
    """

    cwd: Path
    prompt_items: list[dict[str, Any]] = field(default_factory=list)
    subject: SubjectCheckout | None = None
    bundle_commits: dict[str, str] = field(default_factory=dict)


def _elapsed_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


async def materialize_job(
    workspace: WorkspaceSpec | None,
    bundles: Sequence[ResourceBundleSpec],
    *,
    workspace_root: Path,
    mirror_base_url: str | None,
    scratch_dir: Path,
    emit: Callable[[str, dict[str, Any]], Awaitable[None]],
) -> Materialized:
    """Materialize the subject repository and the resource bundles of one attempt.

    The bundles' repositories are fetched while the subject is checked out; the bundles
    are then mapped into the workspace one by one, in spec order. Each bundle's
    `durationMs` counts from the start of the fetches.

    Args:
        workspace: the job's `workspace` (contract §2), or None.
        bundles: the job's `resourceBundles`, in order.
        workspace_root: `AGENTRUN_WORKSPACE` (created if missing); every write lands
            inside it.
        mirror_base_url: `AGENTRUN_GIT_MIRROR_URL` (§1); required when there is a
            workspace or any bundle.
        scratch_dir: writable per-attempt directory for the object stores
            (`{scratch_dir}/objects/OWNER/REPO.git`); best kept outside the workspace.
        emit: called once per provenance event: `("workspace.materialized", data)` first
            if there is a workspace, then `("resource-bundle-materialized", data)` per
            bundle (§9 fields; see `bundles.provenance`).

    Returns:
        The backend cwd and the prompt items.

    Raises:
        JobSpecError: `job-spec-invalid`: the mirror URL is missing while something must
            be fetched, a `repoUrl` is neither GitHub nor under the mirror, a bad ref or
            commit id.
        BundleError: `bundle-mirror-miss`, `bundle-ref-not-found`, `bundle-fetch-failed`,
            `bundle-path-invalid` (contract §10). When several fail, the subject's error
            is raised, else the first failed bundle's in spec order.
    """
    root = await anyio.to_thread.run_sync(workspace_root.resolve)
    if workspace is None and not bundles:
        return Materialized(cwd=root)
    workspace_target, targets = check_resources(workspace, bundles, mirror_base_url)
    await anyio.to_thread.run_sync(partial(root.mkdir, parents=True, exist_ok=True))
    result = Materialized(cwd=root)

    # The bundles' fetches run while the subject is checked out (issue 14); they are
    # mapped afterwards, in spec order, because a mapping may not land in the subject.
    # A subject failure wins; then the first failed bundle in spec order.
    store = ObjectStore(scratch_dir)
    started = time.monotonic()
    fetched: dict[int, FetchedCommit | RunnerError] = {}

    async def prefetch(index: int, bundle: ResourceBundleSpec, target: MirrorTarget) -> None:
        try:
            fetched[index] = await store.fetch(target, fetch_request(bundle.ref, bundle.commit_id))
        except RunnerError as exc:
            fetched[index] = exc

    async with task_group() as fetches:
        for index, (bundle, target) in enumerate(zip(bundles, targets, strict=True)):
            fetches.start_soon(prefetch, index, bundle, target)
        if workspace is not None and workspace_target is not None:
            result = await _checkout(workspace, workspace_target, root, emit)

    subject = result.subject.path if result.subject is not None else None
    for index, (bundle, target) in enumerate(zip(bundles, targets, strict=True)):
        commit = fetched[index]
        if isinstance(commit, RunnerError):
            raise commit
        logger.info(
            "materializing bundle %s from %s at %s (%s)",
            bundle.name,
            target.display_url,
            commit.commit_id,
            "fetched" if commit.fetched else "already in the object store",
        )
        mapped = await anyio.to_thread.run_sync(
            partial(
                materialize_mappings,
                commit.repo_path,
                commit.commit_id,
                bundle.bundles,
                workspace_root=root,
                subject=subject,
            )
        )
        refs = await anyio.to_thread.run_sync(
            read_prompt_refs,
            commit.repo_path,
            commit.commit_id,
            bundle.name,
            list(bundle.prompt_refs),
        )
        result.prompt_items.extend(prompt_item(ref) for ref in refs)
        result.bundle_commits[bundle.name] = commit.commit_id
        await emit(
            BUNDLE_EVENT,
            bundle_event_data(
                bundle, target, commit.commit_id, mapped, duration_ms=_elapsed_ms(started)
            ),
        )
    return result


async def _checkout(
    workspace: WorkspaceSpec,
    target: MirrorTarget,
    root: Path,
    emit: Callable[[str, dict[str, Any]], Awaitable[None]],
) -> Materialized:
    """Check the subject repository out under `root`; emit `workspace.materialized`."""
    start = time.monotonic()
    dest = await anyio.to_thread.run_sync(subject_dir, root, workspace.path)
    request = fetch_request(workspace.ref, workspace.commit_id)
    logger.info("materializing the workspace from %s at %s", target.display_url, request.wanted)
    checkout = await anyio.to_thread.run_sync(
        lambda: checkout_subject(dest, target, request, workspace_root=root)
    )
    await emit(
        WORKSPACE_EVENT,
        workspace_event_data(workspace, target, checkout, duration_ms=_elapsed_ms(start)),
    )
    return Materialized(cwd=checkout.path, subject=checkout)
