"""The §2 `job` object: a strict model of it and `example_job` to build valid ones.

The fake serves job dicts as given (tests may serve a broken job on purpose to test
`job-spec-invalid`); `JobSpec` is only used to check the ones meant to be valid.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fakes.manager.models import NonEmptyStr


def new_id(prefix: str) -> str:
    """A fresh id in the contract's style, e.g. `new_id("run") == "run-3f2a…"`."""
    return f"{prefix}-{secrets.token_hex(6)}"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class InputItem(_Spec):
    type: Literal["text"]
    text: str


class JobCommand(_Spec):
    commandId: NonEmptyStr
    type: Literal["turn"]
    input: list[InputItem] = Field(min_length=1)


class JobSession(_Spec):
    sessionId: NonEmptyStr
    threadId: str | None


class Backend(_Spec):
    kind: Literal["codex"]
    profile: NonEmptyStr
    model: NonEmptyStr
    approvalPolicy: NonEmptyStr
    sandbox: NonEmptyStr
    configOverrides: dict[str, Any]


class Workspace(_Spec):
    repoUrl: NonEmptyStr
    ref: str | None
    commitId: str | None
    path: NonEmptyStr


class BundleMapping(_Spec):
    source: NonEmptyStr
    target: NonEmptyStr


class ResourceBundle(_Spec):
    kind: Literal["gitbundle"]
    name: NonEmptyStr
    repoUrl: NonEmptyStr
    ref: str | None
    commitId: str | None
    bundles: list[BundleMapping]
    promptRefs: list[str]


class Timeouts(_Spec):
    turnSeconds: int = Field(ge=1)
    idleSeconds: int = Field(ge=1)


class Limits(_Spec):
    maxEventBytes: int = Field(ge=1)


class JobSpec(_Spec):
    """The §2 claim response's `job`, every field as the contract's example shows it."""

    runnerJobId: NonEmptyStr
    runId: NonEmptyStr
    attemptId: NonEmptyStr
    attempt: int = Field(ge=1)
    command: JobCommand
    session: JobSession
    backend: Backend
    workspace: Workspace | None
    resourceBundles: list[ResourceBundle]
    timeouts: Timeouts
    limits: Limits


def example_job(
    *,
    text: str = "Say hello.",
    run_id: str | None = None,
    attempt: int = 1,
    attempt_id: str | None = None,
    runner_job_id: str | None = None,
    command_id: str | None = None,
    session_id: str | None = None,
    thread_id: str | None = None,
    model: str = "mock-model",
    turn_seconds: int = 600,
    idle_seconds: int = 120,
    max_event_bytes: int = 65536,
    workspace: dict[str, Any] | None = None,
    resource_bundles: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build a valid §2 `job` dict: one text input, Codex backend, fresh ids.

    Args:
        text: the single text input of the `turn` command.
        run_id, attempt_id, runner_job_id, command_id, session_id: ids; fresh if None.
        attempt: the 1-based attempt number.
        thread_id: `session.threadId`; non-null asks the runner to `thread/resume` it.
        model: `backend.model`.
        turn_seconds, idle_seconds: `timeouts`.
        max_event_bytes: `limits.maxEventBytes`, the cap on one event's `data`.
        workspace: the `workspace` object, or None for no subject repo.
        resource_bundles: `resourceBundles`, default none.

    Returns:
        A new JSON-able dict that validates as `JobSpec`.
    """
    return {
        "runnerJobId": runner_job_id or new_id("rj"),
        "runId": run_id or new_id("run"),
        "attemptId": attempt_id or new_id("att"),
        "attempt": attempt,
        "command": {
            "commandId": command_id or new_id("cmd"),
            "type": "turn",
            "input": [{"type": "text", "text": text}],
        },
        "session": {"sessionId": session_id or new_id("ses"), "threadId": thread_id},
        "backend": {
            "kind": "codex",
            "profile": "codex",
            "model": model,
            "approvalPolicy": "never",
            "sandbox": "workspace-write",
            "configOverrides": {},
        },
        "workspace": workspace,
        "resourceBundles": list(resource_bundles or []),
        "timeouts": {"turnSeconds": turn_seconds, "idleSeconds": idle_seconds},
        "limits": {"maxEventBytes": max_event_bytes},
    }


def next_attempt(job: dict[str, Any], *, thread_id: str | None = None) -> dict[str, Any]:
    """The job of the next attempt of the same run and command (new runner job id).

    Args:
        job: a job dict as `example_job` builds it.
        thread_id: `session.threadId` for the new attempt (e.g. the thread attempt 1
            reported), or None to keep the previous one.

    Returns:
        A new dict with fresh `runnerJobId`/`attemptId` and `attempt + 1`.
    """
    following = {**job}
    following["runnerJobId"] = new_id("rj")
    following["attemptId"] = new_id("att")
    following["attempt"] = int(job["attempt"]) + 1
    session = dict(job["session"])
    if thread_id is not None:
        session["threadId"] = thread_id
    following["session"] = session
    return following
