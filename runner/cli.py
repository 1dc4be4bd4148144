"""Command line: `agentrun-runner run`, the Job's process (`python -m runner run` too).

`run` takes no flags: everything comes from the environment (contract §1). Its exit
status is 0 when the terminal report was delivered, non-zero otherwise. Logs go to
stderr as JSON lines; they never carry a secret value. The end-to-end demo is not
part of the product: it drives the fakes, so it lives beside them (`./scripts/demo`,
`python -m fakes.demo`).
"""

from __future__ import annotations

import argparse
import logging
import sys

import anyio
from pythonjsonlogger.json import JsonFormatter


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `agentrun-runner` console script."""
    parser = argparse.ArgumentParser(prog="agentrun-runner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the attempt described by the environment (contract §1)")
    parser.parse_args(argv)
    _setup_logging()
    # The warm backend starts before the heavy imports (`runner.early`, §2 v1.2).
    from runner.early import run

    sys.exit(anyio.run(run))
