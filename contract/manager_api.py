"""Wire models of the manager ⇄ runner API v1.1 (`manager-runner-api.md`), runner side.

Responses from the manager ignore unknown fields (forward compatibility, contract
preamble); what the runner sends is built from these models and dumped by alias, so it
never carries a field the contract does not name (the manager rejects those with 400).
The job's `workspace` and `resourceBundles` entries are `contract.job_spec` models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from contract.job_spec import ResourceBundleSpec, WorkspaceSpec

LivenessPhase = Literal[
    "waiting-runner",
    "waiting-model",
    "waiting-tool",
    "idle-after-tool",
    "transport-disconnected",
    "terminal",
]
"""§4: the phases a runner may send (`runner-heartbeat-stale` is the manager's own)."""

TerminalStatus = Literal["succeeded", "failed", "cancelled", "timed-out"]


def utc_now() -> str:
    """Now as RFC 3339 UTC with milliseconds, e.g. `2026-11-21T20:22:40.123Z` (preamble)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Wire(BaseModel):
    """Base: camelCase on the wire, snake_case in Python, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        """The JSON body for the manager: by alias, every field present (nulls kept)."""
        return self.model_dump(by_alias=True, mode="json")


# --- §2 claim -------------------------------------------------------------------------


class Capabilities(Wire):
    backends: list[str]
    codex_version: str | None
    runner_version: str
    boot_commit: str | None
    env_identity: str
    python: str
    cpu_count: int
    memory_bytes: int
    sandbox: dict[str, Any] | None = None
    """`{enforcer, mechanism, denyRead}` (§13; `mode` is the job's, so null here)."""


class RunnerInfo(Wire):
    runner_id: str
    pod: str
    node: str | None
    namespace: str | None
    capabilities: Capabilities


class ClaimRequest(Wire):
    runner: RunnerInfo


class Lease(Wire):
    lease_id: str
    expires_at: str
    ttl_seconds: int | None = None


ImageDetail = Literal["auto", "low", "high", "original"]
"""Codex 0.171 `ImageDetail`: how finely the model looks at an image."""


class TextInputItem(Wire):
    """`{"type": "text", "text": …}` (§2, §5); Codex `TextUserInput`."""

    type: Literal["text"]
    text: str


class ImageInputItem(Wire):
    """`{"type": "image", "url": …}` or `{"type": "image", "fileId": …}`; Codex `ImageUserInput`."""

    type: Literal["image"]
    url: str | None = None
    file_id: str | None = None
    detail: ImageDetail | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ImageInputItem:
        if (self.url is None) == (self.file_id is None):
            raise ValueError("an image item needs exactly one of url and fileId")
        return self


class LocalImageInputItem(Wire):
    """`{"type": "localImage", "path": …}`; Codex `LocalImageUserInput`."""

    type: Literal["localImage"]
    path: str
    detail: ImageDetail | None = None


class SkillInputItem(Wire):
    """`{"type": "skill", "name": …, "path": …}`; Codex `SkillUserInput`."""

    type: Literal["skill"]
    name: str
    path: str


class MentionInputItem(Wire):
    """`{"type": "mention", "name": …, "path": …}`; Codex `MentionUserInput`."""

    type: Literal["mention"]
    name: str
    path: str


InputItem = Annotated[
    TextInputItem | ImageInputItem | LocalImageInputItem | SkillInputItem | MentionInputItem,
    Field(discriminator="type"),
]
"""One command input item (§2 `command.input[]`, §5 steer `input[]`): the Codex 0.169-0.171
`UserInput` variants the runner forwards, each with its required fields. Any other `type`
is `job-spec-invalid` (job) or a refused command (§5)."""


class CommandSpec(Wire):
    command_id: str = Field(min_length=1)
    type: Literal["turn"]
    input: list[InputItem] = Field(min_length=1)


class SessionSpec(Wire):
    session_id: str
    thread_id: str | None = Field(default=None, min_length=1)


ApprovalPolicy = Literal["untrusted", "on-request", "never"]
"""Codex 0.169-0.171 `AskForApproval` modes (the `granular` object form is not accepted)."""
SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]
"""Codex 0.169-0.171 `SandboxMode`."""


class BackendSpec(Wire):
    kind: Literal["codex"]
    profile: str | None = None
    model: str | None = None
    approval_policy: ApprovalPolicy = "never"
    sandbox: SandboxMode = "workspace-write"
    config_overrides: dict[str, Any] = Field(default_factory=dict)


class Timeouts(Wire):
    turn_seconds: int = Field(default=3600, gt=0)
    idle_seconds: int = Field(default=900, gt=0)


class Limits(Wire):
    max_event_bytes: int = Field(default=65536, ge=1024)


class Job(Wire):
    """The `job` object of the claim response (§2)."""

    runner_job_id: str
    run_id: str = Field(min_length=1)
    attempt_id: str = Field(min_length=1)
    attempt: int = Field(ge=1)
    command: CommandSpec
    session: SessionSpec
    backend: BackendSpec
    workspace: WorkspaceSpec | None = None
    resource_bundles: list[ResourceBundleSpec] = Field(default_factory=list)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    limits: Limits = Field(default_factory=Limits)


class ClaimResponse(Wire):
    lease: Lease
    heartbeat_interval_seconds: int = Field(default=10, gt=0)
    job: dict[str, Any]
    """Validated separately (`Job`), so that a bad job becomes `job-spec-invalid`."""


# --- §3 events --------------------------------------------------------------------------


class Event(Wire):
    seq: int
    type: str
    time: str
    command_id: str | None
    data: dict[str, Any]


class EventsRequest(Wire):
    lease_id: str
    attempt_id: str
    events: list[Event]


class EventsResponse(Wire):
    acked_seq: int


# --- §4 heartbeat -----------------------------------------------------------------------


class ActiveItem(Wire):
    item_id: str
    item_type: str


class Liveness(Wire):
    phase: LivenessPhase
    phase_since: str
    last_event_seq: int
    last_backend_activity_at: str | None
    turn_id: str | None
    active_item: ActiveItem | None


class Resources(Wire):
    rss_bytes: int
    cpu_seconds: float
    process_count: int


class HeartbeatRequest(Wire):
    lease_id: str
    attempt_id: str
    liveness: Liveness
    resources: Resources


class HeartbeatResponse(Wire):
    lease: Lease
    commands_pending: bool = False


# --- §5/§6 commands ---------------------------------------------------------------------


class SteerCommand(Wire):
    """§5 `steer`: more input for the active turn (`turn/steer`)."""

    command_id: str = Field(min_length=1)
    type: Literal["steer"]
    input: list[InputItem] = Field(min_length=1)
    target_command_id: str | None = None


class CancelCommand(Wire):
    """§5 `cancel`: interrupt the turn, end the attempt `cancelled`."""

    command_id: str = Field(min_length=1)
    type: Literal["cancel"]
    reason: str | None = None
    target_command_id: str | None = None


Command = Annotated[SteerCommand | CancelCommand, Field(discriminator="type")]
"""One §5 command; anything else is refused (`invalid-command`, §5/§6)."""


class CommandsResponse(Wire):
    cursor: str | None = None
    commands: list[Any] = Field(default_factory=list)
    """Each validated on its own (`contract.validation.validate_command`), so one bad
    command costs only itself."""


DeliveryState = Literal["received", "forwarded", "accepted", "rejected"]


class DeliveryRequest(Wire):
    lease_id: str
    state: DeliveryState
    time: str
    detail: dict[str, Any] = Field(default_factory=dict)


# --- §7 terminal ------------------------------------------------------------------------


class Usage(Wire):
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0


class TerminalSession(Wire):
    session_id: str
    thread_id: str | None


class TerminalWorkspace(Wire):
    """§7 `workspace`: the result commit of §12 (`patchSha256` only when uploaded)."""

    base_commit: str
    result_commit: str
    changed: bool
    result_ref: str | None
    patch_sha256: str | None


class TerminalRequest(Wire):
    lease_id: str
    attempt_id: str
    command_id: str
    status: TerminalStatus
    failure_kind: str | None
    failure_message: str | None
    final_response: str | None
    session: TerminalSession
    turn_id: str | None
    usage: Usage
    workspace: TerminalWorkspace | None = None
    last_seq: int
    duration_ms: int

    @field_validator("failure_kind")
    @classmethod
    def _kind_matches_status(cls, value: str | None, info: Any) -> str | None:
        status = info.data.get("status")
        if (status == "succeeded") != (value is None):
            raise ValueError("failureKind is set for every status but succeeded (§7)")
        return value


# --- §12 artifacts -----------------------------------------------------------------------


class ArtifactRequest(Wire):
    """§12 `POST /runs/{runId}/artifacts`; idempotent by (`attemptId`, `name`, `sha256`)."""

    lease_id: str
    attempt_id: str
    name: str
    media_type: str
    sha256: str
    size_bytes: int
    content_base64: str


class ArtifactResponse(Wire):
    artifact_id: str


class ErrorBody(Wire):
    code: str = "unknown"
    message: str = ""
