"""Shared helpers of the fake manager tests: a served manager plus a client, and bodies.

The bodies are built from the contract text (§2-§7), one helper per request kind,
so each test states only what it changes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from fakes.manager import (
    DEFAULT_MAX_ARTIFACT_BYTES,
    FakeManager,
    Knobs,
    example_job,
    format_time,
    serve_fake_manager,
)

TOKEN = "test-token-4b1d"
API = "/api/v1"


def now_text() -> str:
    """The current time as the contract writes it."""
    return format_time(datetime.now(UTC))


def runner_body(runner_id: str = "rnr-1") -> dict[str, Any]:
    """A valid §2 claim body."""
    return {
        "runner": {
            "runnerId": runner_id,
            "pod": "agentrun-runner-abc",
            "node": "g14",
            "namespace": "agentrun-v01",
            "capabilities": {
                "backends": ["codex"],
                "codexVersion": "0.169.0",
                "runnerVersion": "0.1.0",
                "bootCommit": "0123456789abcdef0123456789abcdef01234567",
                "envIdentity": "abc123",
                "python": "3.11.7",
                "cpuCount": 2,
                "memoryBytes": 25769803776,
            },
        }
    }


def event(seq: int, command_id: str, type_: str = "item.delta", **data: Any) -> dict[str, Any]:
    """A valid §3 event."""
    return {
        "seq": seq,
        "type": type_,
        "time": now_text(),
        "commandId": command_id,
        "data": data or {"text": f"event {seq}"},
    }


def heartbeat_body(lease_id: str, attempt_id: str, phase: str = "waiting-runner") -> dict[str, Any]:
    """A valid §4 heartbeat body."""
    return {
        "leaseId": lease_id,
        "attemptId": attempt_id,
        "liveness": {
            "phase": phase,
            "phaseSince": now_text(),
            "lastEventSeq": 0,
            "lastBackendActivityAt": None,
            "turnId": None,
            "activeItem": None,
        },
        "resources": {"rssBytes": 123, "cpuSeconds": 4.2, "processCount": 3},
    }


def terminal_body(
    job: dict[str, Any],
    lease_id: str,
    last_seq: int,
    *,
    status: str = "succeeded",
    failure_kind: str | None = None,
) -> dict[str, Any]:
    """A valid §7 terminal body for `job`."""
    return {
        "leaseId": lease_id,
        "attemptId": job["attemptId"],
        "commandId": job["command"]["commandId"],
        "status": status,
        "failureKind": failure_kind,
        "failureMessage": None if failure_kind is None else "it failed",
        "finalResponse": "done" if status == "succeeded" else None,
        "session": {"sessionId": job["session"]["sessionId"], "threadId": "thr-1"},
        "turnId": "turn-1",
        "usage": {"inputTokens": 10, "cachedInputTokens": 0, "outputTokens": 5},
        "lastSeq": last_seq,
        "durationMs": 1234,
    }


def delivery_body(lease_id: str, state: str, **detail: Any) -> dict[str, Any]:
    """A valid §6 delivery body."""
    return {"leaseId": lease_id, "state": state, "time": now_text(), "detail": detail}


def artifact_body(
    lease_id: str,
    attempt_id: str,
    content: bytes = b"diff --git a/x b/x\n",
    *,
    name: str = "workspace.patch",
    media_type: str = "text/x-diff",
) -> dict[str, Any]:
    """A valid §12 artifact upload body carrying `content`."""
    return {
        "leaseId": lease_id,
        "attemptId": attempt_id,
        "name": name,
        "mediaType": media_type,
        "sha256": hashlib.sha256(content).hexdigest(),
        "sizeBytes": len(content),
        "contentBase64": base64.b64encode(content).decode(),
    }


def error_code(response: httpx.Response) -> str:
    """The §8 `error.code` of a response (asserting the body has the §8 shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    code = body["error"]["code"]
    assert isinstance(code, str)
    return code


@dataclass
class Harness:
    """A served fake manager, an authenticated client, and one registered job."""

    mgr: FakeManager
    client: httpx.AsyncClient
    job: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.job["runId"])

    @property
    def attempt_id(self) -> str:
        return str(self.job["attemptId"])

    @property
    def command_id(self) -> str:
        return str(self.job["command"]["commandId"])

    async def claim(self, runner_id: str = "rnr-1", job: dict[str, Any] | None = None) -> str:
        """Claim `job` (default: the harness job); returns the lease id."""
        job = job or self.job
        url = f"{API}/runner-jobs/{job['runnerJobId']}/claim"
        response = await self.client.post(url, json=runner_body(runner_id))
        assert response.status_code == 200, response.text
        return str(response.json()["lease"]["leaseId"])

    async def post(self, what: str, body: Any) -> httpx.Response:
        """POST to `/runs/{runId}/{what}`."""
        return await self.client.post(f"{API}/runs/{self.run_id}/{what}", json=body)

    async def send_events(self, lease_id: str, events: list[dict[str, Any]]) -> httpx.Response:
        """POST a §3 batch for the harness attempt."""
        body = {"leaseId": lease_id, "attemptId": self.attempt_id, "events": events}
        return await self.post("events", body)


@asynccontextmanager
async def harness(
    knobs: Knobs | None = None,
    *,
    max_wait_seconds: float = 60.0,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    **job_options: Any,
) -> AsyncIterator[Harness]:
    """Serve a fake manager with one `example_job(**job_options)` and a client for it."""
    served = serve_fake_manager(
        TOKEN, knobs, max_wait_seconds=max_wait_seconds, max_artifact_bytes=max_artifact_bytes
    )
    async with served as mgr:
        job = example_job(**job_options)
        mgr.add_job(job)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=mgr.url, headers=headers, timeout=10) as client:
            yield Harness(mgr, client, job)
