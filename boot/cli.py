"""The `agentrun-boot` console script.

`agentrun-boot` (or `agentrun-boot run`) boots the runner (`boot.flow.boot`) and never
returns on success. `agentrun-boot env-identity [--json] [--root DIR]` prints the env
identity of a project tree. A boot failure prints exactly one JSON line on stderr and
exits 1; nothing else is printed on stderr by boot itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from boot.env_identity import EnvIdentityError, describe_env_identity
from boot.errors import BootFailure

BOOT_FAILED_EXIT = 1
"""Exit status of a failed boot (argparse usage errors exit 2)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentrun-boot",
        description=(
            "Fetch AGENTRUN_BOOT_COMMIT of AGENTRUN_SOURCE_REPO_URL through "
            "AGENTRUN_GIT_MIRROR_URL and exec the runner from that checkout. "
            "With no command, `run` is meant."
        ),
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="boot the runner (the default)")
    identity = commands.add_parser(
        "env-identity", help="print the env identity (digest of the env image's inputs)"
    )
    identity.add_argument("--json", action="store_true", help="print the inputs too, as JSON")
    identity.add_argument(
        "--root", type=Path, default=Path.cwd(), help="project root (default: cwd)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script.

    Args:
        argv: the arguments after the program name; default `sys.argv[1:]`.

    Returns:
        The exit status (a successful boot does not return: it execs the runner).
    """
    args = _parser().parse_args(argv)
    if args.command == "env-identity":
        return _env_identity(args.root, as_json=args.json)
    return _boot()


def _env_identity(root: Path, *, as_json: bool) -> int:
    try:
        described = describe_env_identity(root)
    except EnvIdentityError as exc:
        print(f"agentrun-boot env-identity: {exc}", file=sys.stderr)
        return BOOT_FAILED_EXIT
    if as_json:
        print(json.dumps(described.as_json(), indent=2))
    else:
        print(described.identity)
    return 0


def _boot() -> int:
    from boot.flow import boot

    try:
        boot(os.environ)
    except BootFailure as failure:
        print(failure.json_line(), file=sys.stderr, flush=True)
    except Exception as exc:  # a bug in boot: still one line, still no secrets
        crash = BootFailure("runner-internal-error", f"boot crashed: {type(exc).__name__}")
        print(crash.json_line(), file=sys.stderr, flush=True)
    return BOOT_FAILED_EXIT
