"""Serve a `ScriptedModel` with uvicorn on a loopback socket bound before serving starts.

The socket is bound and listening before uvicorn starts, so clients can connect at once (the
kernel queues them) and nothing polls for readiness. Shutdown ends open streams, asks uvicorn
to exit, and cancels it if it has not finished within a bound.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from fakes.model.app import ScriptedModel
from fakes.model.script import Script, Step, load_script
from fakes.serving import serve_asgi

__all__ = ["serve_scripted_model"]


def _as_script(script: Script | Sequence[Step] | Path) -> Script:
    if isinstance(script, Script):
        return script
    if isinstance(script, Path):
        return load_script(script)
    return Script(steps=list(script))


@contextlib.asynccontextmanager
async def serve_scripted_model(
    script: Script | Sequence[Step] | Path,
    *,
    port: int = 0,
    shutdown_timeout_seconds: float = 5.0,
) -> AsyncIterator[ScriptedModel]:
    """Serve a scripted Responses API on 127.0.0.1 for the duration of the block.

    Usage:
        `async with serve_scripted_model(load_script(path)) as model:` then point Codex at
        `model.base_url` (`http://127.0.0.1:<port>/v1`) and inspect `model.requests`.

    Args:
        script: A `Script`, a list of steps, or the path of a script JSON file.
        port: 0 (default) picks a free port.
        shutdown_timeout_seconds: Upper bound on the shutdown at exit; after it the server
            task is cancelled.

    Yields:
        The model, already accepting connections, with `base_url` set.

    Raises:
        ScriptError: `script` is a path to an invalid script.
        OSError: The port cannot be bound.
    """
    model = ScriptedModel(_as_script(script))
    async with serve_asgi(
        model,
        port=port,
        shutdown_timeout_seconds=shutdown_timeout_seconds,
        on_stop=model.begin_shutdown,
    ) as url:
        model.base_url = f"{url}/v1"
        yield model
