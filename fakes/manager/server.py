"""Serving a `FakeManager` over real loopback HTTP with uvicorn, inside a task group.

`serve_fake_manager` binds and listens on the socket itself before uvicorn starts, so
the URL is usable the moment the context is entered (connections wait in the backlog);
no polling for readiness. On exit it ends long polls, asks uvicorn to stop, and
cancels it if that takes longer than a bound.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Generator

import anyio
import uvicorn

from fakes.manager.clock import Clock
from fakes.manager.knobs import Knobs
from fakes.manager.manager import FakeManager


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handlers alone and stops without polling."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = anyio.Event()

    def request_exit(self) -> None:
        """Start the graceful stop now (uvicorn itself polls `should_exit` every 0.1 s)."""
        self.should_exit = True
        self._exit_requested.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def main_loop(self) -> None:
        await self.on_tick(0)
        await self._exit_requested.wait()


@contextlib.asynccontextmanager
async def serve_fake_manager(
    token: str,
    knobs: Knobs | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    max_wait_seconds: float = 60.0,
    shutdown_timeout_seconds: float = 5.0,
) -> AsyncIterator[FakeManager]:
    """Serve a fresh `FakeManager` on `host:port` for the duration of the block.

    Example:
        async with serve_fake_manager(token="t0k") as mgr:
            job_id = mgr.add_job(example_job())
            async with httpx.AsyncClient(base_url=mgr.url) as client: ...

    Args:
        token: the bearer token requests must carry (§1).
        knobs: transport knobs to start with (fresh if None); also `mgr.knobs`.
        host: the address to bind; loopback by default.
        port: the port; 0 picks a free one (see `mgr.url`).
        clock: the fake clock (fresh if None).
        max_wait_seconds: cap on a §5 long poll's `waitSeconds`.
        shutdown_timeout_seconds: how long a graceful stop may take before uvicorn is
            cancelled.

    Yields:
        The served manager; `mgr.url` is e.g. "http://127.0.0.1:41234".
    """
    manager = FakeManager(token, knobs=knobs, clock=clock, max_wait_seconds=max_wait_seconds)
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says
    # TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        bound_host, bound_port = sock.getsockname()[:2]
        manager.url = f"http://{bound_host}:{bound_port}"
        config = uvicorn.Config(
            manager.app,
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
        server = _QuietServer(config)
        async with anyio.create_task_group() as tg:
            done = anyio.Event()

            async def run() -> None:
                try:
                    await server.serve(sockets=[sock])
                finally:
                    done.set()

            tg.start_soon(run)
            try:
                yield manager
            finally:
                manager.close()
                server.request_exit()
                with anyio.move_on_after(shutdown_timeout_seconds, shield=True):
                    await done.wait()
                tg.cancel_scope.cancel()
    finally:
        sock.close()
