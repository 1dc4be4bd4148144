"""Fetch exactly one commit into a fresh directory and check it out detached.

The only git boot does (contract `manager-runner-api.md` §1): `git init` a new directory
under the boot dir, `git fetch --depth=1 origin <sha>` (never a branch tip, never a full
clone), `git checkout --detach <sha>`, and `git rev-parse HEAD` must equal the sha. Every
git command runs in its own process group with no terminal prompt and is killed (the
whole group, so `git-remote-http` goes too) when it outlives its bound. Git's stderr is
captured, never passed through: boot's stderr belongs to the one failure line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from boot.config import BootConfig
from boot.errors import BootFailure, strip_url_credentials

RETRY_BACKOFF_SECONDS: Final = (1.0, 3.0)
"""Pause before the 2nd and later fetch attempts (the last value repeats)."""
_GIT_CONFIG: Final = (
    "-c",
    "protocol.version=2",
    "-c",
    "http.lowSpeedLimit=1000",
    "-c",
    "http.lowSpeedTime=30",
    "-c",
    "advice.detachedHead=false",
    "-c",
    "core.hooksPath=/dev/null",
)
_COMMIT_NOT_FOUND_MARKERS: Final = (
    "not our ref",
    "couldn't find remote ref",
    "no such remote ref",
    "unadvertised object",
    "not a valid object",
)
"""git's words for a repository that exists but lacks the object (upload-pack refused)."""
_REPO_NOT_FOUND_MARKERS: Final = (
    "repository not found",
    "does not appear to be a git repository",
    "returned error: 404",
)
_STDERR_TAIL_CHARS: Final = 600


@dataclass(frozen=True)
class Checkout:
    """A verified detached checkout of the boot commit.

    Attributes:
        path: absolute path of the checkout (its work tree; `.git` inside).
        commit: `HEAD` of the checkout, equal to the requested commit (40 lowercase hex).
        fetch_ms: wall time of init + fetch + checkout + verify, in milliseconds.
        attempts: how many fetch attempts it took (1 when the first one worked).
    """

    path: Path
    commit: str
    fetch_ms: int
    attempts: int


class GitCommandError(Exception):
    """One git command failed or outlived its bound.

    Attributes:
        returncode: git's exit status, or None when it was killed on timeout.
        stderr: git's stderr, credentials stripped.
    """

    def __init__(self, args: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = strip_url_credentials(stderr)
        verb = next((a for a in args if not a.startswith("-") and "=" not in a), "git")
        status = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"git {verb} {status}: {self.stderr.strip()[-_STDERR_TAIL_CHARS:]}")

    @property
    def not_found(self) -> bool:
        """Whether git said the commit or the repository does not exist (not transient)."""
        return self.commit_not_found or self.repo_not_found

    @property
    def commit_not_found(self) -> bool:
        """Whether the repository answered but does not have the object."""
        lowered = self.stderr.lower()
        return any(marker in lowered for marker in _COMMIT_NOT_FOUND_MARKERS)

    @property
    def repo_not_found(self) -> bool:
        """Whether the mirror has no such repository (404)."""
        lowered = self.stderr.lower()
        return any(marker in lowered for marker in _REPO_NOT_FOUND_MARKERS)


def git_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment of boot's git commands: `base` without `GIT_*`, never prompting.

    Args:
        base: the boot process environment.

    Returns:
        A new mapping: inherited `GIT_*` variables (e.g. `GIT_DIR` from a hook) dropped,
        `GIT_TERMINAL_PROMPT=0`, `GCM_INTERACTIVE=never`, proxies passed through.
    """
    env = {k: v for k, v in base.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GCM_INTERACTIVE"] = "never"
    return env


def run_git(
    args: Sequence[str], *, env: Mapping[str, str], timeout_seconds: float, cwd: Path | None = None
) -> str:
    """Run `git <args>` bounded in time; kill its process group when the bound passes.

    Args:
        args: git arguments after the global `-c` options.
        env: environment for git (see `git_env`).
        timeout_seconds: wall-time bound, in seconds.
        cwd: working directory, or None for the current one.

    Returns:
        git's stdout, decoded as UTF-8 (replacement on errors).

    Raises:
        GitCommandError: git exited non-zero or was killed on timeout.
        FileNotFoundError: there is no `git` executable.
    """
    full = ["git", *_GIT_CONFIG, *args]
    proc = subprocess.Popen(
        full,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        _, err = proc.communicate()
        raise GitCommandError(args, None, err.decode("utf-8", "replace")) from None
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    if proc.returncode != 0:
        raise GitCommandError(args, proc.returncode, err.decode("utf-8", "replace"))
    return out.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def fetch_checkout(
    config: BootConfig,
    env: Mapping[str, str],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Checkout:
    """Fetch `config.commit` into a fresh directory under `config.boot_dir`, verified.

    Transient fetch failures are tried `config.fetch_attempts` times with
    `RETRY_BACKOFF_SECONDS` between them; a missing commit or repository is not retried.
    On failure the partial checkout is removed.

    Args:
        config: the validated boot config.
        env: the boot process environment (git gets `git_env(env)`).
        sleep: the pause between attempts (tests pass a no-op).

    Returns:
        The verified checkout.

    Raises:
        BootFailure: `boot-commit-not-found` (the repository lacks the commit, not
            retryable), `boot-fetch-failed` (detail `reason`: `repository-not-found`,
            `timeout`, `fetch-error`, `head-mismatch`, `io-error`) or
            `runner-internal-error` when git is not installed.
    """
    started = time.monotonic()
    genv = git_env(env)
    shown_url = strip_url_credentials(config.fetch_url)
    try:
        config.boot_dir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"src-{config.commit[:12]}-", dir=config.boot_dir))
    except OSError as exc:
        raise BootFailure(
            "boot-fetch-failed",
            f"cannot create a checkout directory in {config.boot_dir}: {exc.strerror}",
            detail={"reason": "io-error"},
        ) from exc
    try:
        attempts = _fetch_into(path, config, genv, shown_url, sleep)
        head = run_git(
            ["rev-parse", "HEAD"], env=genv, timeout_seconds=config.fetch_timeout_seconds, cwd=path
        ).strip()
        if head != config.commit:
            raise BootFailure(
                "boot-fetch-failed",
                f"checkout HEAD is {head}, expected {config.commit}",
                detail={"reason": "head-mismatch"},
            )
    except FileNotFoundError as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise BootFailure("runner-internal-error", "git is not installed in the env image") from exc
    except GitCommandError as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise BootFailure(
            "boot-fetch-failed",
            f"could not check out {config.commit} from {shown_url}: {exc}",
            detail={"reason": "fetch-error"},
        ) from exc
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    fetch_ms = int((time.monotonic() - started) * 1000)
    return Checkout(path=path.resolve(), commit=head, fetch_ms=fetch_ms, attempts=attempts)


def _fetch_into(
    path: Path,
    config: BootConfig,
    genv: Mapping[str, str],
    shown_url: str,
    sleep: Callable[[float], None],
) -> int:
    """init + fetch (with attempts) + detached checkout; returns the attempts used."""
    bound = config.fetch_timeout_seconds

    def git(*args: str) -> str:
        return run_git(args, env=genv, timeout_seconds=bound, cwd=path)

    git("init", "-q", ".")
    git("remote", "add", "origin", config.fetch_url)
    attempt = 0
    while True:
        attempt += 1
        try:
            git("fetch", "--depth=1", "--no-tags", "--no-progress", "origin", config.commit)
            break
        except GitCommandError as exc:
            if exc.commit_not_found:
                raise BootFailure(
                    "boot-commit-not-found",
                    f"commit {config.commit} is not in {shown_url}: {exc}",
                    detail={"reason": "commit-not-found", "attempts": attempt},
                ) from exc
            if exc.repo_not_found:
                raise BootFailure(
                    "boot-fetch-failed",
                    f"the mirror has no repository at {shown_url}: {exc}",
                    detail={"reason": "repository-not-found", "attempts": attempt},
                ) from exc
            if attempt >= config.fetch_attempts:
                reason = "timeout" if exc.returncode is None else "fetch-error"
                raise BootFailure(
                    "boot-fetch-failed",
                    f"could not fetch {config.commit} from {shown_url} "
                    f"after {attempt} attempt(s): {exc}",
                    detail={"reason": reason, "attempts": attempt},
                ) from exc
            sleep(RETRY_BACKOFF_SECONDS[min(attempt - 1, len(RETRY_BACKOFF_SECONDS) - 1)])
    if shown_url != config.fetch_url:
        git("remote", "set-url", "origin", shown_url)
    git("checkout", "-q", "--detach", config.commit)
    return attempt
