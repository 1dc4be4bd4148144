"""`workspace.changed` and the patch upload (contract §12), on `httpx.MockTransport`."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from bundles.mirror import resolve_fetch_url
from runner.manager.client import ManagerClient, make_http_client
from runner.manager.delivery import ManagerLink
from runner.manager.retry import set_instant_retries
from runner.workspace.capture import Capture
from runner.workspace.changes import ChangedFile
from runner.workspace.plan import terminal_workspace_of
from runner.workspace.result import MAX_FILES, ResultPlan, event_data, upload_patch

pytestmark = pytest.mark.anyio

BASE = "a" * 40
RESULT = "b" * 40


def plan(tmp_path: Path) -> ResultPlan:
    read = resolve_fetch_url("https://github.com/o/r", "http://mirror.test")
    return ResultPlan(tmp_path, BASE, read, None, "", tmp_path)


def capture_with(tmp_path: Path, patch: bytes, files: list[ChangedFile]) -> Capture:
    path = tmp_path / "workspace.patch"
    path.write_bytes(patch)
    return Capture(
        BASE,
        RESULT,
        True,
        tmp_path,
        files=files,
        patch_path=path,
        patch_sha256=hashlib.sha256(patch).hexdigest(),
        patch_size_bytes=len(patch),
    )


def link_answering(handler: Any) -> ManagerLink:
    client = ManagerClient(
        make_http_client("http://mgr.test", "t0ken-value", transport=httpx.MockTransport(handler))
    )
    return ManagerLink(client, client, client, "run-1", "att-1", "lse-1", 10.0)


def test_files_are_cut_at_500_entries_and_flagged(tmp_path: Path) -> None:
    files = [ChangedFile(f"f{i}.txt", "added", 1, 0, False) for i in range(MAX_FILES + 20)]
    capture = capture_with(tmp_path, b"diff", files)

    data = event_data(
        plan(tmp_path),
        capture,
        ref="r",
        pushed=False,
        patch={},
        duration_ms=1,
        max_event_bytes=1 << 20,
    )

    assert len(data["files"]) == MAX_FILES
    assert data["filesTruncated"] is True
    assert data["filesChanged"] == MAX_FILES + 20
    assert data["insertions"] == MAX_FILES + 20


def test_files_are_cut_to_keep_the_event_under_max_event_bytes(tmp_path: Path) -> None:
    files = [ChangedFile(f"dir/{'x' * 200}/{i}", "added", 1, 0, False) for i in range(300)]
    capture = capture_with(tmp_path, b"diff", files)

    data = event_data(
        plan(tmp_path),
        capture,
        ref="r",
        pushed=True,
        patch={},
        duration_ms=1,
        max_event_bytes=16384,
    )

    assert len(json.dumps(data).encode()) < 16384
    assert 0 < len(data["files"]) < 300
    assert data["filesTruncated"] is True
    assert data["resultRef"] == "r"


async def test_the_patch_is_uploaded_with_its_sha256_size_and_base64_content(
    tmp_path: Path,
) -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"artifactId": "art-1"})

    capture = capture_with(tmp_path, b"diff --git a/x b/x\n", [])
    link = link_answering(handler)
    with anyio.fail_after(5):
        patch = await upload_patch(link, capture)
    await link.events_client.http.aclose()

    [body] = bodies
    assert body["name"] == "workspace.patch"
    assert body["mediaType"] == "text/x-diff"
    assert base64.b64decode(body["contentBase64"]) == b"diff --git a/x b/x\n"
    assert body["sha256"] == capture.patch_sha256
    assert body["sizeBytes"] == capture.patch_size_bytes
    assert (body["leaseId"], body["attemptId"]) == ("lse-1", "att-1")
    assert patch["uploaded"] is True
    assert patch["artifactId"] == "art-1"


async def test_a_patch_over_8_mib_is_not_uploaded_and_says_too_large(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"artifactId": "art-1"})

    capture = capture_with(tmp_path, b"x" * (8 * 1024 * 1024 + 1), [])
    link = link_answering(handler)
    patch = await upload_patch(link, capture)
    await link.events_client.http.aclose()

    assert calls == []
    assert patch["uploaded"] is False
    assert patch["reason"] == "too-large"
    assert patch["sha256"] == capture.patch_sha256


async def test_a_conflicting_artifact_is_reported_not_retried(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(409, json={"error": {"code": "artifact-conflict", "message": "m"}})

    link = link_answering(handler)
    patch = await upload_patch(link, capture_with(tmp_path, b"diff", []))
    await link.events_client.http.aclose()

    assert len(calls) == 1
    assert patch == {**patch, "uploaded": False, "reason": "artifact-conflict"}
    assert not link.lost.is_set()


async def test_a_lost_lease_during_the_upload_stops_the_attempt(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"error": {"code": "lease-lost", "message": "m"}})

    link = link_answering(handler)
    await upload_patch(link, capture_with(tmp_path, b"diff", []))
    await link.events_client.http.aclose()

    assert link.lost.is_set()


async def test_a_manager_that_stays_down_leaves_the_patch_not_uploaded(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"code": "unavailable", "message": "m"}})

    link = link_answering(handler)
    set_instant_retries(True)
    try:
        patch = await upload_patch(link, capture_with(tmp_path, b"diff", []))
    finally:
        set_instant_retries(False)
        await link.events_client.http.aclose()

    assert patch["uploaded"] is False
    assert patch["reason"] == "unavailable"


def test_the_terminal_field_names_the_ref_only_when_pushed_and_the_sha_only_when_uploaded() -> None:
    data = {
        "baseCommit": BASE,
        "resultCommit": RESULT,
        "changed": True,
        "resultRef": "refs/agentrun/runs/r/a",
        "pushed": False,
        "patch": {"sha256": "c" * 64, "uploaded": False},
    }
    field = terminal_workspace_of(data)
    assert field.result_ref is None
    assert field.patch_sha256 is None
    field = terminal_workspace_of(
        {**data, "pushed": True, "patch": {"sha256": "c" * 64, "uploaded": True}}
    )
    assert field.result_ref == "refs/agentrun/runs/r/a"
    assert field.patch_sha256 == "c" * 64
