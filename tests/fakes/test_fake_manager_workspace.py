"""The fake manager checks a terminal's §7 `workspace` result against §12 and its artifacts.

Each test serves a fresh fake manager whose job has a subject repo, reports what a
runner would after capturing the change, and asserts status codes and §8 error codes.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes.test_fake_manager_support import (
    Harness,
    artifact_body,
    error_code,
    event,
    harness,
    terminal_body,
)

pytestmark = pytest.mark.anyio

BASE = "1" * 40
RESULT = "2" * 40
PATCH = b"diff --git a/README.md b/README.md\n+fixed\n"
SUBJECT = {
    "repoUrl": "https://github.com/pikasTech/HWLAB",
    "ref": "v0.2",
    "commitId": None,
    "path": "subject",
}


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async with harness(workspace=SUBJECT) as served:
        yield served


def _workspace(h: Harness, **changes: Any) -> dict[str, Any]:
    """A valid changed §7 `workspace` whose patch is `PATCH`, with `changes` applied."""
    return {
        "baseCommit": BASE,
        "resultCommit": RESULT,
        "changed": True,
        "resultRef": f"refs/agentrun/runs/{h.run_id}/{h.attempt_id}",
        "patchSha256": hashlib.sha256(PATCH).hexdigest(),
        **changes,
    }


def _terminal(h: Harness, lease: str, workspace: Any, last_seq: int = 0) -> dict[str, Any]:
    return {**terminal_body(h.job, lease, last_seq), "workspace": workspace}


async def test_a_terminal_with_a_workspace_whose_patch_was_uploaded_is_accepted(
    h: Harness,
) -> None:
    lease = await h.claim()
    assert (await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))).status_code == 200
    body = _terminal(h, lease, _workspace(h))
    response = await h.post("terminal", body)
    assert response.status_code == 200, response.text
    assert h.mgr.terminal(h.run_id, h.attempt_id) == body


@pytest.mark.parametrize(
    "workspace",
    [
        {"changed": False, "resultCommit": BASE, "resultRef": None, "patchSha256": None},
        {"resultRef": None, "patchSha256": None},
        {"baseCommit": "a" * 64, "resultCommit": "b" * 64, "patchSha256": None},
    ],
)
async def test_a_workspace_without_a_pushed_ref_or_an_uploaded_patch_is_accepted(
    h: Harness, workspace: dict[str, Any]
) -> None:
    lease = await h.claim()
    response = await h.post("terminal", _terminal(h, lease, _workspace(h, **workspace)))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("absent", [False, True])
async def test_a_null_or_absent_workspace_is_accepted(h: Harness, absent: bool) -> None:
    lease = await h.claim()
    body = terminal_body(h.job, lease, 0) if absent else _terminal(h, lease, None)
    assert (await h.post("terminal", body)).status_code == 200
    assert h.mgr.terminal(h.run_id, h.attempt_id) == body


async def test_a_patch_sha256_of_no_stored_patch_is_refused_with_artifact_missing(
    h: Harness,
) -> None:
    lease = await h.claim()
    response = await h.post("terminal", _terminal(h, lease, _workspace(h)))
    assert (response.status_code, error_code(response)) == (400, "artifact-missing")
    other = artifact_body(lease, h.attempt_id, PATCH + b"other")
    assert (await h.post("artifacts", other)).status_code == 200
    response = await h.post("terminal", _terminal(h, lease, _workspace(h)))
    assert (response.status_code, error_code(response)) == (400, "artifact-missing")
    named = artifact_body(lease, h.attempt_id, PATCH, name="patch.diff")
    assert (await h.post("artifacts", named)).status_code == 200
    response = await h.post("terminal", _terminal(h, lease, _workspace(h)))
    assert (response.status_code, error_code(response)) == (400, "artifact-missing")
    assert h.mgr.terminal(h.run_id, h.attempt_id) is None


async def test_a_patch_of_another_attempt_does_not_count(h: Harness) -> None:
    second = {**h.job, "runnerJobId": "rj-second", "attemptId": "att-second"}
    h.mgr.add_job(second)
    other_lease = await h.claim("rnr-2", job=second)
    upload = artifact_body(other_lease, "att-second", PATCH)
    assert (await h.post("artifacts", upload)).status_code == 200
    lease = await h.claim()
    response = await h.post("terminal", _terminal(h, lease, _workspace(h)))
    assert (response.status_code, error_code(response)) == (400, "artifact-missing")


@pytest.mark.parametrize(
    "changes",
    [
        {"changed": False},  # resultCommit differs from baseCommit
        {"changed": True, "resultCommit": BASE},  # a change without a commit
        {"surprise": 1},
        {"baseCommit": "1" * 39},
        {"resultCommit": "A" * 40},
        {"changed": "true"},
        {"resultRef": "refs/heads/main"},
        {"patchSha256": "F" * 64},
        {"patchSha256": ""},
    ],
)
async def test_a_workspace_off_the_contract_is_refused_with_400(
    h: Harness, changes: dict[str, Any]
) -> None:
    lease = await h.claim()
    assert (await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))).status_code == 200
    response = await h.post("terminal", _terminal(h, lease, _workspace(h, **changes)))
    assert (response.status_code, error_code(response)) == (400, "invalid-request")
    assert h.mgr.terminal(h.run_id, h.attempt_id) is None


@pytest.mark.parametrize("missing", ["baseCommit", "resultCommit", "changed", "resultRef"])
async def test_a_workspace_missing_a_field_is_refused_with_400(h: Harness, missing: str) -> None:
    lease = await h.claim()
    workspace = _workspace(h, patchSha256=None)
    del workspace[missing]
    response = await h.post("terminal", _terminal(h, lease, workspace))
    assert (response.status_code, error_code(response)) == (400, "invalid-request")


async def test_a_result_ref_of_another_attempt_is_refused_with_400(h: Harness) -> None:
    lease = await h.claim()
    ref = f"refs/agentrun/runs/{h.run_id}/att-other"
    workspace = _workspace(h, resultRef=ref, patchSha256=None)
    response = await h.post("terminal", _terminal(h, lease, workspace))
    assert (response.status_code, error_code(response)) == (400, "invalid-request")


async def test_a_workspace_result_for_a_job_without_a_workspace_is_refused() -> None:
    async with harness() as h:
        lease = await h.claim()
        workspace = _workspace(h, patchSha256=None)
        response = await h.post("terminal", _terminal(h, lease, workspace))
        assert (response.status_code, error_code(response)) == (400, "invalid-request")
        assert (await h.post("terminal", _terminal(h, lease, None))).status_code == 200


async def test_the_same_terminal_with_its_workspace_again_is_accepted_another_is_a_conflict(
    h: Harness,
) -> None:
    lease = await h.claim()
    assert (await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))).status_code == 200
    body = _terminal(h, lease, _workspace(h))
    assert (await h.post("terminal", body)).status_code == 200
    assert (await h.post("terminal", body)).status_code == 200
    other = _terminal(h, lease, _workspace(h, patchSha256=None))
    response = await h.post("terminal", other)
    assert (response.status_code, error_code(response)) == (409, "terminal-conflict")
    assert h.mgr.terminal(h.run_id, h.attempt_id) == body


async def test_a_workspace_publish_failure_is_a_failure_kind_a_terminal_may_carry(
    h: Harness,
) -> None:
    lease = await h.claim()
    body = terminal_body(h.job, lease, 0, status="failed", failure_kind="workspace-publish-failed")
    body["workspace"] = _workspace(h, resultRef=None, patchSha256=None)
    response = await h.post("terminal", body)
    assert response.status_code == 200, response.text


async def test_a_workspace_changed_event_with_the_section_12_data_is_stored(h: Harness) -> None:
    lease = await h.claim()
    data = {
        "baseCommit": BASE,
        "resultCommit": RESULT,
        "changed": True,
        "resultRef": f"refs/agentrun/runs/{h.run_id}/{h.attempt_id}",
        "pushed": True,
        "fetchRepoUrl": "http://git-mirror-http.invalid/pikasTech/HWLAB.git",
        "filesChanged": 1,
        "insertions": 1,
        "deletions": 0,
        "files": [
            {
                "path": "README.md",
                "status": "modified",
                "insertions": 1,
                "deletions": 0,
                "binary": False,
            }
        ],
        "masked": [],
        "skillsInSubject": [],
        "patch": {
            "name": "workspace.patch",
            "sha256": hashlib.sha256(PATCH).hexdigest(),
            "sizeBytes": len(PATCH),
            "uploaded": True,
            "reason": None,
        },
        "durationMs": 42,
    }
    changed = event(1, h.command_id, "workspace.changed", **data)
    response = await h.send_events(lease, [changed])
    assert (response.status_code, response.json()) == (200, {"ackedSeq": 1})
    assert h.mgr.events(h.run_id, h.attempt_id) == [changed]
