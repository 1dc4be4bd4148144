"""Serve an ASGI app on a loopback socket with uvicorn, in the caller's task group.

Shared by the fake manager and the scripted model. The socket is bound and listening
before uvicorn starts, so the URL works the moment the block is entered (connections
wait in the backlog) and nothing polls for readiness. On exit `on_stop` runs (end long
polls, release hanging streams), uvicorn is asked to stop, and it is cancelled if that
takes longer than the bound. A lone error of the block comes out as itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

import anyio
import uvicorn

from concurrency.taskgroups import task_group


def bind_loopback(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A bound, listening, non-blocking TCP socket (the caller closes it).

    `IPPROTO_TCP` is explicit: asyncio sets `TCP_NODELAY` only on sockets whose proto
    says TCP, and without it every response waits ~40 ms for a delayed ACK.

    Raises:
        OSError: the address cannot be bound.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_config(app: Any, *, shutdown_timeout_seconds: float = 5.0) -> uvicorn.Config:
    """Quiet uvicorn settings for fakes: h11, no lifespan, no log config, no access log."""
    return uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        http="h11",
        ws="none",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=max(1, int(shutdown_timeout_seconds)),
    )


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handlers alone and stops without polling."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = anyio.Event()

    def request_exit(self) -> None:
        """Start the graceful stop now."""
        self.should_exit = True
        self._exit_requested.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def main_loop(self) -> None:
        await self.on_tick(0)
        await self._exit_requested.wait()


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    shutdown_timeout_seconds: float = 5.0,
    on_stop: Callable[[], None] | None = None,
) -> AsyncIterator[str]:
    """Serve `app` for the duration of the block; yields its base URL `http://host:port`.

    Args:
        app: the ASGI application.
        host: the address to bind; loopback by default.
        port: 0 picks a free port.
        shutdown_timeout_seconds: bound on the graceful stop, after which uvicorn is
            cancelled.
        on_stop: called first at exit (e.g. to end long polls or hanging streams).

    Raises:
        OSError: the port cannot be bound.
    """
    sock = bind_loopback(port, host)
    try:
        bound_host, bound_port = sock.getsockname()[:2]
        server = QuietServer(uvicorn_config(app, shutdown_timeout_seconds=shutdown_timeout_seconds))
        async with task_group() as tg:
            stopped = anyio.Event()

            async def run() -> None:
                try:
                    await server.serve(sockets=[sock])
                finally:
                    stopped.set()

            tg.start_soon(run)
            try:
                yield f"http://{bound_host}:{bound_port}"
            finally:
                if on_stop is not None:
                    on_stop()
                server.request_exit()
                with anyio.move_on_after(shutdown_timeout_seconds, shield=True):
                    await stopped.wait()
                tg.cancel_scope.cancel()
    finally:
        sock.close()


async def reset_connection(receive: Any, send: Any) -> None:
    """Abort the client's TCP connection with an RST and no HTTP response.

    ASGI has no way to do this, so the transport is taken from uvicorn's h11 protocol
    (`send` is the bound `RequestResponseCycle.send`, which holds `transport`);
    `SO_LINGER` on with a zero timeout makes the close an RST instead of a FIN.

    Raises:
        RuntimeError: the server is not uvicorn's h11 implementation (or a middleware
            wraps `send`).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.Transport):
        raise RuntimeError("a connection reset needs uvicorn h11's raw `send` (no middleware)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # uvicorn marks the cycle disconnected on connection_lost; wait for it so that it
    # does not try to send a 500 for the response the app never started.
    with anyio.move_on_after(5):
        while (await receive())["type"] != "http.disconnect":
            pass
