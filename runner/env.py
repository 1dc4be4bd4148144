"""The runner's environment (contract §1), read once and validated.

`RunnerEnv.from_environ` reads the `AGENTRUN_*` variables and the proxy variables; it
never reads a secret's value except the token (from its file, never from argv) and the
transient env values (kept for the backend and the masker, never printed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contract.failures import FailureKind, RunnerError, SecretError
from runner.turn.sandbox_policy import SandboxLayoutError, check_layout, parse_enforcer

PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


class EnvError(RunnerError):
    """A required variable of §1 is missing or malformed (reported before any claim)."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureKind.RUNNER_ENV_INVALID, message)


@dataclass(frozen=True)
class RunnerEnv:
    """Contract §1 variables. Secret values are held, never shown (`repr` hides them)."""

    manager_url: str
    runner_job_id: str
    token_file: Path
    boot_commit: str | None
    source_repo_url: str | None
    git_mirror_url: str | None
    git_mirror_write_url: str | None
    provider_home: Path | None
    runtime_home: Path
    workspace: Path
    transient_env_names: tuple[str, ...]
    session_cache: Path | None
    codex_bin: str | None
    sandbox_enforcer: str = "codex"
    proxy: dict[str, str] = field(default_factory=dict, repr=False)
    boot_started_at_ms: int | None = None
    boot_fetch_ms: int | None = None
    boot_checkout: str | None = None
    # §1 volume limits (issue 21): the sizeLimits of the runtime home and the workspace.
    runtime_home_limit_bytes: int | None = None
    workspace_limit_bytes: int | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RunnerEnv:
        """Read §1 from `environ` (default `os.environ`).

        Raises:
            EnvError: `AGENTRUN_MANAGER_URL`, `AGENTRUN_RUNNER_JOB_ID`,
                `AGENTRUN_RUNNER_TOKEN_FILE`, `AGENTRUN_RUNTIME_HOME` or
                `AGENTRUN_WORKSPACE` is missing; a `…_LIMIT_BYTES` is not a positive
                integer; `AGENTRUN_SANDBOX_ENFORCER` is neither `codex` nor `pod` (§1).
        """
        env = dict(os.environ if environ is None else environ)

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise EnvError(f"{name} is not set (contract §1)")
            return value

        def optional(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def optional_int(name: str) -> int | None:
            value = optional(name)
            return int(value) if value and value.isdigit() else None

        def optional_bytes(name: str) -> int | None:
            value = optional(name)
            if value is not None and (not value.isdigit() or int(value) == 0):
                raise EnvError(f"{name} must be a positive number of bytes (contract §1)")
            return int(value) if value is not None else None

        names = tuple(
            n.strip() for n in env.get("AGENTRUN_TRANSIENT_ENV_NAMES", "").split(",") if n.strip()
        )
        provider = optional("AGENTRUN_PROVIDER_HOME")
        try:
            enforcer = parse_enforcer(env.get("AGENTRUN_SANDBOX_ENFORCER"))
        except ValueError as exc:
            raise EnvError(f"{exc} (contract §1, §13)") from exc
        cache = optional("AGENTRUN_SESSION_CACHE")
        return cls(
            manager_url=required("AGENTRUN_MANAGER_URL"),
            runner_job_id=required("AGENTRUN_RUNNER_JOB_ID"),
            token_file=Path(required("AGENTRUN_RUNNER_TOKEN_FILE")),
            boot_commit=optional("AGENTRUN_BOOT_COMMIT"),
            source_repo_url=optional("AGENTRUN_SOURCE_REPO_URL"),
            git_mirror_url=optional("AGENTRUN_GIT_MIRROR_URL"),
            git_mirror_write_url=optional("AGENTRUN_GIT_MIRROR_WRITE_URL"),
            provider_home=Path(provider) if provider else None,
            runtime_home=Path(required("AGENTRUN_RUNTIME_HOME")),
            workspace=Path(required("AGENTRUN_WORKSPACE")),
            transient_env_names=names,
            session_cache=Path(cache) if cache else None,
            codex_bin=optional("AGENTRUN_CODEX_BIN"),
            sandbox_enforcer=enforcer,
            proxy={n: env[n] for n in PROXY_NAMES if env.get(n)},
            boot_started_at_ms=optional_int("AGENTRUN_BOOT_STARTED_AT_MS"),
            boot_fetch_ms=optional_int("AGENTRUN_BOOT_FETCH_MS"),
            boot_checkout=optional("AGENTRUN_BOOT_CHECKOUT"),
            runtime_home_limit_bytes=optional_bytes("AGENTRUN_RUNTIME_HOME_LIMIT_BYTES"),
            workspace_limit_bytes=optional_bytes("AGENTRUN_WORKSPACE_LIMIT_BYTES"),
        )

    def check_writable(self) -> None:
        """The runtime home and the workspace exist (created if missing) and are writable.

        Raises:
            EnvError: `runner-env-invalid`, naming the variable.
        """
        for name, path in (
            ("AGENTRUN_RUNTIME_HOME", self.runtime_home),
            ("AGENTRUN_WORKSPACE", self.workspace),
        ):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EnvError(f"{name} ({path}) cannot be created: {exc.strerror}") from exc
            if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
                raise EnvError(f"{name} ({path}) is not a writable directory")

    def check_layout(self) -> None:
        """The runner's private state can be kept from the agent in this layout (§13).

        Raises:
            EnvError: `runner-env-invalid` (`runner.turn.sandbox_policy.check_layout`).
        """
        try:
            check_layout(
                runtime_home=self.runtime_home,
                workspace=self.workspace,
                token_file=self.token_file,
                provider_home=self.provider_home,
                session_cache=self.session_cache,
            )
        except SandboxLayoutError as exc:
            error = EnvError(exc.message)
            error.detail = exc.detail
            raise error from exc

    def read_token(self) -> str:
        """The bearer token from `AGENTRUN_RUNNER_TOKEN_FILE` (§1).

        Raises:
            SecretError: the file is missing, unreadable or empty (`secret-missing`).
        """
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise SecretError(
                f"runner token file {self.token_file} is unreadable ({exc.strerror})",
                detail={"name": "AGENTRUN_RUNNER_TOKEN_FILE"},
            ) from exc
        if not token:
            raise SecretError(
                f"runner token file {self.token_file} is empty",
                detail={"name": "AGENTRUN_RUNNER_TOKEN_FILE"},
            )
        return token

    def transient_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The transient env values by name (§1), for the backend only.

        Raises:
            SecretError: a named variable is not set (`secret-missing`, names only).
        """
        env = os.environ if environ is None else environ
        missing = [n for n in self.transient_env_names if n not in env]
        if missing:
            raise SecretError(
                f"transient env vars named in AGENTRUN_TRANSIENT_ENV_NAMES are missing: "
                f"{', '.join(missing)}",
                detail={"names": missing, "valuesPrinted": False},
            )
        return {n: env[n] for n in self.transient_env_names}
