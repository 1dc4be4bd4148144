"""The fake manager's §12 artifact uploads and the operator's artifact listing, over HTTP.

Each test serves a fresh fake manager (`harness()`) and uploads the way the runner
does; assertions are on status codes, §8 error codes and the `field` they name, and on
what the fake stored, never on message text.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes.test_fake_manager_support import (
    API,
    Harness,
    artifact_body,
    error_code,
    harness,
    terminal_body,
)

pytestmark = pytest.mark.anyio

PATCH = b"diff --git a/f.bin b/f.bin\nGIT binary patch\n\x00\xff\x10 binary-safe\n"


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async with harness() as served:
        yield served


def _error(response: httpx.Response) -> dict[str, Any]:
    error_code(response)
    error: dict[str, Any] = response.json()["error"]
    return error


# -- POST /runs/{runId}/artifacts ---------------------------------------------------------


async def test_an_upload_is_answered_with_an_artifact_id_and_its_bytes_are_stored(
    h: Harness,
) -> None:
    lease = await h.claim()
    response = await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"artifactId"}
    artifact_id = response.json()["artifactId"]
    assert artifact_id.startswith("art-")
    stored = h.mgr.artifact(h.run_id, h.attempt_id, "workspace.patch")
    assert stored is not None
    assert (stored.artifact_id, stored.run_id, stored.attempt_id) == (
        artifact_id,
        h.run_id,
        h.attempt_id,
    )
    assert stored.content == PATCH
    assert (stored.media_type, stored.size_bytes) == ("text/x-diff", len(PATCH))
    assert stored.sha256 == hashlib.sha256(PATCH).hexdigest()
    assert h.mgr.artifacts(h.run_id, h.attempt_id) == [stored]
    assert h.mgr.artifact(h.run_id, h.attempt_id, "other") is None


async def test_the_same_upload_again_answers_the_same_artifact_id_and_stores_it_once(
    h: Harness,
) -> None:
    lease = await h.claim()
    body = artifact_body(lease, h.attempt_id, PATCH)
    first = await h.post("artifacts", body)
    again = await h.post("artifacts", body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert len(h.mgr.artifacts(h.run_id, h.attempt_id)) == 1
    uploads = [r for r in h.mgr.requests if r.method == "POST" and r.path.endswith("/artifacts")]
    assert [r.status for r in uploads] == [200, 200]


async def test_the_same_name_with_another_sha256_is_refused_with_artifact_conflict(
    h: Harness,
) -> None:
    lease = await h.claim()
    first = await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))
    response = await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH + b"more"))
    assert (response.status_code, error_code(response)) == (409, "artifact-conflict")
    assert _error(response)["artifactId"] == first.json()["artifactId"]
    stored = h.mgr.artifact(h.run_id, h.attempt_id, "workspace.patch")
    assert stored is not None
    assert stored.content == PATCH
    other = await h.post("artifacts", artifact_body(lease, h.attempt_id, b"x", name="notes.txt"))
    assert other.status_code == 200
    assert len(h.mgr.artifacts(h.run_id, h.attempt_id)) == 2


async def test_an_artifact_over_the_configured_limit_is_refused_with_413() -> None:
    async with harness(max_artifact_bytes=16) as h:
        lease = await h.claim()
        response = await h.post("artifacts", artifact_body(lease, h.attempt_id, b"a" * 17))
        assert (response.status_code, error_code(response)) == (413, "artifact-too-large")
        assert _error(response)["maxBytes"] == 16
        assert h.mgr.artifacts(h.run_id, h.attempt_id) == []
        huge = {**artifact_body(lease, h.attempt_id, b"a"), "contentBase64": "QUFB" * 20_000}
        response = await h.post("artifacts", huge)
        assert (response.status_code, error_code(response)) == (413, "artifact-too-large")
        response = await h.post("artifacts", artifact_body(lease, h.attempt_id, b"a" * 16))
        assert response.status_code == 200


async def test_by_default_8_mib_are_accepted_and_one_byte_more_is_too_large(h: Harness) -> None:
    lease = await h.claim()
    limit = 8 * 1024 * 1024
    over = await h.post("artifacts", artifact_body(lease, h.attempt_id, b"\x00" * (limit + 1)))
    assert (over.status_code, error_code(over)) == (413, "artifact-too-large")
    at = await h.post("artifacts", artifact_body(lease, h.attempt_id, b"\x00" * limit))
    assert at.status_code == 200
    stored = h.mgr.artifact(h.run_id, h.attempt_id, "workspace.patch")
    assert stored is not None
    assert stored.size_bytes == limit


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sizeBytes", len(PATCH) + 1),
        ("sizeBytes", 0),
        ("sha256", hashlib.sha256(b"something else").hexdigest()),
        ("contentBase64", "not base64!"),
        ("contentBase64", base64.b64encode(PATCH).decode().rstrip("=") + "Q"),
        ("contentBase64", base64.urlsafe_b64encode(b"\xfb\xff\xfe").decode()),
    ],
)
async def test_an_upload_whose_content_is_not_as_declared_is_refused_naming_the_field(
    h: Harness, field: str, value: Any
) -> None:
    lease = await h.claim()
    response = await h.post(
        "artifacts", {**artifact_body(lease, h.attempt_id, PATCH), field: value}
    )
    assert (response.status_code, error_code(response)) == (400, "artifact-invalid")
    assert _error(response)["field"] == field
    assert h.mgr.artifacts(h.run_id, h.attempt_id) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("surprise", 1),
        ("name", ...),
        ("mediaType", ...),
        ("contentBase64", ...),
        ("name", ""),
        ("sizeBytes", "3"),
        ("sizeBytes", -1),
        ("sha256", hashlib.sha256(PATCH).hexdigest().upper()),
        ("sha256", "abc"),
    ],
)
async def test_an_upload_body_off_the_contract_is_refused_with_400(
    h: Harness, field: str, value: Any
) -> None:
    lease = await h.claim()
    body = artifact_body(lease, h.attempt_id, PATCH)
    if value is ...:
        del body[field]
    else:
        body[field] = value
    response = await h.post("artifacts", body)
    assert (response.status_code, error_code(response)) == (400, "invalid-request")
    assert h.mgr.artifacts(h.run_id, h.attempt_id) == []


async def test_uploads_under_a_lost_lease_or_for_a_cancelled_attempt_are_refused_as_events_are(
    h: Harness,
) -> None:
    lease = await h.claim()
    response = await h.post("artifacts", artifact_body("lse-not-mine", h.attempt_id, PATCH))
    assert (response.status_code, error_code(response)) == (409, "lease-lost")
    h.mgr.expire_lease(h.run_id, h.attempt_id)
    response = await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))
    assert (response.status_code, error_code(response)) == (409, "lease-lost")
    h.mgr.cancel_attempt(h.run_id, h.attempt_id)
    response = await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))
    assert (response.status_code, error_code(response)) == (410, "attempt-cancelled")
    assert h.mgr.artifacts(h.run_id, h.attempt_id) == []


async def test_uploads_for_an_unknown_run_or_attempt_or_without_the_token_are_refused(
    h: Harness,
) -> None:
    lease = await h.claim()
    body = artifact_body(lease, h.attempt_id, PATCH)
    response = await h.client.post(f"{API}/runs/run-nope/artifacts", json=body)
    assert (response.status_code, error_code(response)) == (404, "run-not-found")
    response = await h.post("artifacts", {**body, "attemptId": "att-nope"})
    assert (response.status_code, error_code(response)) == (404, "attempt-not-found")
    async with httpx.AsyncClient(base_url=h.mgr.url) as anonymous:
        response = await anonymous.post(f"{API}/runs/{h.run_id}/artifacts", json=body)
    assert (response.status_code, error_code(response)) == (401, "unauthorized")
    assert h.mgr.artifacts(h.run_id, h.attempt_id) == []


async def test_after_the_terminal_a_repeat_is_answered_but_a_new_artifact_is_refused(
    h: Harness,
) -> None:
    lease = await h.claim()
    body = artifact_body(lease, h.attempt_id, PATCH)
    first = await h.post("artifacts", body)
    assert (await h.post("terminal", terminal_body(h.job, lease, 0))).status_code == 200
    again = await h.post("artifacts", body)
    assert (again.status_code, again.json()) == (200, first.json())
    late = await h.post("artifacts", artifact_body(lease, h.attempt_id, b"x", name="late.txt"))
    assert (late.status_code, error_code(late)) == (409, "attempt-finished")
    assert [a.name for a in h.mgr.artifacts(h.run_id, h.attempt_id)] == ["workspace.patch"]


@pytest.mark.parametrize("fault", ["status", "reset", "body"])
async def test_transport_knobs_apply_to_uploads_and_the_upload_is_not_processed(
    h: Harness, fault: str
) -> None:
    lease = await h.claim()
    pattern = "/api/v1/runs/*/artifacts"
    if fault == "status":
        h.mgr.knobs.fail_next("POST", pattern, status=503)
    elif fault == "reset":
        h.mgr.knobs.reset_next("POST", pattern)
    else:
        h.mgr.knobs.answer_next("POST", pattern, b"<html>")
    body = artifact_body(lease, h.attempt_id, PATCH)
    if fault == "reset":
        with pytest.raises(httpx.TransportError):
            await h.post("artifacts", body)
    else:
        response = await h.post("artifacts", body)
        assert response.status_code == (503 if fault == "status" else 200)
    assert h.mgr.artifacts(h.run_id, h.attempt_id) == []
    assert h.mgr.requests[-1].fault == fault
    assert (await h.post("artifacts", body)).status_code == 200
    assert len(h.mgr.artifacts(h.run_id, h.attempt_id)) == 1


# -- GET /runs/{runId}/artifacts[/{artifactId}] (operators, the demo) -------------------------


async def test_the_listing_shows_a_runs_artifacts_without_content_and_filters_by_attempt(
    h: Harness,
) -> None:
    lease = await h.claim()
    patch_id = (await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))).json()
    notes = artifact_body(lease, h.attempt_id, b"n", name="notes.txt", media_type="text/plain")
    await h.post("artifacts", notes)
    response = await h.client.get(f"{API}/runs/{h.run_id}/artifacts")
    assert response.status_code == 200
    listed = response.json()["artifacts"]
    assert [a["name"] for a in listed] == ["workspace.patch", "notes.txt"]
    assert listed[0]["artifactId"] == patch_id["artifactId"]
    assert set(listed[0]) == {
        "artifactId",
        "runId",
        "attemptId",
        "name",
        "mediaType",
        "sha256",
        "sizeBytes",
        "receivedAt",
    }
    assert (listed[0]["sha256"], listed[0]["sizeBytes"]) == (
        hashlib.sha256(PATCH).hexdigest(),
        len(PATCH),
    )
    own = await h.client.get(f"{API}/runs/{h.run_id}/artifacts", params={"attemptId": h.attempt_id})
    assert own.json() == response.json()
    other = await h.client.get(f"{API}/runs/{h.run_id}/artifacts", params={"attemptId": "att-x"})
    assert other.json() == {"artifacts": []}
    for bad in ({"leaseId": lease}, {"attemptId": [h.attempt_id, "att-other"]}):
        refused = await h.client.get(f"{API}/runs/{h.run_id}/artifacts", params=bad)
        assert (refused.status_code, error_code(refused)) == (400, "invalid-request")
    missing = await h.client.get(f"{API}/runs/run-nope/artifacts")
    assert (missing.status_code, error_code(missing)) == (404, "run-not-found")


async def test_an_artifact_is_served_as_its_raw_bytes_with_its_media_type(h: Harness) -> None:
    lease = await h.claim()
    uploaded = await h.post("artifacts", artifact_body(lease, h.attempt_id, PATCH))
    artifact_id = uploaded.json()["artifactId"]
    response = await h.client.get(f"{API}/runs/{h.run_id}/artifacts/{artifact_id}")
    assert response.status_code == 200
    assert response.content == PATCH
    assert response.headers["content-type"] == "text/x-diff"
    for path in (f"runs/{h.run_id}/artifacts/art-nope", f"runs/run-other/artifacts/{artifact_id}"):
        response = await h.client.get(f"{API}/{path}")
        assert (response.status_code, error_code(response)) == (404, "artifact-not-found")
