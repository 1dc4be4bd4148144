"""Replace the boot process with the runner from the verified checkout.

The runner runs on the env image's interpreter and installed dependencies
(`sys.executable`), with the checkout first on `PYTHONPATH` and as the working
directory, so the checkout's `runner/` package is the one imported, never an installed
copy. The boot facts reach the runner through its environment:

| env | value |
| --- | --- |
| `AGENTRUN_BOOT_STARTED_AT_MS` | epoch ms when boot started |
| `AGENTRUN_BOOT_FETCH_MS` | ms spent in init + fetch + checkout + verify |
| `AGENTRUN_BOOT_DURATION_MS` | ms from boot start to the exec |
| `AGENTRUN_BOOT_CHECKOUT` | absolute path of the checkout |
| `AGENTRUN_BOOT_FETCH_URL` | URL the commit was fetched from, credentials stripped |
| `AGENTRUN_ENV_IDENTITY` | identity of the running env image (else of the checkout) |
| `AGENTRUN_ENV_IDENTITY_CHECKOUT` | identity the checkout's own env inputs hash to |

`AGENTRUN_BOOT_COMMIT` is passed on lowercased (it equals the checkout's `HEAD`);
`AGENTRUN_BOOT_EXEC` is not passed on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from boot.config import BootConfig
from boot.env_identity import EnvIdentityError, compute_env_identity, installed_env_identity
from boot.errors import BootFailure, strip_url_credentials
from boot.fetch import Checkout


@dataclass(frozen=True)
class ExecPlan:
    """What boot execs: argv, the complete environment and the working directory.

    Attributes:
        argv: the program (absolute path first) and its arguments.
        env: the complete environment of the runner.
        cwd: the working directory (the checkout).
    """

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path


def default_runner_argv() -> tuple[str, ...]:
    """`<env image python> -m runner run` (contract §1)."""
    return (sys.executable, "-m", "runner", "run")


def runner_exec_plan(
    config: BootConfig,
    checkout: Checkout,
    env: Mapping[str, str],
    *,
    started_at_ms: int,
    duration_ms: int,
) -> ExecPlan:
    """Build the exec of the runner from a verified checkout.

    Args:
        config: the validated boot config (`exec_argv` replaces the runner argv).
        checkout: the verified checkout.
        env: the boot process environment; the runner gets it plus the boot facts.
        started_at_ms: epoch ms when boot started.
        duration_ms: ms from boot start to now.

    Returns:
        The plan `exec_into` carries out.
    """
    child = {k: v for k, v in env.items() if k != "AGENTRUN_BOOT_EXEC"}
    root = str(checkout.path)
    inherited = child.get("PYTHONPATH")
    child["PYTHONPATH"] = root + (os.pathsep + inherited if inherited else "")
    checkout_identity: str | None
    try:
        checkout_identity = compute_env_identity(checkout.path)
    except EnvIdentityError:
        checkout_identity = None
    identity = installed_env_identity() or checkout_identity
    child.update(
        {
            "AGENTRUN_BOOT_COMMIT": checkout.commit,
            "AGENTRUN_BOOT_STARTED_AT_MS": str(started_at_ms),
            "AGENTRUN_BOOT_FETCH_MS": str(checkout.fetch_ms),
            "AGENTRUN_BOOT_DURATION_MS": str(duration_ms),
            "AGENTRUN_BOOT_CHECKOUT": root,
            "AGENTRUN_BOOT_FETCH_URL": strip_url_credentials(config.fetch_url),
        }
    )
    for name, value in (
        ("AGENTRUN_ENV_IDENTITY", identity),
        ("AGENTRUN_ENV_IDENTITY_CHECKOUT", checkout_identity),
    ):
        if value is not None:
            child[name] = value
        else:
            child.pop(name, None)
    argv = config.exec_argv or default_runner_argv()
    return ExecPlan(argv=tuple(argv), env=child, cwd=checkout.path)


def exec_into(plan: ExecPlan) -> NoReturn:
    """Replace this process with `plan` (`chdir` + `execve`); returns only by raising.

    Args:
        plan: the exec plan.

    Raises:
        BootFailure: `runner-internal-error` when the program cannot be executed.
    """
    try:
        os.chdir(plan.cwd)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(plan.argv[0], list(plan.argv), plan.env)
    except OSError as exc:
        raise BootFailure(
            "runner-internal-error", f"cannot exec {plan.argv[0]}: {exc.strerror}"
        ) from exc
