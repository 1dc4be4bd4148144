"""Scenarios of the fake app-server: what each turn does, written as JSON data.

A scenario is a JSON object (camelCase keys) validated by the pydantic models below:

    {"description": "…",
     "requests": {"thread/start": {"action": "neverAnswer"}},
     "turns": [{"steps": [{"kind": "agentMessage", "text": "Hello", "deltas": 3}]}]}

The n-th `turn/start` of a process plays `turns[n]`; turns beyond the list replay the
last one. Each step has a `kind`; unknown keys are refused so a typo fails at load time
with a message naming the step and the field (e.g. `turns.0.steps.1.agentMessage.dltas`).
Steps that end the turn or the process (`fail`, `hang`, `crash`) must be last.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "DEFAULT_SCENARIO",
    "FileChange",
    "RequestOverride",
    "Scenario",
    "ScenarioError",
    "Step",
    "TurnScript",
    "Usage",
    "load_scenario",
    "parse_scenario",
]


class ScenarioError(ValueError):
    """A scenario file could not be read or does not validate (the message says where)."""


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class Usage(_Model):
    """Token counts of one model response, as `thread/tokenUsage/updated` reports them.

    `total` accumulates over the thread and `last` is this response
    (codex-app-server.md §4). Defaults are the mock's numbers seen there.
    """

    input_tokens: int = Field(default=100, ge=0)
    cached_input_tokens: int = Field(default=20, ge=0)
    output_tokens: int = Field(default=7, ge=0)
    reasoning_output_tokens: int = Field(default=3, ge=0)


class FileChange(_Model):
    """One entry of a `fileChange` item (`FileUpdateChange`, §4): path, kind, diff."""

    path: str
    kind: Literal["add", "delete", "update"] = "add"
    diff: str = ""


class AgentMessageStep(_Model):
    """An `agentMessage` item: `item/started`, N `item/agentMessage/delta`, `item/completed`.

    Give `text` (split into `deltas` near-equal pieces) or `deltaText` (repeated `deltas`
    times, generated lazily: `{"deltaText": "x", "deltas": 100000}` is the flood).
    `deltasPerSecond` paces them; `stampDeltas` appends the emit time to each.
    """

    kind: Literal["agentMessage"]
    text: str | None = None
    delta_text: str | None = None
    deltas: int = Field(default=1, ge=1, le=10_000_000)
    id: str | None = None
    deltas_per_second: float | None = Field(default=None, gt=0)
    """Pace the deltas at this average rate (None: as fast as the client reads)."""
    stamp_deltas: bool = False
    """Append `<µs since the epoch>` to each delta, taken as it is queued for stdout
    (benchmarks measure delivery latency from it)."""

    @model_validator(mode="after")
    def _one_source(self) -> AgentMessageStep:
        if (self.text is None) == (self.delta_text is None):
            raise ValueError("give exactly one of text and deltaText")
        if self.text is not None and self.deltas > max(1, len(self.text)):
            raise ValueError(f"deltas={self.deltas} is more than the characters of text")
        if self.delta_text == "":
            raise ValueError("deltaText must not be empty")
        return self


class ReasoningStep(_Model):
    """A `reasoning` item with one `item/reasoning/summaryTextDelta` per summary part."""

    kind: Literal["reasoning"]
    summary: list[str] = Field(min_length=1)
    id: str | None = None


class CommandExecutionStep(_Model):
    """A `commandExecution` item: output deltas, then `completed` (exit 0) or `failed`."""

    kind: Literal["commandExecution"]
    command: str
    output: list[str] = Field(default_factory=list)
    exit_code: int = 0
    cwd: str | None = None
    duration_ms: int = Field(default=18, ge=0)
    id: str | None = None


class FileChangeStep(_Model):
    """A `fileChange` item followed by `turn/diff/updated` (§4, apply_patch)."""

    kind: Literal["fileChange"]
    changes: list[FileChange] = Field(min_length=1)
    id: str | None = None


class TokenUsageStep(Usage):
    """An extra `thread/tokenUsage/updated` (one per model response, §4)."""

    kind: Literal["tokenUsage"]


class ErrorStep(_Model):
    """An `error` notification that does not end the turn by itself (§8, e.g. a retry)."""

    kind: Literal["error"]
    message: str
    codex_error_info: Any = None
    will_retry: bool = True
    additional_details: str | None = None


class FailStep(_Model):
    """The turn fails: `thread/status/changed systemError`, `error willRetry:false`,
    `turn/completed failed` carrying the same TurnError (§8). Must be last."""

    kind: Literal["fail"]
    message: str
    codex_error_info: Any = None
    additional_details: str | None = None


class RawFunctionCallOutputStep(_Model):
    """`rawResponseItem/completed` with a `function_call_output` (§7); emitted only when
    the thread was started with `experimentalRawEvents` (and `experimentalApi`)."""

    kind: Literal["rawFunctionCallOutput"]
    call_id: str
    output: str


class CommandApprovalStep(_Model):
    """`item/commandExecution/requestApproval` (§6); the command runs only if accepted."""

    kind: Literal["commandApproval"]
    command: str
    output: list[str] = Field(default_factory=list)
    exit_code: int = 0
    reason: str | None = None
    id: str | None = None


class FileChangeApprovalStep(_Model):
    """`item/fileChange/requestApproval` (§6) for a `fileChange` item."""

    kind: Literal["fileChangeApproval"]
    changes: list[FileChange] = Field(min_length=1)
    reason: str | None = None
    id: str | None = None


class DynamicToolCallStep(_Model):
    """`item/tool/call` (§6) inside a `dynamicToolCall` item; the answer fills the item."""

    kind: Literal["dynamicToolCall"]
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    namespace: str | None = None
    id: str | None = None


class RequestUserInputStep(_Model):
    """`item/tool/requestUserInput` (§6) with the given `ToolRequestUserInputQuestion`s."""

    kind: Literal["requestUserInput"]
    questions: list[dict[str, Any]] = Field(min_length=1)
    id: str | None = None


class HangStep(_Model):
    """The turn goes quiet forever, until `turn/interrupt` or stdin EOF. Must be last."""

    kind: Literal["hang"]


class PauseStep(_Model):
    """Nothing for `ms` milliseconds (a slow model), then the next step."""

    kind: Literal["pause"]
    ms: int = Field(ge=0, le=3_600_000)


class CrashStep(_Model):
    """The process dies here: `exitCode`, or `signal` (e.g. `SIGKILL`). Must be last."""

    kind: Literal["crash"]
    exit_code: int = Field(default=1, ge=0, le=255)
    signal: str | None = None
    stderr: str | None = None

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str | None) -> str | None:
        if value is not None and value not in signal.Signals.__members__:
            raise ValueError(f"unknown signal {value!r} (e.g. SIGKILL, SIGTERM)")
        return value


class MalformedLinesStep(_Model):
    """`count` stdout lines that are not JSON (the real server never does this)."""

    kind: Literal["malformedLines"]
    count: int = Field(default=1, ge=1, le=1_000_000)
    text: str = Field(default="this is not json {", min_length=1)

    @field_validator("text")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value:
            raise ValueError("text must not contain a newline")
        return value


class HugeLineStep(_Model):
    """One stdout line of about `sizeBytes`: `garbage` (not JSON) or `agentMessage` (a
    valid agentMessage item whose single delta, and completed text, is that long)."""

    kind: Literal["hugeLine"]
    size_bytes: int = Field(default=5 * 1024 * 1024, ge=1, le=512 * 1024 * 1024)
    form: Literal["garbage", "agentMessage"] = "garbage"


class StderrStep(_Model):
    """Noise on stderr: each of `lines`, `repeat` times."""

    kind: Literal["stderr"]
    lines: list[str] = Field(min_length=1)
    repeat: int = Field(default=1, ge=1, le=1_000_000)


Step = Annotated[
    AgentMessageStep
    | ReasoningStep
    | CommandExecutionStep
    | FileChangeStep
    | TokenUsageStep
    | ErrorStep
    | FailStep
    | RawFunctionCallOutputStep
    | CommandApprovalStep
    | FileChangeApprovalStep
    | DynamicToolCallStep
    | RequestUserInputStep
    | HangStep
    | PauseStep
    | CrashStep
    | MalformedLinesStep
    | HugeLineStep
    | StderrStep,
    Field(discriminator="kind"),
]

_LAST_ONLY = (FailStep, HangStep, CrashStep)


def _check_last_only(steps: list[Any], where: str) -> None:
    for index, step in enumerate(steps[:-1]):
        if isinstance(step, _LAST_ONLY):
            raise ValueError(f"{where}.{index}: a {step.kind!r} step must be the last step")


class TurnScript(_Model):
    """What one turn does.

    Attributes:
        steps: played in order after the `userMessage` item.
        usage: one `thread/tokenUsage/updated` just before a completed turn ends
            (null: none).
        after_steer: when set, a `turn/steer` abandons the remaining steps and plays these
            instead (Codex aborts the in-flight model request on steer, §5); when null,
            the steps go on and the steer only adds its `userMessage` item.
    """

    steps: list[Step] = Field(default_factory=list)
    usage: Usage | None = Field(default_factory=Usage)
    after_steer: list[Step] | None = None

    @model_validator(mode="after")
    def _terminal_steps_last(self) -> TurnScript:
        _check_last_only(self.steps, "steps")
        _check_last_only(self.after_steer or [], "afterSteer")
        return self


class RequestOverride(_Model):
    """What the fake does instead of answering a client request of one method.

    `neverAnswer`: no response at all (the turn never starts, nothing blocks the reader).
    `crash`: exit with `exitCode` (or die by `signal`) on receipt, after `stderr`.
    `error`: answer `{"code": code, "message": message}`.
    """

    action: Literal["neverAnswer", "crash", "error"]
    exit_code: int = Field(default=1, ge=0, le=255)
    signal: str | None = None
    stderr: str | None = None
    code: int = -32600
    message: str = "scripted error"


class Scenario(_Model):
    """A whole fake app-server run.

    Attributes:
        description: free text.
        model / model_provider: reported in thread answers unless `CODEX_HOME/config.toml`
            names `model` / `model_provider` (as the real server reads its config).
        stderr_at_startup: lines written to stderr when the process starts.
        requests: per client method, a `RequestOverride`.
        turns: one `TurnScript` per `turn/start`; the last repeats.
        record_file: where client messages and server-request answers are recorded
            (JSONL); null means `$CODEX_HOME/fake-codex-record.jsonl`.
        sandbox: whether `<fake> sandbox … -- CMD` runs CMD or fails as Codex does
            without bubblewrap (`fakes.app_server.sandbox`).
    """

    description: str = ""
    model: str = "fake-model"
    model_provider: str = "openai"
    stderr_at_startup: list[str] = Field(default_factory=list)
    requests: dict[str, RequestOverride] = Field(default_factory=dict)
    turns: list[TurnScript] = Field(min_length=1)
    record_file: str | None = None
    sandbox: Literal["available", "unavailable"] = "available"

    def turn(self, index: int) -> TurnScript:
        """The script of the `index`-th turn (0-based) of the process; the last repeats."""
        return self.turns[min(index, len(self.turns) - 1)]


DEFAULT_SCENARIO = Scenario(
    description="The built-in default: one plain answer.",
    turns=[TurnScript(steps=[AgentMessageStep(kind="agentMessage", text="Hello from the fake.")])],
)
"""Played when no scenario is given (see `fakes.app_server.__main__`)."""

_ADAPTER = TypeAdapter(Scenario)


def parse_scenario(data: Any, *, source: str = "<data>") -> Scenario:
    """Validate scenario data.

    Raises:
        ScenarioError: naming `source` and every invalid location.
    """
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ScenarioError(f"invalid scenario {source}: {problems}") from exc


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario JSON file.

    Raises:
        ScenarioError: unreadable file, invalid JSON, or invalid scenario.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ScenarioError(f"scenario {path} is not valid JSON: {exc}") from exc
    return parse_scenario(data, source=str(path))
