"""A real git smart-HTTP mirror on loopback: `git http-backend` behind a tiny CGI host.

The host is the standard library's `ThreadingHTTPServer` running in a background
thread; each request is handed to `git http-backend` (the CGI program git ships) with the
CGI environment it expects, and its output is relayed. The server binds 127.0.0.1 port 0
in its constructor, so it is ready as soon as `serve_git_mirror` yields, without any
sleeping. Every request is logged (tests count fetches as POSTs to `git-upload-pack` per
repository) and a knob makes requests fail (the next N requests, or one repository
"down"). `uploadpack.allowAnySHA1InWant` is on, so a fetch by commit id works as on the
cluster's mirror, also of a commit only `refs/agentrun/**` reaches (which the read side
does not advertise while `GitMirror.hide_agentrun_refs` is on).

A second server on another port, the write side (`fakes.mirror.write`), serves only
`git-receive-pack` over the same repositories, behind an optional bearer token and the
`pre-receive` hook of `fakes.mirror.hook`; the read side refuses pushes
(`http.receivepack=false`).

Repositories are bare repos under `root`, served at `{base_url}/{relative path}`, e.g.
`root/OWNER/REPO.git` is `{base_url}/OWNER/REPO.git` (see `fakes.mirror.repos.make_repo`).
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import anyio
import anyio.to_thread

from fakes.mirror.hook import hook_env, install_hooks, remove_hooks
from fakes.mirror.state import GitMirror, MirrorRequest, RefUpdate, Side
from fakes.mirror.write import (
    bearer_matches,
    is_receive_pack_request,
    receive_pack_updates,
    write_config,
)

__all__ = ["GitMirror", "GitMirrorServer", "MirrorRequest", "serve_git_mirror"]

BACKEND_TIMEOUT_SECONDS = 60.0
"""Upper bound of one `git http-backend` run."""
SHUTDOWN_TIMEOUT_SECONDS = 10.0
"""Upper bound of stopping the server (serve loop, children, request threads)."""
_REPO_IN_PATH = re.compile(r"^/(?P<repo>.+?\.git)(?P<rest>/.*)?$")
_SERVER_GIT_CONFIG = {
    "uploadpack.allowAnySHA1InWant": "true",
    "uploadpack.allowReachableSHA1InWant": "true",
    "uploadpack.allowTipSHA1InWant": "true",
    "uploadpack.allowFilter": "true",
    "http.receivepack": "false",
}
_PLAIN = [("Content-Type", "text/plain")]
_Response = tuple[int, list[tuple[str, str]], bytes]
"""An answer as (status, headers, body); it is logged before it is sent, so a client
that has its answer always finds its request in `GitMirror.requests`."""


class _MirrorHTTPServer(ThreadingHTTPServer):
    """One side of the mirror; `mirror` and `git_config` are set before it serves."""

    daemon_threads = False
    block_on_close = True
    mirror: GitMirror

    def __init__(self, side: Side) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        host, port = self.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self.side = side
        self.git_config: dict[str, str] = {}
        self.children: set[subprocess.Popen[bytes]] = set()
        self.children_lock = threading.Lock()
        self.closing = False


class _Handler(BaseHTTPRequestHandler):
    server: _MirrorHTTPServer
    protocol_version = "HTTP/1.0"
    timeout = 30.0

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log; `GitMirror.requests` is the log."""

    def _serve(self) -> None:
        mirror = self.server.mirror
        split = urlsplit(self.path)
        path = unquote(split.path)
        match = _REPO_IN_PATH.match(path)
        repo = match.group("repo") if match else None
        rest = (match.group("rest") or "") if match else ""
        service = parse_qs(split.query).get("service", [None])[0]
        if rest in ("/git-upload-pack", "/git-receive-pack"):
            service = rest[1:]
        body = self._read_body()
        encoding = self.headers.get("Content-Encoding", "")
        if self.server.side == "write":
            self._serve_write(path, split.query, repo, rest, service, body)
            return
        mirror._hold(repo)
        injected = mirror._injected_failure(repo)
        response: _Response
        if injected is not None:
            response = (injected, _PLAIN, b"injected failure\n")
        else:
            config = dict(self.server.git_config)
            if mirror.hide_agentrun_refs:
                config["uploadpack.hideRefs"] = "refs/agentrun"
            response = self._run_backend(path, split.query, body, config)
        command: str | None = None
        if self.command == "POST" and service == "git-upload-pack":
            command = _upload_pack_command(body, encoding)
        mirror._record(
            MirrorRequest(
                self.command, path, repo, service, response[0], injected is not None, command
            )
        )
        self._answer(*response)

    def _serve_write(
        self,
        path: str,
        query: str,
        repo: str | None,
        rest: str,
        service: str | None,
        body: bytes,
    ) -> None:
        """Failure knobs, then the token (401), then the route (404), then receive-pack."""
        mirror = self.server.mirror
        authorized = bearer_matches(self.headers.get("Authorization"), mirror.write_token)
        injected = mirror._injected_write_failure()
        response: _Response
        if injected is not None:
            response = (injected, _PLAIN, b"injected failure\n")
        elif not authorized:
            response = (401, [*_PLAIN, ("WWW-Authenticate", "Bearer")], b"unauthorized\n")
        elif repo is None or not is_receive_pack_request(self.command, rest, service):
            response = (404, _PLAIN, b"the write side serves only git-receive-pack\n")
        else:
            env = hook_env(
                reject_outside_agentrun=mirror.reject_outside_agentrun,
                create_only=mirror.create_only,
            )
            response = self._run_backend(path, query, body, self.server.git_config, env)
        updates: tuple[RefUpdate, ...] = ()
        if self.command == "POST" and service == "git-receive-pack":
            updates = receive_pack_updates(body, self.headers.get("Content-Encoding", ""))
        mirror._record(
            MirrorRequest(
                self.command,
                path,
                repo,
                service,
                response[0],
                injected is not None,
                side="write",
                authorized=authorized,
                updates=updates,
            )
        )
        self._answer(*response)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cgi_env(
        self, path: str, query: str, body: bytes, git_config: dict[str, str]
    ) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.mirror.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": "",
        }
        for header, var in (
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "GIT_PROTOCOL"),
        ):
            value = self.headers.get(header)
            if value:
                env[var] = value
        env["GIT_CONFIG_COUNT"] = str(len(git_config))
        for index, (key, value) in enumerate(git_config.items()):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def _run_backend(
        self,
        path: str,
        query: str,
        body: bytes,
        git_config: dict[str, str],
        extra_env: dict[str, str] | None = None,
    ) -> _Response:
        server = self.server
        proc = subprocess.Popen(
            ["git", "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**self._cgi_env(path, query, body, git_config), **(extra_env or {})},
        )
        with server.children_lock:
            if server.closing:
                proc.kill()
            server.children.add(proc)
        try:
            try:
                out, _err = proc.communicate(body, timeout=BACKEND_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                return 504, _PLAIN, b"backend timeout\n"
        finally:
            with server.children_lock:
                server.children.discard(proc)
        if proc.returncode != 0 and not out:
            return 500, _PLAIN, b"backend failed\n"
        return _parse_cgi_output(out)

    def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _upload_pack_command(body: bytes, content_encoding: str) -> str:
    """The upload-pack command of a request body: v2 `command=X`, else v0 `fetch`."""
    if content_encoding.strip().lower() in ("gzip", "x-gzip"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return "fetch"
    # pkt-line: 4 hex digits of length, then the payload of the first line.
    try:
        length = int(body[:4], 16)
    except ValueError:
        return "fetch"
    first = body[4:length].rstrip(b"\n")
    if first.startswith(b"command="):
        return first[len(b"command=") :].decode("ascii", "replace")
    return "fetch"


def _parse_cgi_output(out: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Split a CGI response into (status, headers, body); `Status:` sets the status."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, payload = out.partition(separator)
        if found:
            break
    else:
        return 500, [("Content-Type", "text/plain")], b"malformed backend output\n"
    status = 200
    headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "status":
            status = int(value.strip().split()[0])
        elif name.strip().lower() != "content-length" and name.strip():
            headers.append((name.strip(), value.strip()))
    return status, headers, payload


class GitMirrorServer:
    """The mirror with a synchronous lifecycle (for callers outside an event loop).

    Binds 127.0.0.1 port 0 on construction, one port per side (ready at once);
    `close()` stops it within `SHUTDOWN_TIMEOUT_SECONDS` per side. Prefer
    `serve_git_mirror` in async code.

    Args:
        root: the directory holding the bare repositories.
        write: also serve the write side (`GitMirror.write_base_url`).
        write_token: the bearer token the write side requires; None requires none.
    """

    def __init__(self, root: Path, *, write: bool = True, write_token: str | None = None) -> None:
        self._servers = [_MirrorHTTPServer("read")]
        self._hooks_dir: Path | None = None
        if write:
            self._servers.append(_MirrorHTTPServer("write"))
            self._hooks_dir = install_hooks()
        read_side = self._servers[0]
        self.mirror = GitMirror(
            root.resolve(),
            read_side.url,
            write_base_url=self._servers[1].url if write else None,
            write_token=write_token,
        )
        read_side.git_config = dict(_SERVER_GIT_CONFIG)
        if self._hooks_dir is not None:
            self._servers[1].git_config = write_config(self._hooks_dir)
        self._threads: list[threading.Thread] = []
        for server in self._servers:
            server.mirror = self.mirror
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-git-mirror-{server.side}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        self._closed = False

    def close(self) -> None:
        """Stop serving, kill running backends, join request threads. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for server in self._servers:
            server.shutdown()
            with server.children_lock:
                server.closing = True
                for child in server.children:
                    child.kill()
            server.server_close()
        for thread in self._threads:
            thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        if self._hooks_dir is not None:
            remove_hooks(self._hooks_dir)


@asynccontextmanager
async def serve_git_mirror(
    root: Path, *, write: bool = True, write_token: str | None = None
) -> AsyncIterator[GitMirror]:
    """Serve the bare repositories under `root` over git smart HTTP on loopback.

    Usage::

        async with serve_git_mirror(tmp_path / "mirror", write_token="t") as mirror:
            url = mirror.url_of("owner/repo")  # http://127.0.0.1:PORT/owner/repo.git
            push_url = mirror.write_url_of("owner/repo")  # http://127.0.0.1:PORT2/...
            ...
            assert mirror.fetch_count("owner/repo") == 1
            assert mirror.ref("owner/repo", "refs/agentrun/runs/r/a") == commit

    Args:
        root: directory of bare repos (`root/OWNER/REPO.git`); need not exist yet
            when repositories are added later, but must exist when requests arrive.
        write: also serve the write side (receive-pack only) on a second port.
        write_token: the bearer token every write request must carry
            (`Authorization: Bearer <token>`, else 401); None requires none.

    Yields:
        The running `GitMirror` (bound to 127.0.0.1, port chosen by the OS).

    Shutdown is shielded from cancellation and bounded by `SHUTDOWN_TIMEOUT_SECONDS`.
    """
    server = GitMirrorServer(root, write=write, write_token=write_token)
    try:
        yield server.mirror
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(SHUTDOWN_TIMEOUT_SECONDS):
            await anyio.to_thread.run_sync(server.close, abandon_on_cancel=True)
