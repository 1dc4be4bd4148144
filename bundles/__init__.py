"""Resource bundles and the subject repository, materialized through the git mirror.

The runner calls `materialize_job(...)` once per attempt. The job's `WorkspaceSpec`,
`ResourceBundleSpec` and `BundleMapping` live in the ground (`contract.job_spec`, shared
with the manager API models) and are re-exported here. This package imports only the
ground and libraries, never `runner`. Modules, one job each: `mirror` (URL rewriting,
credential stripping), `gitops` (git environment, timeouts, error translation), `fetch`
(per-attempt object stores), `paths` (path rules), `materialize` (copy sources to
targets), `workspace` (subject checkout), `prompts` (prompt refs), `provenance` (§9
event data), `requests` and `checks` (the I/O-free checks of a job's repositories),
`job` (the entry point).

`materialize_job` and `Materialized` are imported on first use (PEP 562), so the checks
can run without importing GitPython (issue 14: they are on the start path).
"""

from typing import TYPE_CHECKING, Any

from contract.job_spec import BundleMapping, ResourceBundleSpec, WorkspaceSpec

if TYPE_CHECKING:
    from bundles.job import Materialized, materialize_job


def __getattr__(name: str) -> Any:
    if name in ("Materialized", "materialize_job"):
        from bundles import job

        return getattr(job, name)
    raise AttributeError(f"module 'bundles' has no attribute {name!r}")


__all__ = [
    "BundleMapping",
    "Materialized",
    "ResourceBundleSpec",
    "WorkspaceSpec",
    "materialize_job",
]
