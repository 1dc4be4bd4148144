"""The fake manager's artifact shelf: §12 uploads, their integrity rules, and the §7 check.

An upload is decoded and verified (base64, `sizeBytes`, `sha256`) before anything is
kept, and is idempotent by (`attemptId`, `name`, `sha256`). The shelf knows no leases:
the store hands it a `leased` check that raises exactly as the §3 events route does,
so an upload under a lost lease or for a cancelled attempt gets the same 409/410.
The terminal report's `workspace.patchSha256` must name a stored `workspace.patch`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fakes.manager.clock import Clock, format_time
from fakes.manager.errors import ApiError
from fakes.manager.jobs import new_id
from fakes.manager.models import ArtifactRequest, WorkspaceResult

DEFAULT_MAX_ARTIFACT_BYTES = 8 * 1024 * 1024
"""§12: a patch of more than 8 MiB decoded is not uploaded; the fake refuses it (413)."""

PATCH_NAME = "workspace.patch"
"""§12: the artifact name of the workspace diff that `patchSha256` refers to."""


@dataclass(frozen=True)
class StoredArtifact:
    """One accepted §12 upload, with its decoded bytes.

    Attributes:
        artifact_id: the id the upload was answered with, e.g. "art-3f2a…".
        run_id: the run it was uploaded for (path).
        attempt_id: the attempt it was uploaded under.
        name: e.g. "workspace.patch".
        media_type: as sent, e.g. "text/x-diff".
        sha256: 64 lower-case hex digits of `content`.
        size_bytes: `len(content)`.
        content: the decoded bytes.
        received_at: when it was stored, on the fake clock (UTC).
    """

    artifact_id: str
    run_id: str
    attempt_id: str
    name: str
    media_type: str
    sha256: str
    size_bytes: int
    content: bytes
    received_at: datetime

    def metadata(self) -> dict[str, Any]:
        """The artifact without its content, as the operator listing shows it."""
        return {
            "artifactId": self.artifact_id,
            "runId": self.run_id,
            "attemptId": self.attempt_id,
            "name": self.name,
            "mediaType": self.media_type,
            "sha256": self.sha256,
            "sizeBytes": self.size_bytes,
            "receivedAt": format_time(self.received_at),
        }


class Reporting(Protocol):
    """What the shelf needs of an attempt: whether it reported its terminal."""

    @property
    def terminal(self) -> dict[str, Any] | None: ...


LeaseCheck = Callable[[str, str, str], Reporting]
"""`(runId, attemptId, leaseId)` -> the attempt if the request may act; else `ApiError`."""


class ArtifactShelf:
    """Every artifact of one fake manager, by attempt and name and by id.

    Args:
        leased: the store's lease check (404 run/attempt, 409 lease-lost, 410).
        clock: the fake clock, for `received_at`.
        max_artifact_bytes: the largest decoded size accepted; larger is 413.
    """

    def __init__(
        self,
        leased: LeaseCheck,
        clock: Clock,
        max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    ) -> None:
        if max_artifact_bytes < 0:
            raise ValueError("max_artifact_bytes must be >= 0")
        self.max_artifact_bytes = max_artifact_bytes
        self._leased = leased
        self._clock = clock
        self._by_name: dict[tuple[str, str, str], StoredArtifact] = {}
        self._by_id: dict[str, StoredArtifact] = {}

    @property
    def max_body_bytes(self) -> int:
        """A request body bound: base64 of the largest artifact plus 64 KiB for the rest."""
        return 4 * -(-self.max_artifact_bytes // 3) + 64 * 1024

    def upload(self, run_id: str, request: ArtifactRequest) -> StoredArtifact:
        """§12: verify and store one artifact, or return the one stored before.

        Args:
            run_id: from the path.
            request: the validated body.

        Returns:
            The stored artifact (the earlier one for a repeat of the same upload).

        Raises:
            ApiError: what `leased` raises (404, 409 lease-lost, 410 attempt-cancelled);
                400 artifact-invalid{field} (contentBase64 not base64, sizeBytes or
                sha256 not those of the decoded bytes); 413 artifact-too-large{maxBytes};
                409 artifact-conflict (the name was stored with another sha256);
                409 attempt-finished (a new artifact after the terminal report).
        """
        attempt = self._leased(run_id, request.attemptId, request.leaseId)
        content = self._decode(request)
        key = (run_id, request.attemptId, request.name)
        stored = self._by_name.get(key)
        if stored is not None:
            if stored.sha256 != request.sha256:
                raise ApiError(
                    409,
                    "artifact-conflict",
                    f"{request.name} was stored for this attempt with sha256 {stored.sha256}",
                    artifactId=stored.artifact_id,
                )
            return stored
        if attempt.terminal is not None:
            raise ApiError(409, "attempt-finished", "the attempt already reported its terminal")
        stored = StoredArtifact(
            artifact_id=new_id("art"),
            run_id=run_id,
            attempt_id=request.attemptId,
            name=request.name,
            media_type=request.mediaType,
            sha256=request.sha256,
            size_bytes=len(content),
            content=content,
            received_at=self._clock.now(),
        )
        self._by_name[key] = stored
        self._by_id[stored.artifact_id] = stored
        return stored

    def _decode(self, request: ArtifactRequest) -> bytes:
        """The decoded content, once it is valid base64, small enough and as declared."""
        try:
            content = base64.b64decode(request.contentBase64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(
                400,
                "artifact-invalid",
                f"contentBase64 is not standard padded base64: {exc}",
                field="contentBase64",
            ) from exc
        if len(content) > self.max_artifact_bytes:
            raise ApiError(
                413,
                "artifact-too-large",
                f"{len(content)} bytes decoded; at most {self.max_artifact_bytes} (§12)",
                maxBytes=self.max_artifact_bytes,
            )
        if len(content) != request.sizeBytes:
            raise ApiError(
                400,
                "artifact-invalid",
                f"sizeBytes is {request.sizeBytes} but contentBase64 decodes to {len(content)}",
                field="sizeBytes",
            )
        digest = hashlib.sha256(content).hexdigest()
        if digest != request.sha256:
            raise ApiError(
                400,
                "artifact-invalid",
                f"sha256 is not the digest of the decoded content ({digest})",
                field="sha256",
            )
        return content

    # -- reading ----------------------------------------------------------------------

    def of_attempt(self, run_id: str, attempt_id: str) -> list[StoredArtifact]:
        """The attempt's artifacts in upload order."""
        return [a for (r, t, _), a in self._by_name.items() if (r, t) == (run_id, attempt_id)]

    def of_run(self, run_id: str) -> list[StoredArtifact]:
        """The run's artifacts (every attempt) in upload order."""
        return [a for a in self._by_id.values() if a.run_id == run_id]

    def get(self, run_id: str, attempt_id: str, name: str) -> StoredArtifact | None:
        """The artifact stored under that name for the attempt, or None."""
        return self._by_name.get((run_id, attempt_id, name))

    def by_id(self, run_id: str, artifact_id: str) -> StoredArtifact:
        """The run's artifact with that id.

        Raises:
            ApiError: 404 artifact-not-found (unknown id, or another run's artifact).
        """
        stored = self._by_id.get(artifact_id)
        if stored is None or stored.run_id != run_id:
            raise ApiError(404, "artifact-not-found", f"run {run_id} has no artifact {artifact_id}")
        return stored

    # -- §7 -------------------------------------------------------------------------

    def check_workspace(
        self,
        run_id: str,
        attempt_id: str,
        workspace: WorkspaceResult | None,
        job_workspace: object,
    ) -> None:
        """§7/§12 rules of a terminal's `workspace` that need the run's state.

        Args:
            run_id: the run.
            attempt_id: the attempt reporting.
            workspace: the terminal's `workspace` (None when null or absent).
            job_workspace: the claimed job's `workspace` (None when it has none).

        Raises:
            ApiError: 400 invalid-request (a workspace result for a job without a
                workspace; `resultRef` not `refs/agentrun/runs/{runId}/{attemptId}`);
                400 artifact-missing (`patchSha256` names no stored `workspace.patch`).
        """
        if workspace is None:
            return
        if job_workspace is None:
            raise ApiError(400, "invalid-request", "workspace must be null: the job has none (§7)")
        expected_ref = f"refs/agentrun/runs/{run_id}/{attempt_id}"
        if workspace.resultRef is not None and workspace.resultRef != expected_ref:
            raise ApiError(
                400, "invalid-request", f"workspace.resultRef must be {expected_ref} (§12)"
            )
        if workspace.patchSha256 is None:
            return
        patch = self.get(run_id, attempt_id, PATCH_NAME)
        if patch is None or patch.sha256 != workspace.patchSha256:
            raise ApiError(
                400,
                "artifact-missing",
                f"workspace.patchSha256 names no {PATCH_NAME} stored for attempt {attempt_id}",
                field="workspace.patchSha256",
            )
