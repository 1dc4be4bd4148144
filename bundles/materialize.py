"""Copy `bundles[].source` out of a fetched commit into `AGENTRUN_WORKSPACE/{target}`.

Two phases per bundle. Planning reads the commit's tree straight from the object store
(gitpython, no checkout) and validates everything: the source must exist (a symlink as
the source itself is followed while it stays inside the repository), and every symlink
inside a copied directory must resolve inside that source root; violations are
`bundle-path-invalid` and nothing has been written yet. Writing then creates each target
(it must not exist; `bundles.paths.check_target`) with regular files (mode 0644/0755),
directories and re-normalized relative symlinks, using `O_EXCL | O_NOFOLLOW`, so nothing
lands outside the workspace or in the subject repository. Submodule entries are skipped.
Blocking; callers run it in a worker thread.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import git

from bundles.paths import check_target, clean_relative, path_error, resolve_link
from contract.job_spec import BundleMapping

__all__ = [
    "EntryKind",
    "MappingResult",
    "PlannedEntry",
    "materialize_mappings",
    "open_repo",
    "read_blob",
]

EntryKind = Literal["dir", "file", "exec", "symlink"]
MAX_LINK_HOPS = 8
"""How many symlinks are followed when a source or prompt ref is itself a symlink."""
_MODE_LINK = 0o120000
_MODE_EXEC = 0o100755


@dataclass(frozen=True)
class PlannedEntry:
    """One thing to create, relative to the target (`.` is the target itself).

    Attributes:
        rel: path under the target.
        kind: `dir`, `file` (0644), `exec` (0755) or `symlink`.
        data: file bytes, or the (relative, normalized) link text for a symlink.
    """

    rel: PurePosixPath
    kind: EntryKind
    data: bytes = b""


@dataclass(frozen=True)
class MappingResult:
    """What one `{source, target}` mapping wrote.

    Attributes:
        source: the mapping's source as given.
        target: the mapping's target as given.
        file_count: regular files and symlinks written (directories not counted).
        written: workspace-relative paths and kinds of everything written.
    """

    source: str
    target: str
    file_count: int
    written: list[tuple[PurePosixPath, EntryKind]] = field(default_factory=list)


@contextmanager
def open_repo(path: Path) -> Iterator[Any]:
    """A gitpython `Repo` that is closed (cat-file children ended) on exit."""
    repo = git.Repo(str(path))
    try:
        yield repo
    finally:
        repo.git.clear_cache()
        repo.close()


def _lookup(tree: Any, path: PurePosixPath, *, what: str) -> tuple[PurePosixPath, Any]:
    """The object at `path` in `tree`, following a final symlink inside the repo."""
    for _hop in range(MAX_LINK_HOPS):
        if path == PurePosixPath("."):
            return path, tree
        try:
            obj = tree / str(path)
        except KeyError:
            raise path_error(f"{what} does not exist in the bundle", **{what: str(path)}) from None
        if isinstance(obj, git.Blob) and obj.mode == _MODE_LINK:
            text = obj.data_stream.read().decode("utf-8", "surrogateescape")
            resolved = resolve_link(path, text)
            if resolved is None:
                raise path_error(
                    f"{what} is a symlink that resolves outside the repository",
                    **{what: str(path)},
                )
            path = resolved
            continue
        return path, obj
    raise path_error(f"{what} has too many levels of symlinks", **{what: str(path)})


def read_blob(repo: Any, commit_id: str, path: PurePosixPath, *, what: str) -> bytes:
    """The content of a file at a commit (final symlinks followed inside the repo).

    Raises:
        BundleError: `bundle-path-invalid` when it is missing, a directory or submodule,
            or a symlink leaving the repository.
    """
    _path, obj = _lookup(repo.commit(commit_id).tree, path, what=what)
    if not isinstance(obj, git.Blob):
        raise path_error(f"{what} is not a file", **{what: str(path)})
    data: bytes = obj.data_stream.read()
    return data


def _plan(repo: Any, commit_id: str, source: PurePosixPath) -> list[PlannedEntry]:
    """Every entry to create for one source, validated; nothing is written."""
    root, obj = _lookup(repo.commit(commit_id).tree, source, what="source")
    if isinstance(obj, git.Blob):
        kind: EntryKind = "exec" if obj.mode == _MODE_EXEC else "file"
        return [PlannedEntry(PurePosixPath("."), kind, obj.data_stream.read())]
    if not isinstance(obj, git.Tree):
        raise path_error("source is a submodule, which bundles cannot copy", source=str(source))
    entries = [PlannedEntry(PurePosixPath("."), "dir")]
    item: Any
    for item in obj.traverse():
        item_path = PurePosixPath(item.path)
        rel = item_path.relative_to(root) if root != PurePosixPath(".") else item_path
        if isinstance(item, git.Tree):
            entries.append(PlannedEntry(rel, "dir"))
        elif isinstance(item, git.Blob) and item.mode == _MODE_LINK:
            text = item.data_stream.read().decode("utf-8", "surrogateescape")
            resolved = resolve_link(item_path, text)
            inside = resolved is not None and (
                root == PurePosixPath(".") or resolved == root or root in resolved.parents
            )
            if resolved is None or not inside:
                raise path_error(
                    "a symlink in the bundle resolves outside its source",
                    source=str(source),
                    path=str(item_path),
                )
            link = posixpath.relpath(str(resolved), str(item_path.parent))
            entries.append(PlannedEntry(rel, "symlink", link.encode("utf-8", "surrogateescape")))
        elif isinstance(item, git.Blob):
            kind = "exec" if item.mode == _MODE_EXEC else "file"
            entries.append(PlannedEntry(rel, kind, item.data_stream.read()))
    return entries


def _write(dest: Path, entries: Sequence[PlannedEntry]) -> None:
    """Create the planned entries under `dest` (which does not exist yet)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        path = dest if entry.rel == PurePosixPath(".") else dest / entry.rel
        if entry.kind == "dir":
            path.mkdir(mode=0o755, exist_ok=entry.rel == PurePosixPath("."))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == "symlink":
            os.symlink(entry.data.decode("utf-8", "surrogateescape"), path)
            continue
        mode = 0o755 if entry.kind == "exec" else 0o644
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(entry.data)
        os.chmod(path, mode)


def materialize_mappings(
    store_path: Path,
    commit_id: str,
    mappings: Sequence[BundleMapping],
    *,
    workspace_root: Path,
    subject: Path | None,
) -> list[MappingResult]:
    """Copy every mapping of one bundle from `commit_id` into the workspace. Blocking.

    Args:
        store_path: the bare object store holding `commit_id`.
        commit_id: the recorded commit.
        mappings: the bundle's `bundles[]`.
        workspace_root: `AGENTRUN_WORKSPACE`, resolved.
        subject: the subject repository directory (resolved), never written into.

    Returns:
        One result per mapping, in order.

    Raises:
        BundleError: `bundle-path-invalid` (missing source; `..`, absolute path, symlink
            escaping its root; target existing, outside the workspace or overlapping the
            subject). All sources are validated before anything is written.
    """
    cleaned = [
        (
            clean_relative(m.source, what="source", allow_root=True),
            clean_relative(m.target, what="target"),
        )
        for m in mappings
    ]
    with open_repo(store_path) as repo:
        plans = [_plan(repo, commit_id, source) for source, _target in cleaned]
    results: list[MappingResult] = []
    for mapping, (_source, target), plan in zip(mappings, cleaned, plans, strict=True):
        dest = check_target(workspace_root, target, subject)
        try:
            _write(dest, plan)
        except OSError as exc:
            raise path_error(
                f"target could not be written: {exc.strerror}", target=str(target)
            ) from exc
        written = [
            (target if e.rel == PurePosixPath(".") else target / e.rel, e.kind) for e in plan
        ]
        count = sum(1 for _path, kind in written if kind != "dir")
        results.append(MappingResult(mapping.source, mapping.target, count, written))
    return results
