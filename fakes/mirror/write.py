"""The write side of the fake mirror: who may push, what is served, what a push asked.

The write server runs the same CGI host as the read side (`fakes.mirror.server`) on a
second loopback port; these are its decisions. It serves only `git-receive-pack` (the
ref advertisement `GET info/refs?service=git-receive-pack` and the `POST`), with
`http.receivepack=true` and the `pre-receive` hook of `fakes.mirror.hook` as
`core.hooksPath`; with a token, a request must carry `Authorization: Bearer <token>`, as
the runner sends it through git's `http.extraHeader`.
"""

from __future__ import annotations

import gzip
import hmac
import re
from pathlib import Path

from fakes.mirror.state import RefUpdate

__all__ = ["bearer_matches", "is_receive_pack_request", "receive_pack_updates", "write_config"]

_PKT_LENGTH = re.compile(rb"[0-9a-f]{4}")
_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def write_config(hooks_dir: Path) -> dict[str, str]:
    """The git config (as `GIT_CONFIG_*` entries) of the write side's `git http-backend`."""
    return {"http.receivepack": "true", "core.hooksPath": str(hooks_dir)}


def is_receive_pack_request(method: str, rest: str, service: str | None) -> bool:
    """Whether a request is one the write side serves (anything else is a 404).

    Args:
        method: `GET` or `POST`.
        rest: the path after `OWNER/REPO.git`, e.g. `/info/refs`.
        service: the `service` query parameter, if any.
    """
    if method == "GET":
        return rest == "/info/refs" and service == "git-receive-pack"
    return method == "POST" and rest == "/git-receive-pack"


def bearer_matches(authorization: str | None, token: str | None) -> bool:
    """Whether an `Authorization` header value is `Bearer <token>` (True if no token)."""
    if token is None:
        return True
    if authorization is None:
        return False
    scheme, _, credential = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credential.strip().encode(), token.encode()
    )


def receive_pack_updates(body: bytes, content_encoding: str) -> tuple[RefUpdate, ...]:
    """The ref update commands at the start of a receive-pack request body.

    The body is pkt-lines (`shallow ID` lines of a shallow client, then `OLD NEW REF`,
    the first one followed by NUL and capabilities), a flush `0000`, then the PACK.
    A body git gzipped (`Content-Encoding: gzip`) is inflated first; anything malformed
    ends the list.

    Args:
        body: the request body as received.
        content_encoding: its `Content-Encoding` header (empty if none).

    Returns:
        The updates in the order sent.
    """
    if content_encoding.strip().lower() in ("gzip", "x-gzip"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return ()
    updates: list[RefUpdate] = []
    offset = 0
    while _PKT_LENGTH.fullmatch(body[offset : offset + 4]):
        length = int(body[offset : offset + 4], 16)
        if length < 4:  # flush (0000) or delim: the commands are over
            break
        line = body[offset + 4 : offset + length].split(b"\0", 1)[0].rstrip(b"\n")
        offset += length
        fields = line.decode("utf-8", "replace").split(" ")
        if fields[0] == "shallow":
            continue
        if len(fields) != 3 or not (_ID.fullmatch(fields[0]) and _ID.fullmatch(fields[1])):
            break
        updates.append(RefUpdate(old=fields[0], new=fields[1], ref=fields[2]))
    return tuple(updates)
