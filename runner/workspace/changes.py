"""The changed files of a result commit, as git itself counts them (contract §12 `files`).

`git diff --name-status -M -z` gives each file's status (a rename keeps its old path),
`git diff --numstat -M -z` its added and deleted lines (`-` for a binary file); nothing
here diffs anything itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ChangedFile", "changed_files"]

_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "typechange"}


@dataclass(frozen=True)
class ChangedFile:
    """One entry of `workspace.changed.files` (§12).

    Attributes:
        path: repository-relative path (the new one for a rename).
        status: `added|modified|deleted|renamed|typechange`.
        insertions / deletions: changed lines (0 for binary files).
        binary: whether git treats the change as binary.
        old_path: the path before a rename, else None.
    """

    path: str
    status: str
    insertions: int
    deletions: int
    binary: bool
    old_path: str | None = None

    def to_wire(self) -> dict[str, object]:
        """The §12 shape (`oldPath` only for renames)."""
        wire: dict[str, object] = {
            "path": self.path,
            "status": self.status,
            "insertions": self.insertions,
            "deletions": self.deletions,
            "binary": self.binary,
        }
        if self.old_path is not None:
            wire["oldPath"] = self.old_path
        return wire


def changed_files(git: Callable[..., str], base: str, result: str) -> list[ChangedFile]:
    """Every changed file between two commits, as git reports it (`-M`: renames).

    Args:
        git: runs one git command in the capture repository and returns its stdout.
        base / result: the two commits.
    """
    status = git("diff", "--name-status", "-M", "-z", base, result).split("\0")
    numstat = git("diff", "--numstat", "-M", "-z", base, result).split("\0")
    counts: dict[str, tuple[int, int, bool]] = {}
    i = 0
    while i < len(numstat):
        entry = numstat[i]
        if not entry:
            i += 1
            continue
        added, deleted, path = entry.split("\t", 2)
        if path == "":  # a rename: the old and the new path follow
            path = numstat[i + 2]
            i += 3
        else:
            i += 1
        binary = added == "-"
        counts[path] = (0 if binary else int(added), 0 if binary else int(deleted), binary)
    files: list[ChangedFile] = []
    i = 0
    while i < len(status):
        letter = status[i][:1]
        if not letter:
            i += 1
            continue
        if letter in ("R", "C"):
            old, path = status[i + 1], status[i + 2]
            i += 3
        else:
            old, path = None, status[i + 1]
            i += 2
        plus, minus, binary = counts.get(path, (0, 0, False))
        files.append(
            ChangedFile(
                path,
                _STATUS.get(letter, "modified"),
                plus,
                minus,
                binary,
                old if letter == "R" else None,
            )
        )
    return files
