"""`python -m runner run` is the same as `agentrun-runner run` (contract §1)."""

from runner.cli import main

main()
