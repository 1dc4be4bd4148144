"""Check, before the model is ever called, that Codex's sandbox can start (contract §10).

When `backend.sandbox` is not `danger-full-access`, `preflight_sandbox` runs
`codex sandbox -P PROFILE -C CWD -- true` with the same binary, environment and working
directory as the app-server: the built-in permission profile of the job's sandbox mode
(`:workspace` for `workspace-write`, `:read-only` for `read-only`; flags as in the
`codex sandbox --help` of 0.163, 0.169 and 0.171). It costs about 0.1 s. If the sandbox
cannot start (e.g. Codex 0.171 without its `codex-resources/bwrap` and no `bwrap` on
`PATH` panics `bubblewrap is unavailable: …`, exit 101), it raises `sandbox-error` with
Codex's own words, so no thread or turn is started. `codex sandbox` loads `config.toml`
too; when it fails on the configuration rather than the sandbox, the preflight leaves
the verdict to the app-server, which reports that as `backend-config-invalid`.
`preflight_alongside` runs it while the app-server starts (issue 14: both are child
processes of ~0.1 s); the turn waits for it before `thread/start`.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio

from concurrency.taskgroups import deferred, task_group
from contract.failures import BackendError, FailureKind
from runner.turn.classify import is_config_error
from runner.turn.sandbox_diagnosis import diagnose

PROFILES = {"workspace-write": ":workspace", "read-only": ":read-only"}
"""`backend.sandbox` → Codex's built-in permission profile (`codex sandbox -P`)."""
PREFLIGHT_TIMEOUT_SECONDS = 30.0
MAX_MESSAGE_CHARS = 2000
_NOISE = ("note: run with `RUST_BACKTRACE", "WARNING: proceeding, even though")
"""stderr lines of `codex sandbox` that say nothing about the failure."""


def preflight_argv(
    binary: Path, sandbox: str | None, cwd: Path, profile: tuple[str, Sequence[str]] | None = None
) -> list[str] | None:
    """The preflight command for `sandbox`, or None when there is nothing to check.

    `danger-full-access` (and None: the `pod` enforcer, §13) runs no sandbox; an unknown
    mode is left to `thread/start`, which refuses it (`thread-start-failed`). `profile` is
    the permission profile the threads use, `(name, its -c arguments)`
    (`runner.turn.sandbox_policy`); without it, the mode's built-in profile.
    """
    if sandbox not in PROFILES:
        return None
    name, config_args = profile if profile is not None else (PROFILES[sandbox], ())
    return [str(binary), "sandbox", *config_args, "-P", name, "-C", str(cwd), "--", "true"]


def failure_message(stdout: bytes, stderr: bytes, returncode: int) -> str:
    """Codex's own account of the failed preflight, one bounded (unmasked) text."""
    text = (stderr or stdout).decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith(_NOISE)]
    detail = "\n".join(lines)[-MAX_MESSAGE_CHARS:] or f"exit status {returncode}"
    return f"Codex's sandbox cannot start: {detail}"


def _is_config_failure(output: bytes) -> bool:
    """`codex sandbox` refused its configuration (e.g. `Error: …/config.toml:1:24: …`)."""
    text = output.decode("utf-8", errors="replace")
    return "config.toml" in text or is_config_error(text)


async def preflight_sandbox(
    binary: Path,
    sandbox: str | None,
    env: Mapping[str, str],
    cwd: Path,
    *,
    profile: tuple[str, Sequence[str]] | None = None,
    timeout_seconds: float = PREFLIGHT_TIMEOUT_SECONDS,
) -> None:
    """Run `codex sandbox … -- true` once; return only if it exits 0.

    Args:
        binary: the Codex native binary the app-server is spawned from.
        sandbox: `backend.sandbox` of the job (§2); None when Codex's sandbox is not used.
        env: the app-server's environment (`CODEX_HOME` included).
        cwd: the app-server's working directory (the workspace).
        profile: the threads' permission profile and its `-c` arguments (`preflight_argv`).
        timeout_seconds: bound of the whole check.

    Raises:
        BackendError: `sandbox-error` (not retryable) whose message names the cause and
            the remedy (`sandbox_diagnosis.diagnose`: `detail.cause`, Codex's own text in
            `detail.codexMessage`, bounded to `MAX_MESSAGE_CHARS`, masked later by the
            event log), `detail.exitCode` and `detail.profile`.
    """
    argv = preflight_argv(binary, sandbox, cwd, profile)
    if argv is None:
        return
    name = profile[0] if profile is not None else PROFILES[str(sandbox)]
    detail = {"profile": name, "check": "codex sandbox -- true"}
    try:
        with anyio.fail_after(timeout_seconds):
            result = await anyio.run_process(
                argv, env=dict(env), cwd=cwd, check=False, stdin=subprocess.DEVNULL
            )
    except TimeoutError as exc:
        raise BackendError(
            FailureKind.SANDBOX_ERROR,
            f"Codex's sandbox did not start within {timeout_seconds:g} s",
            detail=detail,
        ) from exc
    except OSError as exc:
        raise BackendError(
            FailureKind.BACKEND_SPAWN_FAILED,
            f"cannot start the Codex binary {binary}: {exc.strerror}",
        ) from exc
    if result.returncode != 0 and not _is_config_failure(result.stderr or result.stdout):
        raise await diagnose(
            failure_message(result.stdout, result.stderr, result.returncode),
            detail | {"exitCode": result.returncode},
        )


@asynccontextmanager
async def preflight_alongside(
    binary: Path,
    sandbox: str | None,
    env: Mapping[str, str],
    cwd: Path,
    profile: tuple[str, Sequence[str]] | None = None,
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Run `preflight_sandbox` in the background; yield a wait for its verdict.

    The yielded callable returns once the preflight passed and raises its `sandbox-error`
    otherwise. Leaving the block early (an error) cancels a preflight still running.
    """
    async with task_group() as tg:
        yield deferred(
            tg,
            partial(preflight_sandbox, binary, sandbox, env, cwd, profile=profile),
            catch=BackendError,
        )
