"""`python -m fakes.app_server [--scenario FILE] [app-server | --version]`.

Accepts the command lines the runner uses for the real binary: `<bin> app-server`,
`<bin> --version` (prints `codex-cli 0.169.0-fake`) and the sandbox preflight
`<bin> sandbox -P PROFILE -C DIR -- CMD…` (`fakes.app_server.sandbox`). The scenario is
the first of:
`--scenario FILE`, the `FAKE_CODEX_SCENARIO` environment variable (a file path),
`$CODEX_HOME/fake-codex-scenario.json`, the built-in one-answer default. Like Codex 0.169
(codex-app-server.md §8), a `CODEX_HOME` that does not exist makes the process exit 1
before answering anything. Exit codes: 0 on stdin EOF, 2 for an invalid scenario, or
what a scenario's crash says.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import anyio

from fakes.app_server.sandbox import run_sandbox
from fakes.app_server.scenario import DEFAULT_SCENARIO, Scenario, ScenarioError, load_scenario
from fakes.app_server.server import Connection, stderr_banner
from fakes.app_server.shapes import CLI_VERSION
from fakes.app_server.wire import open_wire, read_lines

VERSION_TEXT = f"codex-cli {CLI_VERSION}-fake"
SCENARIO_ENV = "FAKE_CODEX_SCENARIO"
SCENARIO_FILE_NAME = "fake-codex-scenario.json"
RECORD_FILE_NAME = "fake-codex-record.jsonl"


def codex_home_from_env() -> Path:
    """`CODEX_HOME`, or `~/.codex` as the real CLI defaults."""
    value = os.environ.get("CODEX_HOME")
    return Path(value) if value else Path.home() / ".codex"


def find_scenario(explicit: Path | None, codex_home: Path) -> tuple[Scenario, str]:
    """The scenario to play and where it came from (see the module doc for the order).

    Raises:
        ScenarioError: the chosen file is unreadable or invalid.
    """
    if explicit is not None:
        return load_scenario(explicit), str(explicit)
    from_env = os.environ.get(SCENARIO_ENV)
    if from_env:
        return load_scenario(Path(from_env)), from_env
    beside = codex_home / SCENARIO_FILE_NAME
    if beside.is_file():
        return load_scenario(beside), str(beside)
    return DEFAULT_SCENARIO, "<default>"


async def serve(scenario: Scenario, codex_home: Path) -> int:
    """Serve one client on stdin/stdout until stdin closes; returns the exit code."""
    record = Path(scenario.record_file) if scenario.record_file else codex_home / RECORD_FILE_NAME
    async with open_wire() as wire, anyio.create_task_group() as tg:
        connection = Connection(wire, scenario, codex_home, record, tg)
        async for line in read_lines(0):
            await connection.handle_line(line)
        # §11: stdin EOF ends the process at once, without finishing running turns.
        tg.cancel_scope.cancel()
    return 0


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.app_server",
        description="A scripted fake of `codex app-server` (stdio JSON-RPC, Codex 0.169).",
    )
    parser.add_argument("--scenario", type=Path, help="scenario JSON file")
    parser.add_argument("--version", "-V", action="store_true", help="print the version")
    parser.add_argument(
        "command", nargs="?", default="app-server", help="`app-server` or `sandbox`"
    )
    args, _unknown = parser.parse_known_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the fake; returns the process exit code."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        print(VERSION_TEXT)
        return 0
    if args.command not in ("app-server", "sandbox"):
        print(f"fake codex: unsupported command {args.command!r}", file=sys.stderr)
        return 2
    codex_home = codex_home_from_env()
    if "CODEX_HOME" in os.environ and not codex_home.exists():
        print(
            f'Error: CODEX_HOME points to "{codex_home}", but that path does not exist',
            file=sys.stderr,
        )
        return 1
    try:
        scenario, source = find_scenario(args.scenario, codex_home)
    except ScenarioError as exc:
        print(f"fake codex: {exc}", file=sys.stderr)
        return 2
    if args.command == "sandbox":
        raw = sys.argv[1:] if argv is None else argv
        return run_sandbox(raw[raw.index("sandbox") + 1 :], scenario)
    stderr_banner([f"INFO fake codex app-server: scenario {source}", *scenario.stderr_at_startup])
    return anyio.run(serve, scenario, codex_home)


if __name__ == "__main__":
    sys.exit(main())
