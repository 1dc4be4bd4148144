"""`python -m fakes.model --script FILE [--port N]`: serve a script until Ctrl-C.

Prints `listening on <base_url>` on stdout once the socket is bound (connections are
accepted from then on). With `--codex-home DIR` it also writes the Codex configuration for
that URL into DIR.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import anyio
import uvicorn

from fakes.model.app import ScriptedModel
from fakes.model.codex_config import write_codex_config
from fakes.model.script import ScriptError, load_script
from fakes.serving import bind_loopback, uvicorn_config


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.model", description="Serve a scripted OpenAI Responses API."
    )
    parser.add_argument("--script", type=Path, required=True, help="script JSON file")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--codex-home", type=Path, help="also write a Codex config here")
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    model = ScriptedModel(load_script(args.script))
    sock = bind_loopback(args.port, args.host)
    try:
        host, port = sock.getsockname()[:2]
        model.base_url = f"http://{host}:{port}/v1"
        if args.codex_home is not None:
            write_codex_config(args.codex_home, model.base_url)
        print(f"listening on {model.base_url}", flush=True)
        await uvicorn.Server(uvicorn_config(model)).serve(sockets=[sock])
    finally:
        sock.close()


def main(argv: list[str] | None = None) -> int:
    """Run the server; returns the process exit code (2 for an invalid script)."""
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    try:
        anyio.run(_serve, args)
    except ScriptError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
