"""The mirror's shared state: its request log and its failure knobs.

`GitMirror` is what tests hold; the HTTP handler threads record into it and ask it
whether to inject a failure, under one lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitMirror", "MirrorRequest", "repo_key"]


@dataclass(frozen=True)
class MirrorRequest:
    """One HTTP request the mirror received.

    Attributes:
        method: `GET` or `POST`.
        path: the request path without the query, e.g. `/o/r.git/git-upload-pack`.
        repo: the repository path it addressed (`o/r.git`), or None if none.
        service: `git-upload-pack` (ref advertisement or fetch), `git-receive-pack`, or
            None for other paths.
        status: the HTTP status the mirror answered with.
        injected: whether the answer was a failure injected by a knob.
        command: for a `POST .../git-upload-pack`, the protocol v2 command (`ls-refs`,
            `fetch`), or `fetch` for a protocol v0/v1 negotiation; else None.
    """

    method: str
    path: str
    repo: str | None
    service: str | None
    status: int
    injected: bool = False
    command: str | None = None

    @property
    def is_fetch(self) -> bool:
        """Whether this request asked for objects (an upload-pack `fetch` command)."""
        return (
            self.method == "POST"
            and self.service == "git-upload-pack"
            and (self.command == "fetch")
        )


def repo_key(repo: str) -> str:
    """Normalize `o/r`, `/o/r.git`, `o/r.git/` to the logged form `o/r.git`."""
    key = repo.strip("/")
    return key if key.endswith(".git") else f"{key}.git"


class GitMirror:
    """The running mirror: its URL, its request log and its failure knobs.

    Thread-safe: the log and the knobs are shared with the request threads.

    Attributes:
        root: the directory the bare repositories are served from.
        base_url: `http://127.0.0.1:PORT` (no trailing slash); a repository
            `root/o/r.git` is at `{base_url}/o/r.git`.
    """

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url
        self._lock = threading.Lock()
        self._requests: list[MirrorRequest] = []
        self._fail_next = 0
        self._fail_status = 500
        self._down: dict[str, int] = {}

    # -- request log -------------------------------------------------------------------

    @property
    def requests(self) -> list[MirrorRequest]:
        """A copy of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def fetch_count(self, repo: str | None = None) -> int:
        """Number of object fetches (upload-pack `fetch` requests), of one repo or of all.

        A `git fetch` of a shallow commit into an empty store costs exactly one; `git
        ls-remote` and ref listing (`ls-refs`) cost none.

        Args:
            repo: `o/r` or `o/r.git`; None counts every repository.
        """
        key = None if repo is None else repo_key(repo)
        return sum(1 for r in self.requests if r.is_fetch and (key is None or r.repo == key))

    def clear_log(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self._requests.clear()

    def url_of(self, repo: str) -> str:
        """The mirror URL of a repository (`o/r` → `{base_url}/o/r.git`)."""
        return f"{self.base_url}/{repo_key(repo)}"

    # -- failure knobs -----------------------------------------------------------------

    def fail_next_requests(self, count: int, *, status: int = 500) -> None:
        """Answer the next `count` requests (any repo) with `status` instead of serving."""
        with self._lock:
            self._fail_next = count
            self._fail_status = status

    def set_repo_down(self, repo: str, down: bool = True, *, status: int = 503) -> None:
        """Make every request for one repository answer `status` until set up again."""
        with self._lock:
            if down:
                self._down[repo_key(repo)] = status
            else:
                self._down.pop(repo_key(repo), None)

    # -- used by the request handler ---------------------------------------------------

    def _injected_failure(self, repo: str | None) -> int | None:
        with self._lock:
            if self._fail_next > 0:
                self._fail_next -= 1
                return self._fail_status
            if repo is not None and repo in self._down:
                return self._down[repo]
            return None

    def _record(self, request: MirrorRequest) -> None:
        with self._lock:
            self._requests.append(request)
