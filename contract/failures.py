"""The failure taxonomy and the one error root of the runner.

Every failure the runner can report is a `FailureKind` (contract
`manager-runner-api.md` §10); each kind carries whether a new attempt may succeed
unchanged (`retryable`) and what situation produces it. Every exception the runner
raises on purpose is a `RunnerError` carrying its kind and the `source` that failed;
subclasses only say *where* it failed. Foreign errors (httpx, git, pydantic, OS) are
translated at one boundary each with ``raise SomeRunnerError(...) from exc``.

Tree::

    RunnerError                 kind, message, source, detail
    ├── JobSpecError            source "runner"   (claimed job fails validation)
    ├── SecretError             source "runner"   (token file, provider home, transient env)
    ├── ManagerError            source "manager"  (the manager API answered an error)
    ├── BundleError             source "bundle"   (mirror, fetch, materialize)
    ├── BootError               source "boot"     (boot commit, boot fetch)
    └── BackendError            source "backend"  (Codex spawn, protocol, thread, config)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

FailureSource = Literal["runner", "backend", "provider", "bundle", "boot", "manager", "workspace"]


class FailureKind(StrEnum):
    """Stable kebab-case failure kinds, exactly as contract §10 names them.

    A kind is never renamed; a new one is added only when the contract adds it.
    """

    BOOT_COMMIT_INVALID = "boot-commit-invalid"
    BOOT_FETCH_FAILED = "boot-fetch-failed"
    BOOT_COMMIT_NOT_FOUND = "boot-commit-not-found"
    RUNNER_ENV_INVALID = "runner-env-invalid"
    CLAIM_REFUSED = "claim-refused"
    MANAGER_UNREACHABLE = "manager-unreachable"
    JOB_SPEC_INVALID = "job-spec-invalid"
    SECRET_MISSING = "secret-missing"
    BACKEND_CONFIG_INVALID = "backend-config-invalid"
    BUNDLE_MIRROR_MISS = "bundle-mirror-miss"
    BUNDLE_REF_NOT_FOUND = "bundle-ref-not-found"
    BUNDLE_FETCH_FAILED = "bundle-fetch-failed"
    BUNDLE_PATH_INVALID = "bundle-path-invalid"
    BACKEND_SPAWN_FAILED = "backend-spawn-failed"
    THREAD_RESUME_FAILED = "thread-resume-failed"
    THREAD_START_FAILED = "thread-start-failed"
    PROVIDER_AUTH = "provider-auth"
    PROVIDER_RATE_LIMITED = "provider-rate-limited"
    PROVIDER_QUOTA = "provider-quota"
    PROVIDER_UNAVAILABLE = "provider-unavailable"
    PROVIDER_UNREACHABLE = "provider-unreachable"
    PROVIDER_STREAM_DISCONNECTED = "provider-stream-disconnected"
    PROVIDER_BAD_REQUEST = "provider-bad-request"
    CONTEXT_WINDOW_EXCEEDED = "context-window-exceeded"
    PROVIDER_INVALID_TOOL_CALL = "provider-invalid-tool-call"
    PROVIDER_ERROR = "provider-error"
    SANDBOX_ERROR = "sandbox-error"
    BACKEND_EXITED = "backend-exited"
    BACKEND_PROTOCOL_ERROR = "backend-protocol-error"
    TURN_TIMEOUT = "turn-timeout"
    IDLE_TIMEOUT = "idle-timeout"
    CANCELLED = "cancelled"
    RUNNER_INTERRUPTED = "runner-interrupted"
    LEASE_LOST = "lease-lost"
    DISK_FULL = "disk-full"
    WORKSPACE_PUBLISH_FAILED = "workspace-publish-failed"
    RUNNER_INTERNAL_ERROR = "runner-internal-error"

    @property
    def retryable(self) -> bool:
        """Whether a new attempt of the same command may succeed unchanged (§10)."""
        return KIND_INFO[self].retryable

    @property
    def when(self) -> str:
        """The situation that produces this kind, as contract §10 words it."""
        return KIND_INFO[self].when


@dataclass(frozen=True)
class KindInfo:
    """Contract §10 row of one failure kind."""

    retryable: bool
    when: str


_K = FailureKind
KIND_INFO: dict[FailureKind, KindInfo] = {
    _K.BOOT_COMMIT_INVALID: KindInfo(False, "`AGENTRUN_BOOT_COMMIT` missing or not 40 hex"),
    _K.BOOT_FETCH_FAILED: KindInfo(
        True, "the boot commit could not be fetched from the mirror (unreachable, transport error)"
    ),
    _K.BOOT_COMMIT_NOT_FOUND: KindInfo(
        False, "the mirror has the source repository but not `AGENTRUN_BOOT_COMMIT`"
    ),
    _K.RUNNER_ENV_INVALID: KindInfo(
        False,
        "the runner's own environment is incomplete or malformed (`AGENTRUN_MANAGER_URL`, "
        "`AGENTRUN_RUNNER_JOB_ID`, an unwritable runtime home or workspace); stderr line only",
    ),
    _K.CLAIM_REFUSED: KindInfo(
        False,
        "the manager refused the claim: 404 `job-not-found`, 409 `already-claimed` "
        "(`detail.code`); stderr line only",
    ),
    _K.MANAGER_UNREACHABLE: KindInfo(
        True,
        "the claim got no answer but transient failures until the runner's claim deadline; "
        "stderr line only",
    ),
    _K.JOB_SPEC_INVALID: KindInfo(
        False, "the claimed job fails validation (unknown backend, bad input, bad timeouts)"
    ),
    _K.SECRET_MISSING: KindInfo(
        False,
        "token file, provider home or a named transient env var is missing or unreadable",
    ),
    _K.BACKEND_CONFIG_INVALID: KindInfo(
        False,
        "Codex rejects its configuration (missing `CODEX_HOME`, broken `config.toml`, "
        "unknown provider or model provider)",
    ),
    _K.BUNDLE_MIRROR_MISS: KindInfo(
        True, "the mirror has no repository for a bundle's or the workspace's `repoUrl`"
    ),
    _K.BUNDLE_REF_NOT_FOUND: KindInfo(
        False, "the requested ref or commit does not exist in that repository"
    ),
    _K.BUNDLE_FETCH_FAILED: KindInfo(True, "any other fetch failure"),
    _K.BUNDLE_PATH_INVALID: KindInfo(
        False,
        "a bundle `source` is missing, or a `source`/`target` escapes its root "
        "(`..`, absolute path, symlink)",
    ),
    _K.BACKEND_SPAWN_FAILED: KindInfo(
        False, "the Codex binary is missing, not executable, or exits before `initialize` answers"
    ),
    _K.THREAD_RESUME_FAILED: KindInfo(
        False, "`thread/resume` of `session.threadId` fails for any reason"
    ),
    _K.THREAD_START_FAILED: KindInfo(False, "`thread/start` fails"),
    _K.PROVIDER_AUTH: KindInfo(False, "the model provider refused the credentials (HTTP 401/403)"),
    _K.PROVIDER_RATE_LIMITED: KindInfo(True, "HTTP 429 / rate limit after Codex's own retries"),
    _K.PROVIDER_QUOTA: KindInfo(False, "usage limit or quota exhausted"),
    _K.PROVIDER_UNAVAILABLE: KindInfo(True, "HTTP 5xx, overloaded, internal server error"),
    _K.PROVIDER_UNREACHABLE: KindInfo(
        True, "the provider could not be connected to until `timeouts.idleSeconds` ran out"
    ),
    _K.PROVIDER_STREAM_DISCONNECTED: KindInfo(
        True, "the response stream broke or stalled before completion"
    ),
    _K.PROVIDER_BAD_REQUEST: KindInfo(False, "HTTP 400/404, model not found, prompt rejected"),
    _K.CONTEXT_WINDOW_EXCEEDED: KindInfo(
        False, "the thread no longer fits the model's context window"
    ),
    _K.PROVIDER_INVALID_TOOL_CALL: KindInfo(
        True, "the model produced a tool call Codex could not parse or run"
    ),
    _K.PROVIDER_ERROR: KindInfo(True, "any other failed turn reported by Codex"),
    _K.SANDBOX_ERROR: KindInfo(
        False,
        "Codex's sandbox fails: Codex reports it, a command fails because the sandbox cannot "
        "start, or the runner's preflight finds it cannot start before the model is called",
    ),
    _K.BACKEND_EXITED: KindInfo(
        True, "the app-server's stdout closed or it exited during the attempt"
    ),
    _K.BACKEND_PROTOCOL_ERROR: KindInfo(
        False, "the app-server kept sending lines that are not valid protocol messages"
    ),
    _K.TURN_TIMEOUT: KindInfo(True, "`timeouts.turnSeconds` elapsed"),
    _K.IDLE_TIMEOUT: KindInfo(True, "no backend activity for `timeouts.idleSeconds`"),
    _K.CANCELLED: KindInfo(False, "a `cancel` command ended the attempt (status `cancelled`)"),
    _K.RUNNER_INTERRUPTED: KindInfo(
        True, "the runner got SIGTERM (pod eviction, node drain) and stopped the turn"
    ),
    _K.LEASE_LOST: KindInfo(
        True,
        "the manager revoked the lease; the runner stops and cannot report it, so the manager "
        "records this kind itself",
    ),
    _K.DISK_FULL: KindInfo(
        False,
        "the runtime home, the workspace or the session cache ran out of space (ENOSPC), or "
        "came within 5 % of its `…_LIMIT_BYTES` (§1); `detail.path`, `detail.usedBytes`, "
        "`detail.limitBytes`. The runner keeps delivering events from memory when its spool "
        "cannot be written, and still sends the terminal report",
    ),
    _K.WORKSPACE_PUBLISH_FAILED: KindInfo(
        True,
        "the workspace result commit could not be pushed to the mirror's write side after "
        "retries; `finalResponse` is still reported",
    ),
    _K.RUNNER_INTERNAL_ERROR: KindInfo(False, "a bug in the runner"),
}


class RunnerError(Exception):
    """The root of every error the runner raises on purpose.

    Args:
        kind: the contract §10 failure kind this error is reported as.
        message: one human sentence; must already be free of secrets.
        source: which part failed, as the `failure` event's `source` field (§9).
        detail: small JSON-able extra facts (names, codes), never secret values.
    """

    default_source: FailureSource = "runner"
    is_verdict = True
    """A classified failure: a task group whose other failures are only teardown noise
    reports this one (`concurrency.taskgroups.VERDICT_MARKER`, issue 19)."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        source: FailureSource | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.source: FailureSource = source or self.default_source
        self.detail: dict[str, Any] = detail or {}

    @property
    def retryable(self) -> bool:
        """`retryable` of this error's kind (§10)."""
        return self.kind.retryable

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class JobSpecError(RunnerError):
    """The claimed job fails validation (`job-spec-invalid`)."""

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(FailureKind.JOB_SPEC_INVALID, message, detail=detail)


class SecretError(RunnerError):
    """A secret input is missing or unreadable (`secret-missing`); names only, no values."""

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(FailureKind.SECRET_MISSING, message, detail=detail)


class ManagerError(RunnerError):
    """The manager API answered with an error, or could not be reached.

    Attributes:
        status_code: the HTTP status, or None for a transport failure.
        code: the `error.code` of the body (contract §8), e.g. `lease-lost`.
    """

    default_source: FailureSource = "manager"

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(kind, message, detail=detail)
        self.status_code = status_code
        self.code = code


class BundleError(RunnerError):
    """A resource bundle or the workspace could not be materialized."""

    default_source: FailureSource = "bundle"


class BootError(RunnerError):
    """`agentrun-boot` could not get the runner's source commit."""

    default_source: FailureSource = "boot"


class BackendError(RunnerError):
    """The Codex app-server could not be started, configured or understood."""

    default_source: FailureSource = "backend"


class WorkspaceError(RunnerError):
    """The workspace result (§12) could not be captured or published.

    Attributes:
        transient: whether trying again may succeed (a 5xx or a connection failure of
            the mirror's write side, §8); retry loops look at it.
    """

    default_source: FailureSource = "workspace"

    def __init__(
        self, message: str, *, transient: bool = False, detail: dict[str, Any] | None = None
    ) -> None:
        super().__init__(FailureKind.WORKSPACE_PUBLISH_FAILED, message, detail=detail)
        self.transient = transient
