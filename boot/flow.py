"""The whole boot: validate, fetch the commit, exec the runner from it.

`prepare_boot` does everything but the exec and returns the `ExecPlan`, so a test can
inspect it or run it as a child process; `boot` execs it. Both raise `BootFailure`;
`boot.cli.main` turns that into the one JSON line on stderr and a non-zero exit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import NoReturn

from boot.config import BootConfig
from boot.fetch import fetch_checkout
from boot.launch import ExecPlan, exec_into, runner_exec_plan


def prepare_boot(
    env: Mapping[str, str], *, sleep: Callable[[float], None] = time.sleep
) -> ExecPlan:
    """Validate the env, fetch and verify the boot commit, and plan the runner's exec.

    Args:
        env: the environment of the contract's §1 (e.g. `os.environ`), plus boot's own
            optional knobs (`boot.config`).
        sleep: the pause between fetch attempts (tests pass a no-op).

    Returns:
        The exec plan: `python -m runner run` (or `AGENTRUN_BOOT_EXEC`) in the checkout.

    Raises:
        BootFailure: `boot-commit-invalid`, `secret-missing`, `boot-fetch-failed` or
            `runner-internal-error`.
    """
    started_at_ms = time.time_ns() // 1_000_000
    started = time.monotonic()
    config = BootConfig.from_env(env)
    checkout = fetch_checkout(config, env, sleep=sleep)
    duration_ms = int((time.monotonic() - started) * 1000)
    return runner_exec_plan(
        config, checkout, env, started_at_ms=started_at_ms, duration_ms=duration_ms
    )


def boot(env: Mapping[str, str]) -> NoReturn:
    """`prepare_boot` then exec; returns only by raising.

    Args:
        env: as for `prepare_boot`.

    Raises:
        BootFailure: as for `prepare_boot`, or when the exec itself fails.
    """
    exec_into(prepare_boot(env))
