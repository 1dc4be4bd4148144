"""A fake of the cluster's git mirror: real git smart HTTP on loopback, plus repo builders.

- `serve_git_mirror(root)`: async context manager yielding a `GitMirror` (`base_url`,
  `url_of(repo)`, `requests`, `fetch_count(repo)`, `fail_next_requests(n)`,
  `set_repo_down(repo)`); `GitMirrorServer` is the same with a sync lifecycle.
- `make_repo(root, "OWNER/REPO", history, ...)`: a bare repo with given files,
  branches, tags and history, served as `{base_url}/OWNER/REPO.git`;
  `append_commit`, `files_from_directory` help build later commits and snapshots.
"""

from fakes.mirror.repos import (
    Executable,
    FakeRepo,
    FileSpec,
    Symlink,
    append_commit,
    files_from_directory,
    make_repo,
)
from fakes.mirror.server import GitMirror, GitMirrorServer, MirrorRequest, serve_git_mirror

__all__ = [
    "Executable",
    "FakeRepo",
    "FileSpec",
    "GitMirror",
    "GitMirrorServer",
    "MirrorRequest",
    "Symlink",
    "append_commit",
    "files_from_directory",
    "make_repo",
    "serve_git_mirror",
]
