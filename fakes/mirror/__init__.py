"""A fake of the cluster's git mirror: real git smart HTTP on loopback, plus repo builders.

- `serve_git_mirror(root, *, write=True, write_token=None)`: async context manager
  yielding a `GitMirror`. Read side (refuses pushes): `base_url`, `url_of(repo)`,
  `fetch_count(repo)`, `fail_next_requests(n)`, `set_repo_down(repo)`,
  `hide_agentrun_refs`. Write side (receive-pack only, on its own port, optional bearer
  token, a real `pre-receive` hook): `write_base_url`, `write_url_of(repo)`, the rules
  `reject_outside_agentrun` and `create_only`, `write_fail_for(s)`,
  `write_fail_always()`, `write_fail_next(n)`, `write_recover()`, `push_count(repo)`,
  `pushed_updates(repo)`, `ref(repo, refname)`. Both sides log to `requests`
  (`MirrorRequest.side`, `authorized`, `updates`). `GitMirrorServer` is the same with
  a sync lifecycle.
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
from fakes.mirror.state import RefUpdate

__all__ = [
    "Executable",
    "FakeRepo",
    "FileSpec",
    "GitMirror",
    "GitMirrorServer",
    "MirrorRequest",
    "RefUpdate",
    "Symlink",
    "append_commit",
    "files_from_directory",
    "make_repo",
    "serve_git_mirror",
]
