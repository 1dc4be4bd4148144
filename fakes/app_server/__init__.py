"""A fake `codex app-server` (Codex 0.169 stdio JSON-RPC) driven by scenario files.

It plays what the real server does for what the runner uses (handshake, thread start and
resume with rollout files, turns, steer, interrupt, server requests) and what the real
one cannot be made to do on demand (malformed lines, a 5 MB line, a crash mid-turn, a
request it never answers, a 100 000-delta flood, stderr noise). Typical use:

    AGENTRUN_CODEX_BIN=fakes/app_server/bin/codex
    FAKE_CODEX_SCENARIO=fakes/app_server/scenarios/plain-answer.json   # or
    cp …/plain-answer.json $CODEX_HOME/fake-codex-scenario.json

Modules: `scenario` (the JSON format), `wire` (stdio lines), `errors` and `params`
(Codex's error texts and param checks), `shapes` (wire objects), `rollout` (persistence),
`server` (requests), `turn` (turn lifecycle), `steps` (what a turn does), `driver` (a raw
stdio client for tests), `__main__` (`python -m fakes.app_server`).
"""

from pathlib import Path

from fakes.app_server.scenario import (
    DEFAULT_SCENARIO,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)

PACKAGE_DIR = Path(__file__).resolve().parent
SCENARIOS_DIR = PACKAGE_DIR / "scenarios"
"""The example scenarios shipped with the package (`plain-answer.json`, …)."""
LAUNCHER = PACKAGE_DIR / "bin" / "codex"
"""An executable that behaves like the Codex binary (`app-server`, `--version`)."""
SCENARIO_ENV = "FAKE_CODEX_SCENARIO"
"""Environment variable naming the scenario file (wins over the CODEX_HOME file)."""
SCENARIO_FILE_NAME = "fake-codex-scenario.json"
"""Scenario file looked up in `CODEX_HOME` when `FAKE_CODEX_SCENARIO` is not set."""
RECORD_FILE_NAME = "fake-codex-record.jsonl"
"""Default record file in `CODEX_HOME`: client messages and server-request answers."""

__all__ = [
    "DEFAULT_SCENARIO",
    "LAUNCHER",
    "RECORD_FILE_NAME",
    "SCENARIOS_DIR",
    "SCENARIO_ENV",
    "SCENARIO_FILE_NAME",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]
