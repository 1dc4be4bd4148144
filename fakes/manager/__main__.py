"""`python -m fakes.manager`: serve a fake manager with one or more jobs until SIGINT/SIGTERM.

Prints the base URL as the first stdout line (then one line per runner job id), so
a demo script can read it and start a runner against it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

import anyio

from fakes.manager.artifacts import DEFAULT_MAX_ARTIFACT_BYTES
from fakes.manager.server import serve_fake_manager


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakes.manager", description=__doc__)
    parser.add_argument(
        "--job",
        action="append",
        required=True,
        type=Path,
        help="JSON file with one §2 job object (or a list of them); repeatable",
    )
    parser.add_argument("--token-file", required=True, type=Path, help="bearer token file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--lease-ttl-seconds", type=int, default=30)
    parser.add_argument("--heartbeat-interval-seconds", type=int, default=10)
    parser.add_argument(
        "--max-artifact-bytes",
        type=int,
        default=DEFAULT_MAX_ARTIFACT_BYTES,
        help="largest decoded artifact accepted (§12; default 8 MiB)",
    )
    parser.add_argument("--no-check", action="store_true", help="serve jobs unvalidated")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    token = args.token_file.read_text().strip()
    jobs: list[dict[str, Any]] = []
    for path in args.job:
        loaded = json.loads(path.read_text())
        jobs.extend(loaded if isinstance(loaded, list) else [loaded])
    async with serve_fake_manager(
        token, host=args.host, port=args.port, max_artifact_bytes=args.max_artifact_bytes
    ) as manager:
        print(manager.url, flush=True)
        for job in jobs:
            runner_job_id = manager.add_job(
                job,
                lease_ttl_seconds=args.lease_ttl_seconds,
                heartbeat_interval_seconds=args.heartbeat_interval_seconds,
                check=not args.no_check,
            )
            print(runner_job_id, flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    anyio.run(_serve, _parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
