"""The scripted model without Codex: script validation, SSE encoding, and the HTTP server."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from fakes.model import (
    EXHAUSTED_ERROR_CODE,
    SCRIPTS_DIR,
    ScriptError,
    load_script,
    parse_script,
    serve_scripted_model,
    write_codex_config,
)
from fakes.model.codex_config import toml_value
from fakes.model.script import FunctionCallStep, TextStep
from fakes.model.sse import encode_event, plan_stream, split_text

pytestmark = pytest.mark.anyio

PROMPT = {"model": "mock-model", "stream": True, "input": []}


def steps(*raw: dict[str, Any]) -> list[Any]:
    return list(parse_script({"steps": list(raw)}).steps)


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Decode `event:`/`data:` frames, checking the event name matches the payload type."""
    events = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name_line, data_line = frame.split("\n")
        payload = json.loads(data_line.removeprefix("data: "))
        assert name_line == f"event: {payload['type']}"
        events.append(payload)
    return events


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


# -- scripts -------------------------------------------------------------------------


def test_every_shipped_script_validates() -> None:
    paths = sorted(SCRIPTS_DIR.glob("*.json"))
    assert len(paths) >= 20
    for path in paths:
        assert load_script(path).steps, path.name


def test_an_unknown_step_kind_is_rejected_with_its_location() -> None:
    with pytest.raises(ScriptError, match=r"steps\.1"):
        parse_script({"steps": [{"kind": "text", "text": "a"}, {"kind": "sing"}]})


def test_a_misspelled_field_is_rejected_rather_than_ignored() -> None:
    with pytest.raises(ScriptError, match="delta"):
        parse_script({"steps": [{"kind": "text", "text": "abc", "delta": 2}]})


def test_a_function_call_needs_exactly_one_form_of_arguments() -> None:
    with pytest.raises(ScriptError, match="exactly one"):
        parse_script({"steps": [{"kind": "function_call", "name": "x"}]})
    with pytest.raises(ScriptError, match="exactly one"):
        parse_script(
            {
                "steps": [
                    {"kind": "function_call", "name": "x", "arguments": {}, "raw_arguments": ""}
                ]
            }
        )


def test_more_deltas_than_characters_is_rejected() -> None:
    with pytest.raises(ScriptError, match="deltas=5"):
        parse_script({"steps": [{"kind": "text", "text": "abc", "deltas": 5}]})


def test_a_file_that_is_not_json_is_a_script_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"broken\.json"):
        load_script(path)


# -- SSE -----------------------------------------------------------------------------


def test_an_event_is_framed_with_its_type_as_the_event_name() -> None:
    assert encode_event({"type": "response.created", "response": {"id": "r"}}) == (
        b'event: response.created\ndata: {"type":"response.created","response":{"id":"r"}}\n\n'
    )


def test_an_event_without_a_type_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="type"):
        encode_event({"delta": "x"})


@pytest.mark.parametrize(("text", "parts"), [("a", 1), ("abcdefg", 3), ("héllo wörld", 11)])
def test_split_text_gives_non_empty_chunks_that_join_back(text: str, parts: int) -> None:
    chunks = split_text(text, parts)
    assert len(chunks) == parts
    assert all(chunks)
    assert "".join(chunks) == text


def test_a_text_step_streams_reasoning_then_deltas_then_completion_with_usage() -> None:
    step = TextStep.model_validate(
        {
            "kind": "text",
            "text": "Hello!",
            "deltas": 2,
            "reasoning": ["plan"],
            "usage": {"input_tokens": 5, "output_tokens": 2, "cached_input_tokens": 1},
        }
    )
    plan = plan_stream(step, 4)
    types = [event["type"] for event in plan.events]
    assert types == [
        "response.created",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.output_item.done",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ]
    assert plan.ending == "end"
    deltas = [e["delta"] for e in plan.events if e["type"] == "response.output_text.delta"]
    assert deltas == ["Hel", "lo!"]
    assert plan.events[-1]["response"] == {
        "id": "resp_4",
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 1},
            "output_tokens": 2,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 7,
        },
    }


def test_raw_arguments_are_sent_verbatim_and_the_namespace_is_kept() -> None:
    step = FunctionCallStep.model_validate(
        {"kind": "function_call", "name": "echo", "raw_arguments": '{"a": ', "namespace": "mcp__p"}
    )
    (item_done,) = [e for e in plan_stream(step, 2).events if e["type"].endswith("item.done")]
    assert item_done["item"] == {
        "type": "function_call",
        "id": "fc_2",
        "call_id": "call_2",
        "name": "echo",
        "arguments": '{"a": ',
        "namespace": "mcp__p",
    }


# -- Codex config --------------------------------------------------------------------


def test_the_codex_config_names_the_mock_provider_and_a_freeform_apply_patch_catalog(
    tmp_path: Path,
) -> None:
    path = write_codex_config(
        tmp_path / "home",
        "http://127.0.0.1:9/v1",
        stream_idle_timeout_ms=1500,
        extra={"approval_policy": "never", "features.some-flag": True},
    )
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    assert config["model"] == "mock-model"
    assert config["model_provider"] == "mock"
    assert config["approval_policy"] == "never"
    assert config["features"] == {"some-flag": True}
    assert config["model_providers"]["mock"] == {
        "name": "Scripted model",
        "base_url": "http://127.0.0.1:9/v1",
        "wire_api": "responses",
        "requires_openai_auth": False,
        "request_max_retries": 0,
        "stream_max_retries": 0,
        "stream_idle_timeout_ms": 1500,
    }
    catalog = json.loads(Path(config["model_catalog_json"]).read_text(encoding="utf-8"))
    (model,) = catalog["models"]
    assert model["slug"] == "mock-model"
    assert model["apply_patch_tool_type"] == "freeform"


def test_toml_values_escape_quotes_and_refuse_unknown_types() -> None:
    assert tomllib.loads("k = " + toml_value('a"b\\c\nd'))["k"] == 'a"b\\c\nd'
    assert toml_value([1, "x", False]) == '[1, "x", false]'
    with pytest.raises(TypeError):
        toml_value({"a": 1})


# -- the server ----------------------------------------------------------------------


async def test_a_text_step_is_served_as_an_event_stream_and_the_request_is_recorded(
    client: httpx.AsyncClient,
) -> None:
    async with serve_scripted_model(steps({"kind": "text", "text": "Hi there", "deltas": 2})) as m:
        assert m.base_url.startswith("http://127.0.0.1:")
        response = await client.post(
            f"{m.base_url}/responses",
            json=PROMPT,
            headers={"authorization": "Bearer not-a-secret", "originator": "probe"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.text)
        assert events[-1]["type"] == "response.completed"
        (recorded,) = m.requests
        assert recorded.number == 1
        assert recorded.body == PROMPT
        assert recorded.headers["originator"] == "probe"
        assert "authorization" not in recorded.headers
        assert m.steps_served == 1


async def test_a_request_after_the_last_step_gets_a_loud_400_not_a_retryable_5xx(
    client: httpx.AsyncClient,
) -> None:
    async with serve_scripted_model(steps({"kind": "text", "text": "only"})) as model:
        await client.post(f"{model.base_url}/responses", json=PROMPT)
        response = await client.post(f"{model.base_url}/responses", json=PROMPT)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == EXHAUSTED_ERROR_CODE
        assert "no step left for request 2" in error["message"]
        assert [r.number for r in model.exhausted_requests] == [2]
        assert model.steps_served == 1


async def test_an_http_error_step_sends_its_status_body_and_retry_after(
    client: httpx.AsyncClient,
) -> None:
    script = steps(
        {
            "kind": "http_error",
            "status": 429,
            "code": "rate_limit_exceeded",
            "retry_after_seconds": 1,
        },
        {"kind": "http_error", "status": 503, "raw_body": "overloaded"},
    )
    async with serve_scripted_model(script) as model:
        first = await client.post(f"{model.base_url}/responses", json=PROMPT)
        second = await client.post(f"{model.base_url}/responses", json=PROMPT)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "1"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert (second.status_code, second.text) == (503, "overloaded")


async def test_other_routes_get_404_and_consume_no_step(client: httpx.AsyncClient) -> None:
    async with serve_scripted_model(steps({"kind": "text", "text": "x"})) as model:
        response = await client.get(f"{model.base_url}/models")
        assert response.status_code == 404
        assert model.requests[0].number is None
        assert model.steps_served == 0


async def test_a_reset_step_drops_the_connection_without_any_http_response(
    client: httpx.AsyncClient,
) -> None:
    async with serve_scripted_model(steps({"kind": "reset"}, {"kind": "text", "text": "ok"})) as m:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post(f"{m.base_url}/responses", json=PROMPT)
        # The server keeps serving the next step on a new connection.
        after = await client.post(f"{m.base_url}/responses", json=PROMPT)
        assert after.status_code == 200


async def test_a_cut_stream_ends_after_its_deltas_without_completion(
    client: httpx.AsyncClient,
) -> None:
    async with serve_scripted_model(steps({"kind": "stream_cut", "deltas": ["He", "llo"]})) as m:
        response = await client.post(f"{m.base_url}/responses", json=PROMPT)
    types = [event["type"] for event in parse_sse(response.text)]
    assert types == [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_text.delta",
    ]


async def test_a_hang_holds_the_stream_open_until_the_test_releases_it(
    client: httpx.AsyncClient,
) -> None:
    async with serve_scripted_model(steps({"kind": "hang", "deltas": ["partial"]})) as model:
        async with client.stream("POST", f"{model.base_url}/responses", json=PROMPT) as response:
            lines = response.aiter_lines()
            with anyio.fail_after(5):
                assert (await anext(lines)) == "event: response.created"
                await model.wait_for_request(1)
            model.release(1)
            with anyio.fail_after(5):
                rest = [line async for line in lines]
        assert not any("response.completed" in line for line in rest)
        assert any('"delta":"partial"' in line for line in rest)


async def test_leaving_the_server_block_ends_a_hanging_stream_promptly(
    client: httpx.AsyncClient,
) -> None:
    received = bytearray()

    async def read_until_closed(base_url: str) -> None:
        async with client.stream("POST", f"{base_url}/responses", json=PROMPT) as response:
            async for chunk in response.aiter_bytes():
                received.extend(chunk)

    with anyio.fail_after(10):
        # The server block exits first, while the reader still waits on the stream.
        async with (
            anyio.create_task_group() as group,
            serve_scripted_model(steps({"kind": "hang"})) as model,
        ):
            group.start_soon(read_until_closed, model.base_url)
            await model.wait_for_request(1)
    assert b"response.created" in received
    assert b"response.completed" not in received


async def test_waiting_for_a_request_returns_once_it_arrives(client: httpx.AsyncClient) -> None:
    script = steps({"kind": "text", "text": "a"}, {"kind": "text", "text": "b"})
    async with serve_scripted_model(script) as model, anyio.create_task_group() as group:

        async def post_first() -> None:
            await client.post(f"{model.base_url}/responses", json=PROMPT)

        group.start_soon(post_first)
        with anyio.fail_after(5):
            first = await model.wait_for_request(1)
        assert first.number == 1
        await client.post(f"{model.base_url}/responses", json={"second": True})
        with anyio.fail_after(5):
            second = await model.wait_for_request(2)
        assert second.body == {"second": True}


async def test_an_error_in_the_block_propagates_unwrapped() -> None:
    with pytest.raises(KeyError, match="boom"):
        async with serve_scripted_model(steps({"kind": "text", "text": "x"})):
            raise KeyError("boom")


async def test_the_command_line_serves_a_script_file_on_the_port_it_prints() -> None:
    script = SCRIPTS_DIR / "plain-answer.json"
    command = [sys.executable, "-m", "fakes.model", "--script", str(script), "--port", "0"]
    async with await anyio.open_process(command, stderr=subprocess.DEVNULL) as process:
        try:
            assert process.stdout is not None
            with anyio.fail_after(20):
                banner = b""
                while not banner.endswith(b"\n"):
                    banner += await process.stdout.receive(1)
                base_url = banner.decode().removeprefix("listening on ").strip()
                async with httpx.AsyncClient(timeout=10) as http:
                    response = await http.post(f"{base_url}/responses", json=PROMPT)
            assert "Hello there, this is the scripted model" in "".join(
                e.get("delta", "") for e in parse_sse(response.text)
            )
        finally:
            process.terminate()
            with anyio.fail_after(10):
                await process.wait()
