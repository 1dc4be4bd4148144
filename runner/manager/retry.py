"""The one place the runner retries manager calls (tenacity), per contract §8.

Transient: 5xx, 429 (honouring `Retry-After`), connection errors and timeouts; anything
else is raised at once. Every loop is bounded by attempts *and* a total deadline, waits
are exponential with jitter, and `set_instant_retries(True)` (tests) turns the waits off.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from contract.failures import ManagerError

T = TypeVar("T")


@dataclass
class _Config:
    instant: bool = False


_CONFIG = _Config()


def set_instant_retries(instant: bool) -> None:
    """Tests: make every back-off wait zero (attempt and deadline bounds still apply)."""
    _CONFIG.instant = instant


def is_transient(exc: BaseException) -> bool:
    """True for the failures §8 calls transient: 5xx, 429, connection errors, timeouts."""
    return isinstance(exc, ManagerError) and bool(getattr(exc, "transient", False))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of one retry loop.

    Attributes:
        attempts: most tries in all (first included).
        deadline_seconds: most time from the first try to giving up.
        initial_seconds / max_seconds: the exponential back-off range (jitter added).
    """

    attempts: int = 8
    deadline_seconds: float = 60.0
    initial_seconds: float = 0.5
    max_seconds: float = 10.0


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    backoff = wait_exponential_jitter(
        multiplier=policy.initial_seconds, max=policy.max_seconds, jitter=policy.initial_seconds
    )

    def wait(state: RetryCallState) -> float:
        if _CONFIG.instant:
            return 0.0
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(exc, "retry_after_seconds", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return min(float(retry_after), policy.max_seconds * 3)
        return float(backoff(state))

    return wait


def backoff_seconds(
    failures: int, *, initial_seconds: float = 0.5, max_seconds: float = 30.0
) -> float:
    """Exponential back-off with full jitter after `failures` failures in a row (>= 1).

    For loops that never give up (the §5 long poll): the wait grows from
    `initial_seconds` to `max_seconds`; zero with `set_instant_retries(True)`.
    """
    if _CONFIG.instant:
        return 0.0
    ceiling = min(max_seconds, initial_seconds * 2 ** min(failures - 1, 30))
    return random.uniform(ceiling / 2, ceiling)


async def call_with_retries(
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    *,
    transient: Callable[[BaseException], bool] = is_transient,
) -> T:
    """Run `call`, retrying transient errors within `policy`'s bounds.

    Args:
        policy: the attempt and deadline bounds and the back-off range.
        call: one try.
        transient: which errors are retried; default: transient `ManagerError`s (§8).

    Raises:
        Exception: the last error, once it is not transient or the bounds ran out.
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception(transient),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline_seconds),
        wait=_wait(policy),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover
