"""Publish the workspace result (contract §12): capture, push, patch, event, terminal field.

`publish_workspace` runs after the turn ended and before `runner.terminal`: it captures
the change (`runner.workspace.capture`) unless a restarted runner finds it in the spool,
persists it, pushes the result commit (`runner.workspace.push`, only with
`AGENTRUN_GIT_MIRROR_WRITE_URL`), uploads the patch (`POST /runs/{runId}/artifacts`,
idempotent, at most `MAX_PATCH_BYTES`), emits `workspace.changed` and returns the §7
`workspace` field. A push that fails for good is returned as the error the attempt ends
with (`workspace-publish-failed`); a patch that cannot be uploaded is reported in
`patch.uploaded`/`patch.reason` and does not fail the attempt (the pushed commit holds
the same change).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio.to_thread

from bundles.mirror import MirrorTarget
from contract.failures import ManagerError, WorkspaceError
from contract.manager_api import ArtifactRequest, TerminalWorkspace
from runner.manager.client import ManagerCallError
from runner.manager.delivery import ManagerLink
from runner.manager.retry import RetryPolicy, call_with_retries
from runner.safety.masking import Masker
from runner.workspace.capture import Capture, CommitInfo, capture_change
from runner.workspace.changes import ChangedFile
from runner.workspace.push import push_result, result_ref

__all__ = [
    "MAX_FILES",
    "MAX_PATCH_BYTES",
    "PATCH_NAME",
    "Published",
    "ResultPlan",
    "event_data",
    "publish_workspace",
    "upload_patch",
]

log = logging.getLogger(__name__)

PATCH_NAME = "workspace.patch"
PATCH_MEDIA_TYPE = "text/x-diff"
MAX_PATCH_BYTES = 8 * 1024 * 1024
"""§12: a patch over 8 MiB (decoded) is not uploaded (`reason: "too-large"`)."""
MAX_FILES = 500
"""§12: at most 500 entries in `files`, then `filesTruncated: true`."""
UPLOAD_RETRY = RetryPolicy(attempts=8, deadline_seconds=60.0)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ResultPlan:
    """Where the result comes from and goes to.

    Attributes:
        subject: the subject's work tree (`AGENTRUN_WORKSPACE/{workspace.path}`).
        base_commit: `workspace.materialized.commitId`.
        read_target: the subject on the mirror's read side (its `display_url` is the
            `fetchRepoUrl` that serves `resultCommit`).
        write_target: the mirror write URL of the subject, None without
            `AGENTRUN_GIT_MIRROR_WRITE_URL`.
        token: the runner token (the write side's credential).
        scratch: the spool's workspace directory (survives a runner restart).
    """

    subject: Path
    base_commit: str
    read_target: MirrorTarget
    write_target: MirrorTarget | None
    token: str
    scratch: Path


@dataclass(frozen=True)
class Published:
    """What `publish_workspace` did.

    Attributes:
        terminal: the §7 `workspace` field, None when nothing could be captured.
        error: the `workspace-publish-failed` error the attempt ends with, if any.
    """

    terminal: TerminalWorkspace | None
    error: WorkspaceError | None = None


def _capture_record(capture: Capture) -> dict[str, Any]:
    record = asdict(capture)
    record["git_dir"] = str(capture.git_dir)
    record["patch_path"] = str(capture.patch_path) if capture.patch_path else None
    return record


def _capture_from_record(record: dict[str, Any]) -> Capture:
    files = [ChangedFile(**f) for f in record.get("files", [])]
    fields = {**record, "files": files, "git_dir": Path(record["git_dir"])}
    fields["patch_path"] = Path(record["patch_path"]) if record.get("patch_path") else None
    return Capture(**fields)


async def upload_patch(link: ManagerLink, capture: Capture) -> dict[str, Any]:
    """Upload the capture's patch (§12); the `patch` object of `workspace.changed`.

    Returns:
        `{name, sha256, sizeBytes, uploaded, reason}` (+ `artifactId` when uploaded);
        `reason` is `no-change`, `too-large` (over `MAX_PATCH_BYTES`), or the manager's
        error code once retries are spent. A `lease-lost`/410 answer also loses the link.
    """
    patch: dict[str, Any] = {
        "name": PATCH_NAME,
        "sha256": capture.patch_sha256 or None,
        "sizeBytes": capture.patch_size_bytes,
        "uploaded": False,
        "reason": None,
    }
    if not capture.changed or capture.patch_path is None:
        patch["reason"] = "no-change"
        return patch
    if capture.patch_size_bytes > MAX_PATCH_BYTES:
        patch["reason"] = "too-large"
        return patch
    content = await anyio.to_thread.run_sync(capture.patch_path.read_bytes)
    request = ArtifactRequest(
        lease_id=link.lease_id,
        attempt_id=link.attempt_id,
        name=PATCH_NAME,
        media_type=PATCH_MEDIA_TYPE,
        sha256=capture.patch_sha256,
        size_bytes=len(content),
        content_base64=base64.b64encode(content).decode("ascii"),
    )
    del content
    try:
        answer = await call_with_retries(
            UPLOAD_RETRY, partial(link.events_client.upload_artifact, link.run_id, request)
        )
    except ManagerError as exc:
        if isinstance(exc, ManagerCallError):
            link.check(exc)
        log.warning("the patch was not uploaded: %s", exc.message)
        patch["reason"] = exc.code or "manager-unreachable"
        return patch
    patch["uploaded"] = True
    patch["artifactId"] = answer.artifact_id
    return patch


def _files_within(files: list[ChangedFile], budget: int) -> tuple[list[dict[str, Any]], bool]:
    """At most `MAX_FILES` entries whose JSON fits `budget` bytes; whether any was cut."""
    kept: list[dict[str, Any]] = []
    used = 0
    for f in files[:MAX_FILES]:
        wire = f.to_wire()
        size = len(json.dumps(wire, ensure_ascii=False).encode()) + 1
        if used + size > budget:
            return kept, True
        kept.append(wire)
        used += size
    return kept, len(files) > MAX_FILES


def event_data(
    plan: ResultPlan,
    capture: Capture,
    *,
    ref: str,
    pushed: bool,
    patch: dict[str, Any],
    duration_ms: int,
    max_event_bytes: int,
) -> dict[str, Any]:
    """The `workspace.changed` data (§12), its `files` cut to fit `maxEventBytes`."""
    data: dict[str, Any] = {
        "baseCommit": capture.base_commit,
        "resultCommit": capture.result_commit,
        "changed": capture.changed,
        "resultRef": ref if pushed else None,
        "pushed": pushed,
        "fetchRepoUrl": plan.read_target.display_url,
        "filesChanged": len(capture.files),
        "insertions": capture.insertions,
        "deletions": capture.deletions,
        "files": [],
        "filesTruncated": False,
        "masked": capture.masked,
        "skillsInSubject": capture.skills_in_subject,
        "patch": patch,
        "agentCommitsKept": capture.agent_head is not None,
        "notes": capture.notes,
        "durationMs": duration_ms,
    }
    budget = max_event_bytes - len(json.dumps(data).encode()) - 256
    data["files"], data["filesTruncated"] = _files_within(capture.files, budget)
    return data


async def publish_workspace(
    plan: ResultPlan,
    info: CommitInfo,
    *,
    masker: Masker,
    link: ManagerLink,
    emit: Emit,
    record: Callable[[dict[str, Any]], None],
    recorded: dict[str, Any] | None = None,
    max_event_bytes: int = 65536,
    refetch_base: Callable[[Path], None] | None = None,
) -> Published:
    """Capture (or take the recorded capture), push, upload, emit `workspace.changed`.

    Args:
        plan: sources and destinations.
        info: the result commit's message facts.
        masker: masks secrets in the committed blobs.
        link: the manager link (artifact upload, lease loss).
        emit: emits one event of the attempt.
        record: persists the capture in the spool (`Spool.record_workspace`).
        recorded: a capture an earlier process of this attempt persisted.
        max_event_bytes: `limits.maxEventBytes`.
        refetch_base: fetches the base commit again when the workspace lost it.

    Returns:
        The §7 field and the error to end with, if the push failed for good.
    """
    started = time.monotonic()
    if recorded is not None:
        capture = _capture_from_record(recorded)
    else:
        plan.scratch.mkdir(parents=True, exist_ok=True)
        try:
            capture = await anyio.to_thread.run_sync(
                partial(
                    capture_change,
                    plan.subject,
                    plan.base_commit,
                    plan.scratch,
                    masker,
                    info,
                    refetch_base=refetch_base,
                )
            )
        except WorkspaceError as exc:
            return Published(None, exc)
        record(_capture_record(capture))
    ref = result_ref(info.run_id, info.attempt_id)
    pushed, error = False, None
    if capture.changed and plan.write_target is not None:
        try:
            await push_result(
                str(capture.git_dir), plan.write_target, plan.token, capture.result_commit, ref
            )
            pushed = True
        except WorkspaceError as exc:
            error = exc
    patch = await upload_patch(link, capture)
    data = event_data(
        plan,
        capture,
        ref=ref,
        pushed=pushed,
        patch=patch,
        duration_ms=int((time.monotonic() - started) * 1000),
        max_event_bytes=max_event_bytes,
    )
    await emit("workspace.changed", data)
    terminal = TerminalWorkspace(
        base_commit=capture.base_commit,
        result_commit=capture.result_commit,
        changed=capture.changed,
        result_ref=ref if pushed else None,
        patch_sha256=capture.patch_sha256 if patch["uploaded"] else None,
    )
    return Published(terminal, error)
