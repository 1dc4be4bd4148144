"""Serve a `ScriptedModel` with uvicorn on a loopback socket bound before serving starts.

The socket is bound and listening before uvicorn starts, so clients can connect at once (the
kernel queues them) and nothing polls for readiness. Shutdown ends open streams, asks uvicorn
to exit, and cancels it if it has not finished within a bound.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import anyio
import uvicorn

from fakes.model.app import ScriptedModel
from fakes.model.script import Script, Step, load_script

__all__ = ["bind_loopback", "serve_scripted_model"]

logger = logging.getLogger("fakes.model")


class _InProcessServer(uvicorn.Server):
    """A uvicorn server that leaves the host's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_loopback(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """Create a listening TCP socket.

    Args:
        port: 0 picks a free port.
        host: The address to bind; loopback by default.

    Returns:
        A bound, listening, non-blocking socket the caller must close.

    Raises:
        OSError: The address cannot be bound.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _as_script(script: Script | Sequence[Step] | Path) -> Script:
    if isinstance(script, Script):
        return script
    if isinstance(script, Path):
        return load_script(script)
    return Script(steps=list(script))


def make_server(model: ScriptedModel, *, in_process: bool = True) -> uvicorn.Server:
    """Build the uvicorn server for `model` (h11, no lifespan, no logging config, no access log).

    Args:
        model: The app to serve.
        in_process: Keep the host's signal handlers (tests); `False` lets Ctrl-C stop it.
    """
    config = uvicorn.Config(
        model,
        http="h11",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    return _InProcessServer(config) if in_process else uvicorn.Server(config)


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
    sock = bind_loopback(port)
    try:
        host, bound_port = sock.getsockname()[:2]
        model.base_url = f"http://{host}:{bound_port}/v1"
        server = make_server(model)
        # The block's own exception is re-raised after the task group, so a test sees its
        # AssertionError itself rather than wrapped in an ExceptionGroup.
        body_error: BaseException | None = None
        async with anyio.create_task_group() as group:
            stopped = anyio.Event()

            async def run() -> None:
                try:
                    await server.serve(sockets=[sock])
                finally:
                    stopped.set()

            group.start_soon(run)
            try:
                yield model
            except BaseException as exc:
                body_error = exc
            finally:
                model.begin_shutdown()
                server.should_exit = True
                with anyio.move_on_after(shutdown_timeout_seconds, shield=True):
                    await stopped.wait()
                if not stopped.is_set():
                    logger.error("scripted model: uvicorn did not stop in time; cancelling it")
                group.cancel_scope.cancel()
        if body_error is not None:
            try:
                raise body_error
            finally:
                body_error = None
    finally:
        sock.close()
