"""The runner's first tenth of a second: the warm backend before the heavy imports.

`agentrun-runner run` enters `run` with only the light modules imported (the §1
environment, `CODEX_HOME`, the Codex client: ~0.15 s). It spawns `codex app-server` as
the warm backend (contract §2 v1.2: `CODEX_HOME` from the provider Secret alone, the
pod's transient and proxy env, no thread and no model request until the job is
validated), then imports the rest of the runner (`runner.launch`: pydantic models, httpx,
~0.35 s) in a worker thread while Codex starts up beside it (~0.25 s to its `initialize`
answer on loopback, docs/benchmarks.md "Issue 22: start"), and hands the warm backend to
`runner.launch.run_from_environ`.

Nothing here reports anything: an environment that cannot give a warm backend (a
missing variable, an unreadable provider home) just gives none, and `run_from_environ`
reports the same problem with its failure kind.
"""

from __future__ import annotations

import importlib
import logging
from functools import partial
from pathlib import Path

import anyio

from adapters.codex.binary import resolve_codex_binary
from concurrency.taskgroups import task_group
from contract.failures import RunnerError
from runner import RUNNER_VERSION
from runner.env import RunnerEnv
from runner.turn.codex_home import CodexHome, backend_environment, prepare_codex_home
from runner.turn.sandbox_policy import Masks, build_policy, private_masks
from runner.turn.warm import BackendSpec, start_warm_backend

WARM_SANDBOX_MODE = "workspace-write"
"""The `backend.sandbox` whose permission profile the warm app-server is spawned with."""

log = logging.getLogger(__name__)


def layout_masks(env: RunnerEnv, home: CodexHome) -> Masks:
    """The §13 profile's entries for this pod's layout (`private_masks` of its §1 paths).

    The one place both the warm spawn and the attempt take them from: a warm process
    fits a turn only when both built the same profile.
    """
    return private_masks(
        runtime_home=home.path,
        workspace=env.workspace,
        token_file=env.token_file,
        provider_home=env.provider_home,
        session_cache=env.session_cache,
        copied=home.copied,
        boot_checkout=Path(env.boot_checkout) if env.boot_checkout else None,
    )


def warm_spec(env: RunnerEnv) -> tuple[BackendSpec, CodexHome]:
    """The warm backend's spawn: `CODEX_HOME` from the provider Secret alone, the pod's
    transient and proxy env, the workspace root as cwd; nothing of the job (§2 v1.2).

    The attempt builds its `BackendPlan` from the same calls, so a turn's spec equals
    this one unless the job needs something else.

    Raises:
        RunnerError: as `prepare_codex_home` (`secret-missing`),
            `RunnerEnv.transient_env` and `resolve_codex_binary`.
        OSError: the runtime home or the workspace cannot be written.
    """
    home = prepare_codex_home(env.runtime_home, env.provider_home, env.session_cache)
    transient = env.transient_env()
    binary = resolve_codex_binary(env.codex_bin)
    env.workspace.mkdir(parents=True, exist_ok=True)
    root = env.workspace.resolve()
    # The §13 permission profile is app-server configuration; the warm process is given
    # the one of the most common mode, `workspace-write` (built exactly as the attempt
    # builds it): a job of another mode does not fit and gets its own spawn.
    policy = build_policy(
        WARM_SANDBOX_MODE, env.sandbox_enforcer, layout_masks(env, home), home.path
    )
    backend_env = backend_environment(home, transient, env.proxy)
    return BackendSpec.of(binary.path, backend_env, root, policy.config_args), home


def _prepare() -> tuple[BackendSpec, CodexHome] | None:
    try:
        return warm_spec(RunnerEnv.from_environ())
    except (RunnerError, OSError) as exc:
        log.info("no warm backend: %s", getattr(exc, "message", exc))
        return None


async def run() -> int:
    """`agentrun-runner run`: the warm backend, then the attempt (`run_from_environ`).

    Returns:
        The process exit status (§1): 0 terminal delivered, 1 not, 2 nothing claimed.
    """
    async with (
        task_group() as tg,
        start_warm_backend(tg, _prepare, RUNNER_VERSION) as warm,
    ):
        launch = await anyio.to_thread.run_sync(partial(importlib.import_module, "runner.launch"))
        status: int = await launch.run_from_environ(warm=warm)
        return status


__all__ = ["layout_masks", "run", "warm_spec"]
