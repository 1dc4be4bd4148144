"""Prompt refs: files of a bundle repository turned into text input items.

Each `promptRefs[]` path is read from the bundle's object store at the recorded commit
(not from the workspace, so it need not be one of the copied sources) and becomes one
`{"type": "text", "text": ...}` item whose first line names the bundle, the path and the
commit. The runner puts these items, in bundle order, in front of the command's input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundles.materialize import open_repo, read_blob
from bundles.paths import clean_relative

__all__ = ["PromptRef", "prompt_header", "prompt_item", "read_prompt_refs"]


@dataclass(frozen=True)
class PromptRef:
    """One resolved prompt ref.

    Attributes:
        bundle: the bundle's name.
        path: the path as the spec gave it.
        commit_id: the commit it was read at.
        text: the file's text (UTF-8; undecodable bytes replaced).
    """

    bundle: str
    path: str
    commit_id: str
    text: str


def prompt_header(bundle: str, path: str, commit_id: str) -> str:
    """The one-line header of a prompt item, e.g.
    `[prompt from resource bundle hwlab-tools: prompts/caserun.md @ 3f2a…]`."""
    return f"[prompt from resource bundle {bundle}: {path} @ {commit_id}]"


def prompt_item(ref: PromptRef) -> dict[str, Any]:
    """The input item of a prompt ref: `{"type": "text", "text": header + "\\n" + text}`."""
    return {
        "type": "text",
        "text": f"{prompt_header(ref.bundle, ref.path, ref.commit_id)}\n{ref.text}",
    }


def read_prompt_refs(
    store_path: Path, commit_id: str, bundle: str, paths: list[str]
) -> list[PromptRef]:
    """Read a bundle's prompt refs at its recorded commit. Blocking.

    Args:
        store_path: the bare object store holding `commit_id`.
        commit_id: the bundle's recorded commit.
        bundle: the bundle's name, for the header.
        paths: `promptRefs`, repository-relative.

    Returns:
        One `PromptRef` per path, in order.

    Raises:
        BundleError: `bundle-path-invalid` for a missing file, a directory, `..`, an
            absolute path, or a symlink leaving the repository.
    """
    cleaned = [clean_relative(p, what="promptRef") for p in paths]
    refs: list[PromptRef] = []
    with open_repo(store_path) as repo:
        for original, path in zip(paths, cleaned, strict=True):
            data = read_blob(repo, commit_id, path, what="promptRef")
            refs.append(PromptRef(bundle, original, commit_id, data.decode("utf-8", "replace")))
    return refs
