"""Serving a `FakeManager` over real loopback HTTP with uvicorn, inside a task group.

`serve_fake_manager` binds and listens on the socket itself before uvicorn starts, so
the URL is usable the moment the context is entered (connections wait in the backlog);
no polling for readiness. On exit it ends long polls, asks uvicorn to stop, and
cancels it if that takes longer than a bound.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fakes.manager.artifacts import DEFAULT_MAX_ARTIFACT_BYTES
from fakes.manager.clock import Clock
from fakes.manager.knobs import Knobs
from fakes.manager.manager import FakeManager
from fakes.serving import serve_asgi


@contextlib.asynccontextmanager
async def serve_fake_manager(
    token: str,
    knobs: Knobs | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    max_wait_seconds: float = 60.0,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
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
        max_artifact_bytes: the largest decoded §12 artifact accepted (else 413).
        shutdown_timeout_seconds: how long a graceful stop may take before uvicorn is
            cancelled.

    Yields:
        The served manager; `mgr.url` is e.g. "http://127.0.0.1:41234".
    """
    manager = FakeManager(
        token,
        knobs=knobs,
        clock=clock,
        max_wait_seconds=max_wait_seconds,
        max_artifact_bytes=max_artifact_bytes,
    )
    async with serve_asgi(
        manager.app,
        host=host,
        port=port,
        shutdown_timeout_seconds=shutdown_timeout_seconds,
        on_stop=manager.close,
    ) as url:
        manager.url = url
        yield manager
