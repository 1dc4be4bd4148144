"""Fixtures for the end-to-end tests: the runner as a subprocess against real parts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner.manager.retry import set_instant_retries


@pytest.fixture(autouse=True)
def _instant_retries() -> Iterator[None]:
    """In-process manager calls retry without waiting (the subprocess keeps real waits)."""
    set_instant_retries(True)
    yield
    set_instant_retries(False)
