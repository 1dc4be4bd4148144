"""Path rules of bundles: relative, no `..`, never outside the workspace or into the subject.

Spec paths (`source`, `target`, `promptRefs`, `workspace.path`) are POSIX paths relative
to their root. `clean_relative` rejects absolute paths and `..` components; `check_target`
additionally checks the real filesystem: the target must not exist yet, its nearest
existing ancestor must resolve (symlinks followed) inside the workspace, and it must not
be, contain or lie inside the subject repository. Every violation is
`bundle-path-invalid` (contract §10).
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePosixPath

from contract.failures import BundleError, FailureKind

__all__ = ["check_target", "clean_relative", "is_within", "path_error", "resolve_link"]


def path_error(message: str, **detail: str) -> BundleError:
    """A `bundle-path-invalid` error with small string details."""
    return BundleError(FailureKind.BUNDLE_PATH_INVALID, message, detail=dict(detail))


def clean_relative(path: str, *, what: str, allow_root: bool = False) -> PurePosixPath:
    """Normalize a spec path relative to its root.

    Args:
        path: e.g. `tools`, `./.agents/skills/x/`.
        what: `source`, `target`, `promptRef` or `workspace.path`, for the message.
        allow_root: accept `""`/`.` (the root itself), as a `source` may.

    Returns:
        The path without `.` components or trailing slashes (`.` for the root).

    Raises:
        BundleError: `bundle-path-invalid` for an absolute path, a `..` component, a
            backslash or NUL, or the root when not allowed.
    """
    if "\\" in path or "\x00" in path:
        raise path_error(f"{what} must be a plain POSIX path", **{what: path[:200]})
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise path_error(f"{what} must be relative", **{what: path[:200]})
    if ".." in pure.parts:
        raise path_error(f"{what} must not contain '..'", **{what: path[:200]})
    if pure == PurePosixPath(".") and not allow_root:
        raise path_error(f"{what} must not be the root itself", **{what: path[:200]})
    return pure


def is_within(path: Path, root: Path) -> bool:
    """Whether `path` is `root` or below it (both taken literally; no resolving)."""
    return path == root or root in path.parents


def resolve_link(link_path: PurePosixPath, link_text: str) -> PurePosixPath | None:
    """Where a symlink at `link_path` (root-relative) points, root-relative.

    Returns:
        The normalized target, or None when it is absolute or climbs above the root.
    """
    if link_text.startswith("/") or "\x00" in link_text:
        return None
    joined = posixpath.normpath(posixpath.join(str(link_path.parent), link_text))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        return None
    return PurePosixPath(joined)


def check_target(workspace_root: Path, target: PurePosixPath, subject: Path | None) -> Path:
    """Where a bundle target may be written, or why not.

    Args:
        workspace_root: `AGENTRUN_WORKSPACE`, resolved.
        target: a cleaned target relative to it.
        subject: the subject repository directory (resolved), if there is one.

    Returns:
        The absolute destination path (does not exist yet).

    Raises:
        BundleError: `bundle-path-invalid` when the destination exists, lies (after
            following existing symlinks) outside the workspace, or overlaps the subject
            repository.
    """
    dest = workspace_root / target
    if os.path.lexists(dest):
        raise path_error("target already exists in the workspace", target=str(target))
    ancestor = dest.parent
    while not ancestor.exists():
        if os.path.lexists(ancestor):  # a dangling symlink on the way
            raise path_error("target passes through a dangling symlink", target=str(target))
        ancestor = ancestor.parent
    real = ancestor.resolve() / dest.relative_to(ancestor)
    if not is_within(real, workspace_root):
        raise path_error("target resolves outside the workspace", target=str(target))
    if subject is not None and (is_within(real, subject) or is_within(subject, real)):
        raise path_error("target overlaps the subject repository", target=str(target))
    return real
