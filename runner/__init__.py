"""agentrun-runner: the in-Job runner of AgentRun (contract `manager-runner-api.md` v1).

At the top: `attempt` (one attempt from claim to verdict), `env` (the contract §1
environment), `recovery` (finishing an attempt a dead process of the same pod left),
`cli` and `__main__` (`agentrun-runner run`, `python -m runner run`). The rooms, each
owning one mechanism: `manager` (everything said to the manager), `turn` (one turn on
Codex), `eventlog` (the event log and its spool), `safety` (masking, process hygiene).
Arrows run down that list of rooms, never up (`tests/test_architecture.py`); the runner
may import `adapters`, `bundles`, `boot`, `contract` and `concurrency`, never `fakes`.
"""

RUNNER_VERSION = "0.1.0"
