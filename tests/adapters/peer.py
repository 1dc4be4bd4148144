"""A tiny stdio peer for transport/session tests: `python peer.py MODE`.

Modes:
    lines     print a bad line, a 1 MB JSON line, a JSON array, then exit 0
    echo      answer each request with {"id", "result": {"echo": params}}; exit on EOF
    silent    read stdin and never answer; ignore SIGTERM (the group kill must end it)
    ask       send a server request (id 0), then report the client's reply as a
              notification {"method": "peer/got", "params": <reply>}; then echo mode
    garbage   print 25 non-JSON lines, then wait for EOF
    die       answer nothing and exit 3 at the first request
    stderr    write 300 lines on stderr, then exit 0
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys


def out(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def echo() -> None:
    for line in sys.stdin:
        msg = json.loads(line)
        if "id" in msg and "method" in msg:
            out({"id": msg["id"], "result": {"echo": msg.get("params")}})


def main(mode: str) -> None:
    if mode == "lines":
        sys.stdout.write("{not json\n")
        out({"method": "big", "params": {"text": "x" * 1_000_000}})
        sys.stdout.write("[1, 2]\n")
        sys.stdout.flush()
    elif mode == "echo":
        echo()
    elif mode == "silent":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # A grandchild in the same process group must die with the group.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        out({"method": "peer/grandchild", "params": {"pid": child.pid}})
        for _ in sys.stdin:
            pass
        signal.pause()
    elif mode == "ask":
        out({"id": 0, "method": "item/tool/call", "params": {"tool": "t"}})
        reply = json.loads(sys.stdin.readline())
        out({"method": "peer/got", "params": reply})
        echo()
    elif mode == "garbage":
        for i in range(25):
            sys.stdout.write(f"garbage {i}\n")
        sys.stdout.flush()
        for _ in sys.stdin:
            pass
    elif mode == "die":
        sys.stdin.readline()
        os._exit(3)
    elif mode == "stderr":
        for i in range(300):
            sys.stderr.write(f"\x1b[31mline {i}\x1b[0m\n")


if __name__ == "__main__":
    main(sys.argv[1])
