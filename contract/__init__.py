"""The shared vocabulary of agentrun-runner: what every other package may import.

Owns the words the runner, the Codex adapter and the bundles speak with each other and
with the manager: the failure taxonomy and the one error root (`failures`, contract
`manager-runner-api.md` §10), the manager API wire models (`manager_api`) and the job's
`workspace` and `resourceBundles[]` models (`job_spec`, §2). It imports no project
package (only the standard library and pydantic), so any package can depend on it and
it depends on none; `tests/test_architecture.py` enforces that.
"""
