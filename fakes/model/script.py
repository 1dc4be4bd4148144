"""Scripts for the scripted model: one step per `POST /v1/responses`, written as JSON data.

A script is a JSON object `{"description": "...", "steps": [step, ...]}`. Each step has a
`kind` that selects what the server does for the request it answers (stream a text answer,
call a tool, fail with an HTTP status, cut the stream, hang, reset the connection, ...).
Models forbid unknown fields so a typo in a hand-written script fails at load time with a
message that names the step and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

__all__ = [
    "CustomToolCallStep",
    "FunctionCallStep",
    "HangStep",
    "HttpErrorStep",
    "ResetStep",
    "ResponseFailedStep",
    "ResponseIncompleteStep",
    "Script",
    "ScriptError",
    "SseErrorStep",
    "Step",
    "StreamCutStep",
    "TextStep",
    "Usage",
    "load_script",
    "parse_script",
]


class ScriptError(ValueError):
    """A script file could not be read or does not validate.

    The message names the source (file path or `<data>`) and, for validation errors, every
    offending location as pydantic reports it (e.g. `steps.2.text.deltas`).
    """


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Usage(_Model):
    """Token usage reported in `response.completed.response.usage`.

    Field names follow Codex's own `TokenUsage` (what `thread/tokenUsage/updated` shows);
    the server maps them to the Responses API wire names (`input_tokens_details.cached_tokens`,
    `output_tokens_details.reasoning_tokens`).

    Attributes:
        input_tokens: Prompt tokens, including cached ones.
        cached_input_tokens: Prompt tokens served from cache.
        output_tokens: Completion tokens, including reasoning ones.
        reasoning_output_tokens: Completion tokens spent on reasoning.
        total_tokens: Defaults to `input_tokens + output_tokens`.
    """

    input_tokens: int = Field(default=100, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=10, ge=0)
    reasoning_output_tokens: int = Field(default=0, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)

    def wire(self) -> dict[str, Any]:
        """Return the usage object as the Responses API sends it (and Codex 0.169 parses it)."""
        total = self.total_tokens
        if total is None:
            total = self.input_tokens + self.output_tokens
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_input_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_output_tokens},
            "total_tokens": total,
        }


class _CompletingStep(_Model):
    """A step whose stream ends with `response.completed`.

    Attributes:
        reasoning: Reasoning summary parts streamed before the output item, one
            `response.reasoning_summary_text.delta` per part. Empty means no reasoning item.
        usage: Token usage in `response.completed`.
    """

    reasoning: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)


class TextStep(_CompletingStep):
    """An assistant message: `text` streamed as `deltas` roughly equal `output_text.delta`s.

    Example: `{"kind": "text", "text": "Hello there", "deltas": 3}`.
    """

    kind: Literal["text"]
    text: str = Field(min_length=1)
    deltas: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _deltas_fit_text(self) -> TextStep:
        if self.deltas > len(self.text):
            raise ValueError(
                f"deltas={self.deltas} is more than the {len(self.text)} characters of text"
            )
        return self


class FunctionCallStep(_CompletingStep):
    """A `function_call` output item, e.g. `exec_command`.

    Give exactly one of `arguments` (a JSON object, encoded by the server) or
    `raw_arguments` (sent verbatim, so it can be invalid JSON). An unknown `name` makes Codex
    answer `unsupported call: <name>` (Codex 0.169).

    Example: `{"kind": "function_call", "name": "exec_command",
    "arguments": {"cmd": "echo hi"}}`.

    Attributes:
        name: Tool name as Codex advertised it in `tools`.
        arguments: Tool arguments as an object.
        raw_arguments: Argument text sent as is.
        call_id: Defaults to `call_<request number>`; Codex uses it as the item id.
        namespace: For namespaced tools (MCP: `mcp__<server>`).
    """

    kind: Literal["function_call"]
    name: str = Field(min_length=1)
    arguments: dict[str, Any] | None = None
    raw_arguments: str | None = None
    call_id: str | None = Field(default=None, min_length=1)
    namespace: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one_argument_form(self) -> FunctionCallStep:
        if (self.arguments is None) == (self.raw_arguments is None):
            raise ValueError("give exactly one of 'arguments' (object) or 'raw_arguments' (text)")
        return self

    def arguments_text(self) -> str:
        """Return the `arguments` string put on the wire."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments)


class CustomToolCallStep(_CompletingStep):
    """A `custom_tool_call` output item (a freeform tool; by default `apply_patch`).

    Codex offers `apply_patch` only when the model catalog says
    `apply_patch_tool_type = "freeform"` (see `codex_config`).

    Example: `{"kind": "custom_tool_call", "input": "*** Begin Patch\\n...*** End Patch"}`.
    """

    kind: Literal["custom_tool_call"]
    name: str = Field(default="apply_patch", min_length=1)
    input: str
    call_id: str | None = Field(default=None, min_length=1)


class HttpErrorStep(_Model):
    """An HTTP error status instead of a stream.

    The body is `{"error": {"message", "type", "code"}}` unless `raw_body` is given.

    Example: `{"kind": "http_error", "status": 429, "code": "rate_limit_exceeded",
    "retry_after_seconds": 1}`.

    Attributes:
        status: HTTP status, 400-599.
        message: `error.message` in the JSON body.
        type: `error.type`; defaults by status class.
        code: `error.code` (Codex 0.169 keys on `insufficient_quota`,
            `context_length_exceeded`, `model_not_found`, ...).
        raw_body: Sent verbatim as `text/plain` instead of the JSON body.
        retry_after_seconds: Sent as the `retry-after` header.
    """

    kind: Literal["http_error"]
    status: int = Field(ge=400, le=599)
    message: str = "scripted http error"
    type: str | None = None
    code: str | None = None
    raw_body: str | None = None
    retry_after_seconds: float | None = Field(default=None, ge=0)


class ResponseFailedStep(_Model):
    """`response.created` then `response.failed` with `response.error = {code, message}`."""

    kind: Literal["response_failed"]
    code: str = "server_error"
    message: str = "The server had an error."


class ResponseIncompleteStep(_Model):
    """`response.created` then `response.incomplete` with `incomplete_details.reason`."""

    kind: Literal["response_incomplete"]
    reason: str = "max_output_tokens"


class StreamCutStep(_Model):
    """A 200 stream that starts a message, sends `deltas`, then ends with no completion.

    The body ends cleanly (last chunk sent) but `response.completed` never comes; Codex
    0.169 reports `stream closed before response.completed`.
    """

    kind: Literal["stream_cut"]
    deltas: list[str] = Field(default_factory=list)


class SseErrorStep(_Model):
    """`response.created`, an SSE `error` event, then the end of the body."""

    kind: Literal["sse_error"]
    code: str = "server_error"
    message: str = "scripted SSE error"


class HangStep(_Model):
    """`response.created` (plus a started message with `deltas` if given), then silence.

    The stream stays open until the test releases it (`ScriptedModel.release`), the client
    disconnects (Codex steer, interrupt or idle timeout), or the server shuts down. On
    release or shutdown the body ends without `response.completed`.
    """

    kind: Literal["hang"]
    deltas: list[str] = Field(default_factory=list)


class ResetStep(_Model):
    """Read the request, then reset the TCP connection (RST) with no HTTP response at all."""

    kind: Literal["reset"]


Step = Annotated[
    TextStep
    | FunctionCallStep
    | CustomToolCallStep
    | HttpErrorStep
    | ResponseFailedStep
    | ResponseIncompleteStep
    | StreamCutStep
    | SseErrorStep
    | HangStep
    | ResetStep,
    Field(discriminator="kind"),
]
"""One scripted answer; the `kind` field selects the variant."""


class Script(_Model):
    """A whole script: the steps, served in order, one per `POST /v1/responses`.

    Attributes:
        description: Free text for humans.
        steps: The steps; request N (1-based) gets `steps[N - 1]`.
    """

    description: str = ""
    steps: list[Step]


_SCRIPT_ADAPTER: TypeAdapter[Script] = TypeAdapter(Script)


def parse_script(data: object, *, source: str = "<data>") -> Script:
    """Validate already-decoded JSON data as a script.

    Args:
        data: The decoded JSON, e.g. `{"steps": [{"kind": "text", "text": "hi"}]}`.
        source: Named in error messages.

    Returns:
        The validated script.

    Raises:
        ScriptError: The data is not a valid script; the message lists every error.
    """
    try:
        return _SCRIPT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        lines = [f"invalid model script {source}: {exc.error_count()} error(s)"]
        for error in exc.errors(include_url=False):
            location = ".".join(str(part) for part in error["loc"]) or "(root)"
            lines.append(f"  {location}: {error['msg']}")
        raise ScriptError("\n".join(lines)) from exc


def load_script(path: Path) -> Script:
    """Read and validate a script JSON file.

    Args:
        path: A UTF-8 JSON file holding a script object.

    Returns:
        The validated script.

    Raises:
        ScriptError: The file is unreadable, is not JSON, or does not validate.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScriptError(f"cannot read model script {path}: {exc}") from exc
    return parse_script(data, source=str(path))
