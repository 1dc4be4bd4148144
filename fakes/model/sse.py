"""Responses API server-sent events: builders for each event and the plan for a step.

Event shapes are the ones Codex 0.169 parses (checked against the real binary and
openai/codex `codex-rs/core/tests/common/responses.rs`). `plan_stream` turns a streaming
step into the list of events to send plus how the body ends; `encode_event` frames one event
as `event: <type>\\ndata: <json>\\n\\n`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fakes.model.script import (
    CustomToolCallStep,
    FunctionCallStep,
    HangStep,
    ResponseFailedStep,
    ResponseIncompleteStep,
    SseErrorStep,
    StreamCutStep,
    TextStep,
    Usage,
)

__all__ = [
    "Event",
    "StreamPlan",
    "StreamingStep",
    "encode_event",
    "plan_stream",
    "split_text",
]

Event = dict[str, Any]
"""One SSE event payload; its `type` field is also the SSE `event:` name."""

StreamingStep = (
    TextStep
    | FunctionCallStep
    | CustomToolCallStep
    | ResponseFailedStep
    | ResponseIncompleteStep
    | StreamCutStep
    | SseErrorStep
    | HangStep
)
"""The steps answered with a 200 `text/event-stream` body."""


@dataclass(frozen=True)
class StreamPlan:
    """What to send for one streaming step.

    Attributes:
        events: SSE events in order; the last is `response.completed` for completing steps.
        ending: `"end"` closes the body after the events; `"hang"` holds it open until
            released, disconnected or shut down, then closes it without completion.
    """

    events: list[Event]
    ending: Literal["end", "hang"] = "end"


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Frame one event as SSE bytes.

    Args:
        event: A payload with a string `type`.

    Returns:
        `b"event: <type>\\ndata: <compact json>\\n\\n"` in UTF-8.

    Raises:
        ValueError: `event` has no string `type`.
    """
    kind = event.get("type")
    if not isinstance(kind, str):
        raise ValueError(f"SSE event needs a string 'type': {event!r}")
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\ndata: {data}\n\n".encode()


def split_text(text: str, parts: int) -> list[str]:
    """Split `text` into `parts` non-empty, roughly equal chunks that join back to `text`.

    Args:
        text: At least `parts` characters.
        parts: 1 or more.

    Returns:
        The chunks; the earlier ones are one character longer when it does not divide.

    Raises:
        ValueError: `parts` is below 1 or above `len(text)`.
    """
    if not 1 <= parts <= len(text):
        raise ValueError(f"cannot split {len(text)} characters into {parts} non-empty parts")
    size, extra = divmod(len(text), parts)
    chunks: list[str] = []
    start = 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        chunks.append(text[start:end])
        start = end
    return chunks


def response_created(response_id: str) -> Event:
    """`response.created`, the first event of every stream."""
    return {"type": "response.created", "response": {"id": response_id}}


def response_completed(response_id: str, usage: Usage) -> Event:
    """`response.completed` with usage; without it Codex treats the stream as cut."""
    return {
        "type": "response.completed",
        "response": {"id": response_id, "usage": usage.wire()},
    }


def message_added(item_id: str, output_index: int) -> Event:
    """`response.output_item.added` for an empty assistant message (Codex: item/started)."""
    return {
        "type": "response.output_item.added",
        "output_index": output_index,
        "item": {"type": "message", "role": "assistant", "id": item_id, "content": []},
    }


def text_delta(item_id: str, output_index: int, delta: str) -> Event:
    """`response.output_text.delta` (Codex: `item/agentMessage/delta`)."""
    return {
        "type": "response.output_text.delta",
        "item_id": item_id,
        "output_index": output_index,
        "content_index": 0,
        "delta": delta,
    }


def message_done(item_id: str, output_index: int, text: str) -> Event:
    """`response.output_item.done` for the finished assistant message."""
    return {
        "type": "response.output_item.done",
        "output_index": output_index,
        "item": {
            "type": "message",
            "role": "assistant",
            "id": item_id,
            "content": [{"type": "output_text", "text": text}],
        },
    }


def reasoning_events(item_id: str, output_index: int, parts: list[str]) -> list[Event]:
    """A reasoning item whose summary has one part per entry of `parts`.

    Returns:
        `output_item.added`, then per part `reasoning_summary_part.added` and one
        `reasoning_summary_text.delta`, then `output_item.done` with the full summary.
    """
    events: list[Event] = [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": {"type": "reasoning", "id": item_id, "summary": []},
        }
    ]
    for index, part in enumerate(parts):
        events.append(
            {
                "type": "response.reasoning_summary_part.added",
                "item_id": item_id,
                "output_index": output_index,
                "summary_index": index,
            }
        )
        events.append(
            {
                "type": "response.reasoning_summary_text.delta",
                "item_id": item_id,
                "output_index": output_index,
                "summary_index": index,
                "delta": part,
            }
        )
    events.append(
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": {
                "type": "reasoning",
                "id": item_id,
                "summary": [{"type": "summary_text", "text": part} for part in parts],
            },
        }
    )
    return events


def _output_item_done(output_index: int, item: dict[str, Any]) -> Event:
    return {"type": "response.output_item.done", "output_index": output_index, "item": item}


def _completing_body(
    step: TextStep | FunctionCallStep | CustomToolCallStep, number: int
) -> list[Event]:
    """The output items of a completing step, after `response.created`."""
    events: list[Event] = []
    output_index = 0
    if step.reasoning:
        events.extend(reasoning_events(f"rs_{number}", output_index, step.reasoning))
        output_index += 1
    call_id = f"call_{number}"
    if isinstance(step, TextStep):
        item_id = f"msg_{number}"
        events.append(message_added(item_id, output_index))
        for delta in split_text(step.text, step.deltas):
            events.append(text_delta(item_id, output_index, delta))
        events.append(message_done(item_id, output_index, step.text))
    elif isinstance(step, FunctionCallStep):
        item: dict[str, Any] = {
            "type": "function_call",
            "id": f"fc_{number}",
            "call_id": step.call_id or call_id,
            "name": step.name,
            "arguments": step.arguments_text(),
        }
        if step.namespace is not None:
            item["namespace"] = step.namespace
        events.append(_output_item_done(output_index, item))
    else:
        events.append(
            _output_item_done(
                output_index,
                {
                    "type": "custom_tool_call",
                    "id": f"ctc_{number}",
                    "call_id": step.call_id or call_id,
                    "name": step.name,
                    "input": step.input,
                },
            )
        )
    return events


def _partial_message(number: int, deltas: list[str]) -> list[Event]:
    if not deltas:
        return []
    item_id = f"msg_{number}"
    return [message_added(item_id, 0), *(text_delta(item_id, 0, d) for d in deltas)]


def plan_stream(step: StreamingStep, number: int) -> StreamPlan:
    """Build the events for a streaming step answering request `number`.

    Item ids derive from `number` (`resp_N`, `msg_N`, `rs_N`, `fc_N`, default call id
    `call_N`), so two steps of one script never share an id.

    Args:
        step: The step to answer with.
        number: The 1-based number of the `POST /v1/responses` being answered.

    Returns:
        The events and how the body ends.
    """
    response_id = f"resp_{number}"
    created = response_created(response_id)
    if isinstance(step, TextStep | FunctionCallStep | CustomToolCallStep):
        body = _completing_body(step, number)
        return StreamPlan([created, *body, response_completed(response_id, step.usage)])
    if isinstance(step, ResponseFailedStep):
        failed: Event = {
            "type": "response.failed",
            "response": {
                "id": response_id,
                "error": {"code": step.code, "message": step.message},
            },
        }
        return StreamPlan([created, failed])
    if isinstance(step, ResponseIncompleteStep):
        incomplete: Event = {
            "type": "response.incomplete",
            "response": {"id": response_id, "incomplete_details": {"reason": step.reason}},
        }
        return StreamPlan([created, incomplete])
    if isinstance(step, SseErrorStep):
        error: Event = {
            "type": "error",
            "code": step.code,
            "message": step.message,
            "param": None,
        }
        return StreamPlan([created, error])
    if isinstance(step, StreamCutStep):
        return StreamPlan([created, *_partial_message(number, step.deltas)])
    return StreamPlan([created, *_partial_message(number, step.deltas)], ending="hang")
