"""Running git for bundles: a locked-down environment, bounded run time, one error boundary.

Every git command of `bundles` goes through `run_git` (blocking; callers run it in
`anyio.to_thread.run_sync`). The environment never prompts (`GIT_TERMINAL_PROMPT=0`),
ignores system and user config (so no `url.insteadOf` can send a fetch to GitHub and no
credential helper runs), allows only http(s) transports, and speaks C-locale English so
failures can be classified. Each command is killed after `timeout_seconds`.
`GitCommandError` is translated here, once, into a `BundleError` of kind
`bundle-mirror-miss`, `bundle-ref-not-found` or `bundle-fetch-failed`, with git's
message stripped of credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import git

from bundles.mirror import redact
from bundles.requests import COMMIT_ID
from contract.failures import BundleError, FailureKind

__all__ = [
    "COMMIT_ID",
    "FETCH_TIMEOUT_SECONDS",
    "LOCAL_TIMEOUT_SECONDS",
    "classify_fetch_error",
    "git_env",
    "git_message",
    "run_git",
    "sanitized",
]

FETCH_TIMEOUT_SECONDS = 300.0
"""Upper bound of one `git fetch` (seconds)."""
LOCAL_TIMEOUT_SECONDS = 120.0
"""Upper bound of one local git command: init, rev-parse, checkout (seconds)."""
MAX_MESSAGE_CHARS = 2000
"""Longest git message carried into a `BundleError` (the tail is kept)."""

_FETCH_CONFIG = (
    "protocol.version=2",
    "credential.helper=",
    "core.askPass=",
    "http.lowSpeedLimit=1000",
    "http.lowSpeedTime=60",
    "fetch.recurseSubmodules=false",
    "gc.auto=0",
    "advice.detachedHead=false",
    "init.defaultBranch=agentrun",
)
_MIRROR_MISS = (
    re.compile(r"repository '[^']*' not found", re.IGNORECASE),
    re.compile(r"returned error: 404"),
)
_REF_NOT_FOUND = (
    re.compile(r"couldn't find remote ref", re.IGNORECASE),
    re.compile(r"not our ref", re.IGNORECASE),
    re.compile(r"does not allow request for unadvertised object", re.IGNORECASE),
    re.compile(r"no such remote ref", re.IGNORECASE),
    re.compile(r"unknown revision", re.IGNORECASE),
)


def git_env() -> dict[str, str]:
    """The environment of every git command run by `bundles`.

    gitpython lays it over the process environment (PATH, HOME, proxies are kept);
    it locks prompts, config files and transports down.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "SSH_ASKPASS": "true",
            "GCM_INTERACTIVE": "never",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ALLOW_PROTOCOL": "http:https",
            "GIT_AUTHOR_NAME": "agentrun",
            "GIT_AUTHOR_EMAIL": "agentrun@localhost",
            "GIT_COMMITTER_NAME": "agentrun",
            "GIT_COMMITTER_EMAIL": "agentrun@localhost",
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    return env


def run_git(
    cwd: Path,
    args: Sequence[str],
    *,
    timeout_seconds: float = LOCAL_TIMEOUT_SECONDS,
    stdout_as_string: bool = True,
    secret_config: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    output_stream: BinaryIO | None = None,
) -> str:
    """Run `git -c ... <args>` in `cwd` and return its stripped stdout. Blocking.

    Args:
        cwd: working directory (a repository or where to create one).
        args: git arguments after the global options, e.g. `["fetch", "--depth=1", ...]`.
        timeout_seconds: git is killed after this many seconds.
        stdout_as_string: decode stdout as UTF-8 (always True in this package).
        secret_config: git config passed through the environment (`GIT_CONFIG_COUNT`),
            never on the command line: how a credential-carrying URL reaches git
            without appearing in argv, `ps` or gitpython's debug log.
        extra_env: more variables laid over `git_env()`, e.g. `GIT_INDEX_FILE`,
            `GIT_DIR`, `GIT_WORK_TREE` or the commit identity (never a secret).
        output_stream: when given, git's stdout is copied into it as bytes (bounded
            memory, binary-safe) and "" is returned.

    Returns:
        stdout without the trailing newline.

    Raises:
        git.GitCommandError: git exited non-zero or was killed (callers translate it).
    """
    command = ["git"]
    for item in _FETCH_CONFIG:
        command += ["-c", item]
    command += list(args)
    env = git_env()
    if extra_env:
        env.update(extra_env)
    if secret_config:
        env["GIT_CONFIG_COUNT"] = str(len(secret_config))
        for index, (key, value) in enumerate(secret_config.items()):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
    runner = git.Git(str(cwd))
    output = runner.execute(
        command,
        env=env,
        output_stream=output_stream,
        kill_after_timeout=timeout_seconds,
        stdout_as_string=stdout_as_string,
        strip_newline_in_stdout=True,
    )
    return "" if output_stream is not None else str(output)


def git_message(exc: git.GitCommandError, *secrets: str) -> str:
    """git's stderr of a failed command, credentials removed, at most `MAX_MESSAGE_CHARS`."""
    stderr = exc.stderr if isinstance(exc.stderr, str) else repr(exc.stderr)
    text = stderr.strip() or f"git exited with status {exc.status}"
    text = text.removeprefix("stderr: ").strip().strip("'").strip()
    text = redact(text, *secrets)
    return text[-MAX_MESSAGE_CHARS:]


def sanitized(exc: git.GitCommandError, *secrets: str) -> git.GitCommandError:
    """A copy of `exc` whose command line and stderr carry no credentials.

    gitpython puts the whole command line (with the fetch URL) into `str(exc)`; raise
    translated errors `from sanitized(exc)` so a logged traceback stays clean.
    """
    command = [redact(str(arg), *secrets) for arg in (exc.command or [])]
    return git.GitCommandError(command, exc.status, git_message(exc, *secrets))


def classify_fetch_error(
    exc: git.GitCommandError, *, what: str, display_url: str, secrets: Sequence[str] = ()
) -> BundleError:
    """Translate a failed fetch into the contract §10 kind.

    Args:
        exc: the error gitpython raised.
        what: the requested ref or commit, for the message.
        display_url: the credential-free fetch URL, for the message.
        secrets: literal strings to remove from git's message.

    Returns:
        `bundle-mirror-miss` when the mirror has no such repository (HTTP 404),
        `bundle-ref-not-found` when the ref or commit does not exist there,
        `bundle-fetch-failed` otherwise (git's message, credentials stripped).
    """
    message = git_message(exc, *secrets)
    detail = {"fetchRepoUrl": display_url, "requested": what, "gitStatus": exc.status}
    if any(p.search(message) for p in _MIRROR_MISS):
        return BundleError(
            FailureKind.BUNDLE_MIRROR_MISS,
            f"the git mirror has no repository {display_url}",
            detail=detail,
        )
    if any(p.search(message) for p in _REF_NOT_FOUND):
        return BundleError(
            FailureKind.BUNDLE_REF_NOT_FOUND,
            f"{what} does not exist in {display_url}",
            detail=detail,
        )
    return BundleError(
        FailureKind.BUNDLE_FETCH_FAILED,
        f"fetching {what} from {display_url} failed: {message}",
        detail=detail,
    )
