"""A real git smart-HTTP mirror on loopback: `git http-backend` behind a tiny CGI host.

The host is the standard library's `ThreadingHTTPServer` running in a background
thread; each request is handed to `git http-backend` (the CGI program git ships) with the
CGI environment it expects, and its output is relayed. The server binds 127.0.0.1 port 0
in its constructor, so it is ready as soon as `serve_git_mirror` yields, without any
sleeping. Every request is logged (tests count fetches as POSTs to `git-upload-pack` per
repository) and a knob makes requests fail (the next N requests, or one repository
"down"). `uploadpack.allowAnySHA1InWant` is on, so a fetch by commit id works as on the
cluster's mirror.

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

from fakes.mirror.state import GitMirror, MirrorRequest

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


class _MirrorHTTPServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, mirror_root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        host, port = self.server_address[:2]
        self.mirror = GitMirror(mirror_root, f"http://{host!s}:{port}")
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
        injected = mirror._injected_failure(repo)
        if injected is not None:
            self._answer(injected, [("Content-Type", "text/plain")], b"injected failure\n")
            status, was_injected = injected, True
        else:
            status, was_injected = self._run_backend(path, split.query, body), False
        command: str | None = None
        if self.command == "POST" and service == "git-upload-pack":
            command = _upload_pack_command(body, self.headers.get("Content-Encoding", ""))
        mirror._record(
            MirrorRequest(self.command, path, repo, service, status, was_injected, command)
        )

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

    def _cgi_env(self, path: str, query: str, body: bytes) -> dict[str, str]:
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
        env["GIT_CONFIG_COUNT"] = str(len(_SERVER_GIT_CONFIG))
        for index, (key, value) in enumerate(_SERVER_GIT_CONFIG.items()):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def _run_backend(self, path: str, query: str, body: bytes) -> int:
        server = self.server
        proc = subprocess.Popen(
            ["git", "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._cgi_env(path, query, body),
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
                self._answer(504, [("Content-Type", "text/plain")], b"backend timeout\n")
                return 504
        finally:
            with server.children_lock:
                server.children.discard(proc)
        if proc.returncode != 0 and not out:
            self._answer(500, [("Content-Type", "text/plain")], b"backend failed\n")
            return 500
        status, headers, payload = _parse_cgi_output(out)
        self._answer(status, headers, payload)
        return status

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

    Binds 127.0.0.1 port 0 on construction (ready at once); `close()` stops it within
    `SHUTDOWN_TIMEOUT_SECONDS`. Prefer `serve_git_mirror` in async code.

    Args:
        root: the directory holding the bare repositories.
    """

    def __init__(self, root: Path) -> None:
        self._server = _MirrorHTTPServer(root.resolve())
        self.mirror = self._server.mirror
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-git-mirror",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        """Stop serving, kill running backends, join request threads. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        with self._server.children_lock:
            self._server.closing = True
            for child in self._server.children:
                child.kill()
        self._server.server_close()
        self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)


@asynccontextmanager
async def serve_git_mirror(root: Path) -> AsyncIterator[GitMirror]:
    """Serve the bare repositories under `root` over git smart HTTP on loopback.

    Usage::

        async with serve_git_mirror(tmp_path / "mirror") as mirror:
            url = mirror.url_of("owner/repo")  # http://127.0.0.1:PORT/owner/repo.git
            ...
            assert mirror.fetch_count("owner/repo") == 1

    Args:
        root: directory of bare repos (`root/OWNER/REPO.git`); need not exist yet
            when repositories are added later, but must exist when requests arrive.

    Yields:
        The running `GitMirror` (bound to 127.0.0.1, port chosen by the OS).

    Shutdown is shielded from cancellation and bounded by `SHUTDOWN_TIMEOUT_SECONDS`.
    """
    server = GitMirrorServer(root)
    try:
        yield server.mirror
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(SHUTDOWN_TIMEOUT_SECONDS):
            await anyio.to_thread.run_sync(server.close, abandon_on_cancel=True)
