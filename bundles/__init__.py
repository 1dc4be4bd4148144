"""Resource bundles and the subject repository, materialized through the git mirror.

The runner calls `materialize_job(...)` once per attempt; the job model imports
`WorkspaceSpec`, `ResourceBundleSpec` and `BundleMapping`. Modules, one job each:
`spec` (job models), `mirror` (URL rewriting, credential stripping), `gitops` (git
environment, timeouts, error translation), `fetch` (per-attempt object stores),
`paths` (path rules), `materialize` (copy sources to targets), `workspace` (subject
checkout), `prompts` (prompt refs), `provenance` (§9 event data), `job` (the entry point).
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
