"""The attempt's workspace result step (§12), between the turn's end and `runner.terminal`.

`workspace_step` builds the plan, the commit message facts and the callbacks, runs
`publish_workspace`, and decides what a publish failure does to the verdict: a push that
fails for good turns `succeeded` into `failed` / `workspace-publish-failed` (the
`finalResponse` is kept, §12); an attempt that failed already keeps its own kind, and
the publish failure is reported as a non-terminal `failure` event.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from contract.failures import RunnerError, WorkspaceError
from contract.manager_api import Job, TerminalWorkspace
from runner.env import RunnerEnv
from runner.eventlog.events import EventLog, failure_data
from runner.eventlog.spool import Spool
from runner.manager.delivery import ManagerLink
from runner.safety.masking import Masker
from runner.turn.outcome import Verdict
from runner.workspace.capture import CommitInfo
from runner.workspace.plan import refetch_for, result_plan
from runner.workspace.result import Published, publish_workspace

__all__ = ["workspace_step"]


async def workspace_step(
    *,
    job: Job,
    subject: tuple[Path, str],
    verdict: Verdict,
    thread_id: str | None,
    command_id: str,
    env: RunnerEnv,
    spool: Spool,
    recorded: dict[str, Any] | None,
    masker: Masker,
    link: ManagerLink,
    events: EventLog,
) -> tuple[Verdict, TerminalWorkspace | None]:
    """Publish the result of `job`'s turn; the verdict to report and the §7 field.

    Args:
        job: the validated job (it has a `workspace`).
        subject: (work tree, base commit).
        verdict: how the turn ended.
        thread_id: the thread reported in the terminal (`AgentRun-Thread-Id`).
        command_id: the job's command (`AgentRun-Command-Id`, the events' commandId).
        env: the runner's §1 environment.
        spool: the attempt's spool (the capture is persisted there).
        recorded: a capture an earlier process of this attempt persisted, if any.
        masker / link / events: the attempt's.
    """
    assert job.workspace is not None

    async def emit(type: str, data: dict[str, Any]) -> None:
        await events.emit(type, data, command_id=command_id)

    try:
        plan = result_plan(job.workspace.repo_url, subject, env, spool.workspace_dir)
    except RunnerError as exc:
        published = Published(None, WorkspaceError(exc.message, detail=exc.detail))
    else:
        info = CommitInfo(
            run_id=link.run_id,
            attempt_id=link.attempt_id,
            attempt=job.attempt,
            command_id=command_id,
            thread_id=thread_id,
            status=verdict.status,
            time=int(time.time()),
        )
        published = await publish_workspace(
            plan,
            info,
            masker=masker,
            link=link,
            emit=emit,
            record=spool.record_workspace,
            recorded=recorded,
            max_event_bytes=job.limits.max_event_bytes,
            refetch_base=refetch_for(plan),
        )
    error = published.error
    if error is None:
        return verdict, published.terminal
    if verdict.status == "succeeded":
        return Verdict.from_error(error), published.terminal
    await emit(
        "failure",
        failure_data(
            error.kind, error.message, source=error.source, detail=error.detail, terminal=False
        ),
    )
    return verdict, published.terminal
