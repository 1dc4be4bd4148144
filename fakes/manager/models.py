"""Wire models of the runner's requests, read independently from the contract text.

Every request model forbids unknown fields and coerces nothing (`extra="forbid"`,
`strict=True`): the contract preamble says a manager rejects unknown request fields
with 400, and a fake that quietly coerced `"3"` to `3` would hide client mistakes.
Fields the contract's examples show are required to be present; where a value can
honestly be unknown (no pod in a test, no turn yet) the field is nullable instead.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from fakes.manager.clock import parse_time

NonEmptyStr = Annotated[str, Field(min_length=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
RESULT_REF_PREFIX = "refs/agentrun/runs/"
"""§12: the workspace result commit is pushed under this prefix, never to a branch."""


def _check_time(value: str) -> str:
    parse_time(value)
    return value


def _check_commit(value: str | None) -> str | None:
    if value is not None and _HEX40.match(value) is None:
        raise ValueError("bootCommit must be 40 lowercase hex digits or null")
    return value


def _check_result_ref(value: str | None) -> str | None:
    if value is not None and not value.startswith(RESULT_REF_PREFIX):
        raise ValueError(f"resultRef must be null or start with {RESULT_REF_PREFIX} (§12)")
    return value


Timestamp = Annotated[str, AfterValidator(_check_time)]
"""An RFC 3339 UTC time with milliseconds (contract preamble), kept as sent."""

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lower-case hex digits (§12 `sha256`, `patchSha256`)."""

CommitId = Annotated[str, Field(pattern=r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")]
"""A full git object id: 40 lower-case hex digits (SHA-1) or 64 (SHA-256 repositories)."""

RunnerPhase = Literal[
    "waiting-runner",
    "waiting-model",
    "waiting-tool",
    "idle-after-tool",
    "transport-disconnected",
    "terminal",
]
"""The six phases a runner may send (§4); `runner-heartbeat-stale` is the manager's own."""

TerminalStatus = Literal["succeeded", "failed", "cancelled", "timed-out"]
"""§7 `status`."""

DeliveryState = Literal["received", "forwarded", "accepted", "rejected"]
"""§6 `state`."""

FailureKindName = Literal[
    "boot-commit-invalid",
    "boot-fetch-failed",
    "boot-commit-not-found",
    "job-spec-invalid",
    "secret-missing",
    "backend-config-invalid",
    "bundle-mirror-miss",
    "bundle-ref-not-found",
    "bundle-fetch-failed",
    "bundle-path-invalid",
    "backend-spawn-failed",
    "thread-resume-failed",
    "thread-start-failed",
    "provider-auth",
    "provider-rate-limited",
    "provider-quota",
    "provider-unavailable",
    "provider-unreachable",
    "provider-stream-disconnected",
    "provider-bad-request",
    "context-window-exceeded",
    "provider-invalid-tool-call",
    "provider-error",
    "sandbox-error",
    "backend-exited",
    "backend-protocol-error",
    "turn-timeout",
    "idle-timeout",
    "cancelled",
    "runner-interrupted",
    "lease-lost",
    "disk-full",
    "workspace-publish-failed",
    "runner-internal-error",
]
"""The §10 table, copied from the contract text (not from `contract.failures`).

Left out: the kinds §10 says only ever go to stderr (`runner-env-invalid`,
`claim-refused`, `manager-unreachable`), since no terminal report can carry them.
"""


class RequestModel(BaseModel):
    """Base of every runner request: unknown fields are 400, nothing is coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# §2 claim ---------------------------------------------------------------------------


class SandboxCapability(RequestModel):
    """§2/§13 `capabilities.sandbox`: who enforces the job's sandbox (`codex` or `pod`)."""

    mode: str | None = None
    enforcer: Literal["codex", "pod"]
    mechanism: Literal["bubblewrap", "pod", "none"]
    denyRead: bool


class Capabilities(RequestModel):
    """§2 `runner.capabilities`. Versions/commit/identity may be null when unknown."""

    backends: list[NonEmptyStr] = Field(min_length=1)
    codexVersion: str | None
    runnerVersion: NonEmptyStr
    bootCommit: Annotated[str | None, AfterValidator(_check_commit)]
    envIdentity: str | None
    python: NonEmptyStr
    cpuCount: Annotated[int, Field(ge=1)]
    memoryBytes: NonNegativeInt
    sandbox: SandboxCapability | None = None


class RunnerInfo(RequestModel):
    """§2 `runner`. `pod`/`node`/`namespace` are null outside Kubernetes (tests, demo)."""

    runnerId: NonEmptyStr
    pod: str | None
    node: str | None
    namespace: str | None
    capabilities: Capabilities


class ClaimRequest(RequestModel):
    """§2 request body: `{"runner": {...}}`."""

    runner: RunnerInfo


# §3 events --------------------------------------------------------------------------


class Event(RequestModel):
    """§3 one event: `{"seq", "type", "time", "commandId", "data"}`; seq is 1-based."""

    seq: Annotated[int, Field(ge=1)]
    type: NonEmptyStr
    time: Timestamp
    commandId: NonEmptyStr
    data: dict[str, Any]


class EventsRequest(RequestModel):
    """§3 request body. The batch-size limits (500 events, 1 MiB) give 413, checked apart."""

    leaseId: NonEmptyStr
    attemptId: NonEmptyStr
    events: list[Event]


# §4 heartbeat -----------------------------------------------------------------------


class ActiveItem(RequestModel):
    """§4 `liveness.activeItem`."""

    itemId: NonEmptyStr
    itemType: NonEmptyStr


class Liveness(RequestModel):
    """§4 `liveness`; values not known yet (no event, no backend, no turn) are null."""

    phase: RunnerPhase
    phaseSince: Timestamp
    lastEventSeq: NonNegativeInt | None
    lastBackendActivityAt: Timestamp | None
    turnId: str | None
    activeItem: ActiveItem | None


class Resources(RequestModel):
    """§4 `resources`: resident bytes, CPU seconds, process count of the runner's tree."""

    rssBytes: NonNegativeInt
    cpuSeconds: Annotated[float, Field(ge=0)]
    processCount: NonNegativeInt


class HeartbeatRequest(RequestModel):
    """§4 request body."""

    leaseId: NonEmptyStr
    attemptId: NonEmptyStr
    liveness: Liveness
    resources: Resources


# §6 delivery ------------------------------------------------------------------------


class DeliveryRequest(RequestModel):
    """§6 request body. `rejected` must say why in `detail.reason`."""

    leaseId: NonEmptyStr
    state: DeliveryState
    time: Timestamp
    detail: dict[str, Any]

    @model_validator(mode="after")
    def _rejected_says_why(self) -> DeliveryRequest:
        reason = self.detail.get("reason")
        if self.state == "rejected" and not (isinstance(reason, str) and reason):
            raise ValueError("state rejected needs a non-empty string detail.reason (§6)")
        return self


# §7 terminal ------------------------------------------------------------------------


class Usage(RequestModel):
    """§7 `usage`, token counts."""

    inputTokens: NonNegativeInt
    cachedInputTokens: NonNegativeInt
    outputTokens: NonNegativeInt


class SessionRef(RequestModel):
    """§7 `session`; `threadId` is null when no thread was started or resumed."""

    sessionId: NonEmptyStr
    threadId: str | None


class WorkspaceResult(RequestModel):
    """§7 `workspace`, the §12 result: what the turn changed and where it was kept.

    `resultRef` is null when nothing was pushed; `patchSha256` is null when no patch
    was uploaded (e.g. over 8 MiB). No change means no commit: `resultCommit` is then
    `baseCommit`; a change means a new commit whose parent is `baseCommit`.
    """

    baseCommit: CommitId
    resultCommit: CommitId
    changed: bool
    resultRef: Annotated[str | None, AfterValidator(_check_result_ref)]
    patchSha256: Sha256Hex | None

    @model_validator(mode="after")
    def _result_commit_follows_changed(self) -> WorkspaceResult:
        if self.changed and self.resultCommit == self.baseCommit:
            raise ValueError("changed is true but resultCommit is baseCommit (§12)")
        if not self.changed and self.resultCommit != self.baseCommit:
            raise ValueError("changed is false, so resultCommit must be baseCommit (§12)")
        return self


class TerminalRequest(RequestModel):
    """§7 request body; `failureKind` is set iff `status != "succeeded"`.

    `workspace` may be null or absent (no workspace, or the turn never started).
    """

    leaseId: NonEmptyStr
    attemptId: NonEmptyStr
    commandId: NonEmptyStr
    status: TerminalStatus
    failureKind: FailureKindName | None
    failureMessage: str | None
    finalResponse: str | None
    session: SessionRef
    turnId: str | None
    usage: Usage | None
    workspace: WorkspaceResult | None = None
    lastSeq: NonNegativeInt
    durationMs: NonNegativeInt

    @model_validator(mode="after")
    def _failure_kind_iff_not_succeeded(self) -> TerminalRequest:
        if self.status == "succeeded":
            if self.failureKind is not None:
                raise ValueError("failureKind must be null when status is succeeded (§7)")
            if self.failureMessage is not None:
                raise ValueError("failureMessage must be null when status is succeeded")
        elif self.failureKind is None:
            raise ValueError(f"failureKind is required when status is {self.status} (§7)")
        return self


# §12 artifacts ----------------------------------------------------------------------


class ArtifactRequest(RequestModel):
    """§12 `POST /runs/{runId}/artifacts` body, e.g. the `workspace.patch` upload.

    Only the shapes are checked here; whether `contentBase64` decodes to `sizeBytes`
    bytes whose SHA-256 is `sha256` is the artifact shelf's check (400 artifact-invalid).
    """

    leaseId: NonEmptyStr
    attemptId: NonEmptyStr
    name: NonEmptyStr
    mediaType: NonEmptyStr
    sha256: Sha256Hex
    sizeBytes: NonNegativeInt
    contentBase64: str
