"""`agentrun-runner run` from the environment alone: read §1, claim (§2), run the attempt.

`run_from_environ` reads and checks the contract §1 environment, claims the job with
retries (`CLAIM_RETRY`), refuses a job that cannot be reported on, and hands the claim
to `runner.attempt.Attempt`. Exit status: 0 when the terminal report was delivered, 1
when it was not, 2 when nothing could be claimed (one §1 stderr line says why).
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from adapters.codex.binary import codex_version, resolve_codex_binary
from contract.failures import JobSpecError, ManagerError, RunnerError
from runner.attempt import Attempt
from runner.env import RunnerEnv
from runner.eventlog.spool import runner_id_for
from runner.manager.claim import claim_failure, claim_request, print_failure_line
from runner.manager.client import ManagerClient, make_http_client
from runner.manager.retry import RetryPolicy, call_with_retries
from runner.safety.hygiene import become_subreaper
from runner.safety.masking import Masker
from runner.turn.warm import WarmBackend

CLAIM_RETRY = RetryPolicy(attempts=10, deadline_seconds=120.0)


async def run_from_environ(warm: WarmBackend | None = None) -> int:
    """`agentrun-runner run`: the whole attempt from the environment alone (§1).

    Args:
        warm: the app-server `runner.early` spawned before this module was imported
            (§2 v1.2 warm backend), or None; the attempt's turn uses it when it fits.
    """
    started = time.monotonic()
    subreaper = become_subreaper()
    try:
        env = RunnerEnv.from_environ()
        env.check_writable()
        env.check_layout()
        token = env.read_token()
    except RunnerError as exc:
        print_failure_line(exc)
        return 2
    masker = Masker({"AGENTRUN_RUNNER_TOKEN": token})
    runner_id = runner_id_for(env.runtime_home)
    try:
        binary = resolve_codex_binary(env.codex_bin)
        version = await anyio.to_thread.run_sync(codex_version, binary.path)
    except RunnerError:
        version = None
    clients = [make_http_client(env.manager_url, token) for _ in range(3)]
    try:
        events_c, heartbeat_c, commands_c = (ManagerClient(c) for c in clients)
        try:
            claim = await call_with_retries(
                CLAIM_RETRY,
                lambda: events_c.claim(env.runner_job_id, claim_request(env, runner_id, version)),
            )
        except ManagerError as exc:
            print_failure_line(claim_failure(exc))
            return 2
        unreportable = unreportable_job(claim.job)
        if unreportable is not None:
            print_failure_line(unreportable)
            return 2
        attempt = Attempt(
            env,
            masker,
            claim,
            (events_c, heartbeat_c, commands_c),
            started,
            subreaper,
            warm=warm,
        )
        return await attempt.run()
    finally:
        with anyio.CancelScope(shield=True):
            for client in clients:
                await client.aclose()


def unreportable_job(raw: dict[str, Any]) -> RunnerError | None:
    """`job-spec-invalid` for a job without the ids every report needs (`runId`,
    `attemptId`, §3/§7): there is no attempt to report on, so only the §1 stderr line."""
    missing = [k for k in ("runId", "attemptId") if not isinstance(raw.get(k), str) or not raw[k]]
    if not missing:
        return None
    return JobSpecError(
        f"the claimed job has no usable {' or '.join(missing)}; nothing can be reported",
        detail={"field": missing[0]},
    )
