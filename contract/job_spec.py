"""The job's `workspace` and `resourceBundles[]` entries, as contract §2 shows them.

Pydantic v2 models with camelCase aliases (`repoUrl`, `commitId`, `promptRefs`) that also
accept the snake_case names (`populate_by_name`). Unknown fields are ignored, as for
every manager response. Only shapes are checked here; URLs are checked by
`bundles.mirror` and paths by `bundles.paths`, which raise the contract's failure kinds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["BundleMapping", "ResourceBundleSpec", "WorkspaceSpec"]


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class WorkspaceSpec(_Spec):
    """The job's subject repository (`job.workspace`, contract §2).

    Attributes:
        repo_url: `repoUrl`, a GitHub URL (or a URL already under the mirror base).
        ref: branch or tag to fetch when `commit_id` is null.
        commit_id: 40-hex commit to fetch; wins over `ref` when given.
        path: where it goes, relative to `AGENTRUN_WORKSPACE` (e.g. `subject`).
    """

    repo_url: str
    ref: str | None = None
    commit_id: str | None = None
    path: str


class BundleMapping(_Spec):
    """One `bundles[]` entry: copy `source` (file or dir, repo-relative) to `target`.

    Attributes:
        source: path inside the bundle repository at the fetched commit.
        target: path relative to `AGENTRUN_WORKSPACE`.
    """

    source: str
    target: str


class ResourceBundleSpec(_Spec):
    """One `job.resourceBundles[]` entry of kind `gitbundle` (contract §2).

    Attributes:
        kind: always `gitbundle`.
        name: the bundle's name, reported in provenance and prompt headers.
        repo_url: `repoUrl` of the bundle repository.
        ref: branch or tag to fetch when `commit_id` is null.
        commit_id: 40-hex commit to fetch; wins over `ref` when given.
        bundles: what to copy into the workspace.
        prompt_refs: `promptRefs`, repo-relative files put in front of the command input.
    """

    kind: Literal["gitbundle"] = "gitbundle"
    name: str
    repo_url: str
    ref: str | None = None
    commit_id: str | None = None
    bundles: list[BundleMapping] = Field(default_factory=list)
    prompt_refs: list[str] = Field(default_factory=list)
