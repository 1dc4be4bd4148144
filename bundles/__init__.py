"""Resource bundles and the subject repository, materialized through the git mirror.

The runner calls `materialize_job(...)` once per attempt. The job's `WorkspaceSpec`,
`ResourceBundleSpec` and `BundleMapping` live in the ground (`contract.job_spec`, shared
with the manager API models) and are re-exported here. This package imports only the
ground and libraries, never `runner`. Modules, one job each: `mirror` (URL rewriting,
credential stripping), `gitops` (git environment, timeouts, error translation), `fetch`
(per-attempt object stores), `paths` (path rules), `materialize` (copy sources to
targets), `workspace` (subject checkout), `prompts` (prompt refs), `provenance` (§9
event data), `job` (the entry point).
"""

from bundles.job import Materialized, materialize_job
from contract.job_spec import BundleMapping, ResourceBundleSpec, WorkspaceSpec

__all__ = [
    "BundleMapping",
    "Materialized",
    "ResourceBundleSpec",
    "WorkspaceSpec",
    "materialize_job",
]
