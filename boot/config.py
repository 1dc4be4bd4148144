"""What `agentrun-boot` reads from its environment, validated once.

Contract `manager-runner-api.md` §1 env: `AGENTRUN_BOOT_COMMIT` (40 hex, required),
`AGENTRUN_SOURCE_REPO_URL` (GitHub form, required), `AGENTRUN_GIT_MIRROR_URL` (the mirror
read base) and `AGENTRUN_RUNNER_TOKEN_FILE` (checked readable before any network work).
Boot's own knobs, all optional:

| env | meaning | default |
| --- | --- | --- |
| `AGENTRUN_BOOT_DIR` | directory the fresh checkout is created in | the temp dir |
| `AGENTRUN_BOOT_FETCH_TIMEOUT_SECONDS` | bound of each git command | 120 |
| `AGENTRUN_BOOT_FETCH_ATTEMPTS` | fetch attempts on transient errors | 3 |
| `AGENTRUN_BOOT_EXEC` | JSON argv to exec instead of `python -m runner run` (test seam) | unset |
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from boot.errors import BootFailure, strip_url_credentials

DEFAULT_FETCH_TIMEOUT_SECONDS: Final = 120.0
DEFAULT_FETCH_ATTEMPTS: Final = 3
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
_GITHUB = re.compile(
    r"^https?://github\.com/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(?:\.git)?/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BootConfig:
    """The validated boot inputs.

    Attributes:
        commit: the boot commit, 40 lowercase hex.
        source_repo_url: `AGENTRUN_SOURCE_REPO_URL` as given (may hold credentials; never
            print it without `strip_url_credentials`).
        fetch_url: the URL git fetches from: the mirror URL of a GitHub source, or the
            source URL itself when it is not a GitHub URL.
        mirror_base_url: `AGENTRUN_GIT_MIRROR_URL` without a trailing slash, or None.
        boot_dir: the directory the checkout is created in (created if missing).
        fetch_timeout_seconds: bound of each git command, in seconds.
        fetch_attempts: how many times a transient fetch failure is tried, >= 1.
        exec_argv: the argv to exec instead of the runner (test seam), or None.
    """

    commit: str
    source_repo_url: str
    fetch_url: str
    mirror_base_url: str | None
    boot_dir: Path
    fetch_timeout_seconds: float = DEFAULT_FETCH_TIMEOUT_SECONDS
    fetch_attempts: int = DEFAULT_FETCH_ATTEMPTS
    exec_argv: tuple[str, ...] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BootConfig:
        """Read and validate the boot inputs from an environment mapping.

        Args:
            env: the process environment (e.g. `os.environ`).

        Returns:
            The validated config.

        Raises:
            BootFailure: `boot-commit-invalid` when `AGENTRUN_BOOT_COMMIT` is missing or not
                40 hex; `secret-missing` when the runner token file is unset or unreadable;
                `boot-fetch-failed` when the source or mirror URL is missing or unusable,
                or a boot knob is malformed.
        """
        commit = validate_commit(env.get("AGENTRUN_BOOT_COMMIT"))
        check_token_file(env.get("AGENTRUN_RUNNER_TOKEN_FILE"))
        source = env.get("AGENTRUN_SOURCE_REPO_URL", "").strip()
        if not source:
            raise BootFailure("boot-fetch-failed", "AGENTRUN_SOURCE_REPO_URL is not set")
        mirror = env.get("AGENTRUN_GIT_MIRROR_URL", "").strip().rstrip("/") or None
        return cls(
            commit=commit,
            source_repo_url=source,
            fetch_url=mirror_fetch_url(source, mirror),
            mirror_base_url=mirror,
            boot_dir=Path(env.get("AGENTRUN_BOOT_DIR") or tempfile.gettempdir()).absolute(),
            fetch_timeout_seconds=_positive_float(
                env, "AGENTRUN_BOOT_FETCH_TIMEOUT_SECONDS", DEFAULT_FETCH_TIMEOUT_SECONDS
            ),
            fetch_attempts=int(
                _positive_float(env, "AGENTRUN_BOOT_FETCH_ATTEMPTS", DEFAULT_FETCH_ATTEMPTS)
            ),
            exec_argv=_exec_argv(env.get("AGENTRUN_BOOT_EXEC")),
        )


def validate_commit(value: str | None) -> str:
    """Check a boot commit id (contract §10 `boot-commit-invalid`).

    Args:
        value: `AGENTRUN_BOOT_COMMIT`, or None when unset.

    Returns:
        The commit as 40 lowercase hex digits.

    Raises:
        BootFailure: `boot-commit-invalid` when missing or not exactly 40 hex digits.
    """
    if value is None or not value.strip():
        raise BootFailure("boot-commit-invalid", "AGENTRUN_BOOT_COMMIT is not set")
    if not _COMMIT.match(value.strip()):
        shown = value.strip()[:80]
        raise BootFailure(
            "boot-commit-invalid",
            f"AGENTRUN_BOOT_COMMIT must be a full 40-hex commit id, got {shown!r}",
        )
    return value.strip().lower()


def check_token_file(value: str | None) -> None:
    """Check that the runner token file exists and is readable, without reading it.

    Boot checks it before fetching so that a pod that can never talk to the manager
    fails at once (contract §10 `secret-missing`); the runner reads the token itself.

    Args:
        value: `AGENTRUN_RUNNER_TOKEN_FILE`, or None when unset.

    Raises:
        BootFailure: `secret-missing` when unset, not a file or not readable.
    """
    if not value:
        raise BootFailure("secret-missing", "AGENTRUN_RUNNER_TOKEN_FILE is not set")
    path = Path(value)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise BootFailure(
            "secret-missing", f"the runner token file {value} is missing or unreadable"
        )


def mirror_fetch_url(source_repo_url: str, mirror_base_url: str | None) -> str:
    """Map the source repo URL to the URL boot fetches from (contract §1).

    A GitHub URL `https://github.com/OWNER/REPO(.git)` maps to
    `{mirror_base_url}/OWNER/REPO.git`; boot never fetches from GitHub directly. Any
    other URL (an in-cluster git server, `file://`, a local path) is fetched as given.

    Args:
        source_repo_url: `AGENTRUN_SOURCE_REPO_URL`.
        mirror_base_url: `AGENTRUN_GIT_MIRROR_URL` without a trailing slash, or None.

    Returns:
        The fetch URL.

    Raises:
        BootFailure: `boot-fetch-failed` when a GitHub source has no mirror configured,
            or the mirror URL is not an http(s) URL.
    """
    match = _GITHUB.match(source_repo_url.strip())
    if match is None:
        return source_repo_url
    if mirror_base_url is None:
        raise BootFailure(
            "boot-fetch-failed",
            f"AGENTRUN_GIT_MIRROR_URL is not set; refusing to fetch "
            f"{strip_url_credentials(source_repo_url)} from GitHub directly",
        )
    if urlsplit(mirror_base_url).scheme not in ("http", "https"):
        raise BootFailure(
            "boot-fetch-failed",
            f"AGENTRUN_GIT_MIRROR_URL is not an http(s) URL: {mirror_base_url}",
        )
    return f"{mirror_base_url}/{match['owner']}/{match['repo']}.git"


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise BootFailure("boot-fetch-failed", f"{name} must be a positive number")
    return value


def _exec_argv(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or not raw.strip():
        return None
    try:
        argv = json.loads(raw)
    except json.JSONDecodeError:
        argv = None
    if not (
        isinstance(argv, list) and argv and all(isinstance(item, str) for item in argv)
    ) or not os.path.isabs(argv[0]):
        raise BootFailure(
            "runner-internal-error",
            "AGENTRUN_BOOT_EXEC must be a JSON list of strings starting with an absolute path",
        )
    return tuple(argv)
