"""agentrun-runner: the in-Job runner of AgentRun (contract `manager-runner-api.md` v1).

At the top: `attempt` (one attempt from claim to verdict), `env` (the contract §1
environment), `recovery` (finishing an attempt a dead process of the same pod left),
`cli` and `__main__` (`agentrun-runner run`, `python -m runner run`). The rooms, each
owning one mechanism: `manager` (everything said to the manager), `turn` (one turn on
Codex), `eventlog` (the event log and its spool), `safety` (masking, process hygiene).
Arrows run down that list of rooms, never up (`tests/test_architecture.py`); the runner
may import `adapters`, `bundles`, `boot`, `contract` and `concurrency`, never `fakes`.
"""

import sys as _sys

RUNNER_VERSION = "0.1.0"

if "httpx" not in _sys.modules:
    # httpx's `__init__` imports its command-line tool (`httpx._main`: click, pygments,
    # rich) whenever those happen to be installed, as they are beside the fakes. The
    # runner never uses it; it cost ~10 MiB of RSS and ~0.1 s of every start (issue 14,
    # docs/benchmarks.md). A None entry makes that optional import fail at once, and
    # httpx falls back to its stub `main`.
    _sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
