"""agentrun-runner: the in-Job runner of AgentRun (contract `manager-runner-api.md` v1)."""

RUNNER_VERSION = "0.1.0"
