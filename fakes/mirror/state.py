"""The mirror's shared state: its request log, its rules and its failure knobs.

`GitMirror` is what tests hold; the HTTP handler threads of both sides (read and write)
record into it and ask it whether to inject a failure, under one lock. The write side's
ref rules are plain attributes read at request time, so a test may flip one between
two pushes.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["GitMirror", "MirrorRequest", "RefUpdate", "Side", "repo_key"]

Side = Literal["read", "write"]
"""Which server of the mirror a request reached."""


@dataclass(frozen=True)
class RefUpdate:
    """One ref update command of a push, as the client sent it (accepted or not).

    Attributes:
        old: the ref's current id as the client believes it; all zeros to create it.
        new: the id to set; all zeros to delete the ref.
        ref: the full ref name, e.g. `refs/agentrun/runs/R/A`.
    """

    old: str
    new: str
    ref: str

    @property
    def is_create(self) -> bool:
        """Whether the client asked to create the ref (its `old` is all zeros)."""
        return not self.old.strip("0")

    @property
    def is_delete(self) -> bool:
        """Whether the client asked to delete the ref (its `new` is all zeros)."""
        return not self.new.strip("0")


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
        side: `read` (the read-only server at `base_url`) or `write` (the receive-pack
            server at `write_base_url`).
        authorized: on the write side, whether the request carried
            `Authorization: Bearer <write_token>` (always True when no token is
            required, and on the read side, which asks for none). The header's value is
            never stored.
        updates: for a `POST .../git-receive-pack`, the ref update commands at the start
            of its body, in order; else empty.
    """

    method: str
    path: str
    repo: str | None
    service: str | None
    status: int
    injected: bool = False
    command: str | None = None
    side: Side = "read"
    authorized: bool = True
    updates: tuple[RefUpdate, ...] = ()

    @property
    def is_fetch(self) -> bool:
        """Whether this request asked for objects (an upload-pack `fetch` command)."""
        return (
            self.method == "POST"
            and self.service == "git-upload-pack"
            and (self.command == "fetch")
        )

    @property
    def is_push(self) -> bool:
        """Whether this request delivered ref updates (a `POST .../git-receive-pack`)."""
        return self.method == "POST" and self.service == "git-receive-pack"


def repo_key(repo: str) -> str:
    """Normalize `o/r`, `/o/r.git`, `o/r.git/` to the logged form `o/r.git`."""
    key = repo.strip("/")
    return key if key.endswith(".git") else f"{key}.git"


class GitMirror:
    """The running mirror: its URLs, its request log, its rules and its failure knobs.

    Thread-safe: the log and the knobs are shared with the request threads.

    Attributes:
        root: the directory the bare repositories are served from.
        base_url: the read side, `http://127.0.0.1:PORT` (no trailing slash); a
            repository `root/o/r.git` is at `{base_url}/o/r.git`. It refuses pushes.
        write_base_url: the write side, `http://127.0.0.1:PORT2`, serving only
            `git-receive-pack` over the same repositories; None without a write side.
        write_token: the bearer token every write request must carry, or None to
            accept any write request.
        reject_outside_agentrun: the write side refuses a push updating any ref not
            under `refs/agentrun/` (default on, as the cluster's mirror).
        create_only: the write side refuses a push updating an existing ref (forced or
            not) or deleting one (default on, as the cluster's mirror).
        hide_agentrun_refs: the read side does not advertise `refs/agentrun/**`
            (`uploadpack.hideRefs`), though their commits stay fetchable by id
            (default on, as the cluster's mirror).
    """

    def __init__(
        self,
        root: Path,
        base_url: str,
        *,
        write_base_url: str | None = None,
        write_token: str | None = None,
    ) -> None:
        self.root = root
        self.base_url = base_url
        self.write_base_url = write_base_url
        self.write_token = write_token
        self.reject_outside_agentrun = True
        self.create_only = True
        self.hide_agentrun_refs = True
        self._lock = threading.Lock()
        self._requests: list[MirrorRequest] = []
        self._fail_next = 0
        self._fail_status = 500
        self._down: dict[str, int] = {}
        self._write_fail_next = 0
        self._write_fail_next_status = 500
        self._write_fail_until: float | None = None
        self._write_fail_until_status = 500
        self._write_fail_always: int | None = None
        self._gate: threading.Event | None = None
        self._gate_timeout = 0.0
        self._meet: set[str] | None = None
        self._waiting: set[str] = set()
        self._met = threading.Condition(self._lock)
        self.held_past_timeout = 0
        """Read-side requests a hold knob released by its timeout rather than its condition."""

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

    def push_count(self, repo: str | None = None) -> int:
        """Number of pushes (write-side `POST .../git-receive-pack`, not injected failures).

        A push whose updates the hook refused still counts; a push git decides needs
        nothing (`Everything up-to-date`) sends no POST and costs none.

        Args:
            repo: `o/r` or `o/r.git`; None counts every repository.
        """
        return len(self._pushes(repo))

    def pushed_updates(self, repo: str | None = None) -> tuple[RefUpdate, ...]:
        """The ref updates of every push counted by `push_count`, in arrival order.

        These are what clients asked for, accepted or refused; `ref` says what stuck.

        Args:
            repo: `o/r` or `o/r.git`; None takes every repository.
        """
        return tuple(update for r in self._pushes(repo) for update in r.updates)

    def ref(self, repo: str, refname: str) -> str | None:
        """The commit a ref of a served repository points at now, or None if it is absent.

        Blocking (runs `git rev-parse`); fine to call from a test between pushes.

        Args:
            repo: `o/r` or `o/r.git`.
            refname: a full ref name (`refs/agentrun/runs/R/A`) or anything `git
                rev-parse` resolves (`main`).

        Returns:
            The 40-hex commit id (tags are peeled), or None when the ref does not exist.
        """
        result = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{refname}^{{commit}}"],
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_DIR": str(self.root / repo_key(repo)),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout.strip() if result.returncode == 0 else None

    def _pushes(self, repo: str | None) -> list[MirrorRequest]:
        key = None if repo is None else repo_key(repo)
        return [
            r
            for r in self.requests
            if r.side == "write" and r.is_push and not r.injected and (key is None or r.repo == key)
        ]

    def clear_log(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self._requests.clear()

    def url_of(self, repo: str) -> str:
        """The mirror URL of a repository (`o/r` → `{base_url}/o/r.git`)."""
        return f"{self.base_url}/{repo_key(repo)}"

    def write_url_of(self, repo: str) -> str:
        """The write URL of a repository (`o/r` → `{write_base_url}/o/r.git`).

        Raises:
            RuntimeError: the mirror has no write side.
        """
        if self.write_base_url is None:
            raise RuntimeError("this mirror has no write side (serve it with write=True)")
        return f"{self.write_base_url}/{repo_key(repo)}"

    # -- failure knobs -----------------------------------------------------------------

    def fail_next_requests(self, count: int, *, status: int = 500) -> None:
        """Answer the next `count` read-side requests (any repo) with `status`."""
        with self._lock:
            self._fail_next = count
            self._fail_status = status

    def set_repo_down(self, repo: str, down: bool = True, *, status: int = 503) -> None:
        """Make every read-side request for one repository answer `status` until set up."""
        with self._lock:
            if down:
                self._down[repo_key(repo)] = status
            else:
                self._down.pop(repo_key(repo), None)

    def write_fail_next(self, count: int, *, status: int = 500) -> None:
        """Answer the next `count` write-side requests with `status` instead of serving."""
        with self._lock:
            self._write_fail_next = count
            self._write_fail_next_status = status

    def write_fail_for(self, seconds: float, *, status: int = 500) -> None:
        """Answer every write-side request with `status` for `seconds` from now."""
        with self._lock:
            self._write_fail_until = time.monotonic() + seconds
            self._write_fail_until_status = status

    def write_fail_always(self, *, status: int = 500) -> None:
        """Answer every write-side request with `status` until `write_recover()`."""
        with self._lock:
            self._write_fail_always = status

    def write_recover(self) -> None:
        """Turn every write-side failure knob off."""
        with self._lock:
            self._write_fail_always = None
            self._write_fail_until = None
            self._write_fail_next = 0

    def hold_reads_until(self, gate: threading.Event, *, timeout_seconds: float = 10.0) -> None:
        """Hold every read-side request until `gate` is set (e.g. by a test once something
        else has happened), each for at most `timeout_seconds`; a request released by the
        timeout instead counts in `held_past_timeout`."""
        with self._lock:
            self._gate, self._gate_timeout = gate, timeout_seconds

    def hold_reads_until_all_wait(self, repos: set[str], *, timeout_seconds: float = 10.0) -> None:
        """Hold read-side requests until requests for every one of `repos` are held at
        the same time, then release them all and stop holding: a client that fetches
        those repositories one after the other is held `timeout_seconds` per request
        instead (counted in `held_past_timeout`)."""
        with self._lock:
            self._meet = {repo_key(r) for r in repos}
            self._waiting = set()
            self._gate_timeout = timeout_seconds

    # -- used by the request handler ---------------------------------------------------

    def _hold(self, repo: str | None) -> None:
        with self._lock:
            gate, timeout = self._gate, self._gate_timeout
            if self._meet is not None and repo is not None:
                self._waiting.add(repo_key(repo))
                if self._meet <= self._waiting:
                    self._meet = None
                    self._met.notify_all()
                elif not self._met.wait_for(lambda: self._meet is None, timeout):
                    self.held_past_timeout += 1
        if gate is not None and not gate.wait(timeout):
            with self._lock:
                self.held_past_timeout += 1

    def _injected_write_failure(self) -> int | None:
        with self._lock:
            if self._write_fail_always is not None:
                return self._write_fail_always
            if self._write_fail_until is not None:
                if time.monotonic() < self._write_fail_until:
                    return self._write_fail_until_status
                self._write_fail_until = None
            if self._write_fail_next > 0:
                self._write_fail_next -= 1
                return self._write_fail_next_status
            return None

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
