"""Arbitrary bytes from the backend never crash the transport, and nothing is lost."""

from __future__ import annotations

from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.codex.transport import ProtocolError, StdioTransport, parse_line

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_line_is_either_a_json_object_or_a_protocol_error(line: bytes) -> None:
    parsed = parse_line(line)
    assert isinstance(parsed, dict | ProtocolError)


class _Chunks:
    """A stand-in for a child's stdout that returns the given chunks, then EOF."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self.chunks:
            raise anyio.EndOfStream
        return self.chunks.pop(0)


class _Process:
    def __init__(self, chunks: list[bytes]) -> None:
        self.stdout = _Chunks(chunks)
        self.pid = 0


lines = st.lists(
    st.one_of(
        st.binary(max_size=300).filter(lambda b: b"\n" not in b),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(
            lambda d: repr(d).replace("'", '"').encode()
        ),
    ),
    max_size=30,
)


@SETTINGS
@given(lines, st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=10))
def test_lines_split_anywhere_arrive_one_value_per_non_blank_line(
    raw_lines: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(line + b"\n" for line in raw_lines)
    chunks: list[bytes] = []
    position = 0
    for cut in cuts * (len(data) // max(1, sum(cuts)) + 1):
        if position >= len(data):
            break
        chunks.append(data[position : position + cut])
        position += cut
    if position < len(data):
        chunks.append(data[position:])

    async def main() -> list[Any]:
        send, receive = anyio.create_memory_object_stream[Any](1000)
        transport = StdioTransport(_Process(chunks), receive)  # type: ignore[arg-type]
        await transport._pump_stdout(send)
        async with receive:
            return [item async for item in receive]

    received = anyio.run(main)
    expected = [line for line in raw_lines if line.strip()]
    assert len(received) == len(expected)
    for item, line in zip(received, expected, strict=True):
        assert item == parse_line(line)
