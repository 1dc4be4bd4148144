"""A replaying `codex app-server`: the fastest possible producer of a recorded stream.

`bench_throughput` records the fake app-server's whole turn once (`record_stream`) and
puts the recording in `CODEX_HOME/bench-replay.jsonl`. This process then answers
`initialize`, `thread/start` and `turn/start` with the recorded results and, on
`turn/start`, writes every recorded notification to stdout in one go, so the consumer
under test, not the producer, sets the pace. Run as `bench/bin/codex app-server`
(`--version` works too). Stdlib only; exits 0 on stdin EOF.

Recording format: line 1 is `{"results": {method: result}}`, every further line is one
notification exactly as the fake wrote it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RECORDING_NAME = "bench-replay.jsonl"


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def main() -> int:
    """Serve one client on stdin/stdout from the recording in `CODEX_HOME`."""
    if "--version" in sys.argv[1:]:
        print("codex-cli 0.169.0-replay")
        return 0
    home = Path(os.environ.get("CODEX_HOME", "."))
    with open(home / RECORDING_NAME, "rb") as recording:
        results = json.loads(recording.readline())["results"]
        stream = recording.read()
    for line in sys.stdin.buffer:
        message = json.loads(line)
        if "id" not in message or "method" not in message:
            continue
        method = message["method"]
        reply = {"id": message["id"], "result": results.get(method, {})}
        _write(json.dumps(reply).encode() + b"\n")
        if method == "turn/start":
            _write(stream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
