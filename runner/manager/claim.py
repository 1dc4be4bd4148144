"""Who this runner is: the §2 claim body, env identity, and the pre-claim failure line.

The claim reports the runner's capabilities (backends, Codex and runner versions, boot
commit, env identity, Python, CPUs, memory) and where it runs (downward-API env
`AGENTRUN_POD_NAME`, `AGENTRUN_POD_NAMESPACE`, `AGENTRUN_NODE_NAME`, which §1 does not
list yet). A failure before anything can be claimed is one JSON line on stderr (§1).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import socket
import sys
from urllib.parse import urlsplit

from adapters.codex.binary import PROJECT_ROOT
from contract.failures import FailureKind, ManagerError, RunnerError
from contract.manager_api import Capabilities, ClaimRequest, RunnerInfo
from runner import RUNNER_VERSION
from runner.env import RunnerEnv
from runner.safety.cgroup import container_resources
from runner.turn.sandbox_policy import sandbox_report


def print_failure_line(error: RunnerError) -> None:
    """§1: no attempt to report on: exactly one JSON line on stderr,
    `{"failureKind": …, "message": …, "detail": {…}}` (`detail` adds `retryable` and
    `source`)."""
    line = {
        "failureKind": str(error.kind),
        "message": error.message,
        "detail": {**error.detail, "retryable": error.retryable, "source": error.source},
    }
    print(json.dumps(line), file=sys.stderr, flush=True)


def claim_failure(error: ManagerError) -> RunnerError:
    """The §2 stderr kind of a claim that got no lease.

    404 `job-not-found` and 409 `already-claimed` (and any other refusal) are
    `claim-refused` with `detail.code`; 410 is `cancelled`; transient failures that
    outlasted the claim deadline are `manager-unreachable`.
    """
    status = error.status_code
    detail: dict[str, object] = {"code": error.code, "status": status}
    if getattr(error, "transient", False) or status is None:
        return RunnerError(
            FailureKind.MANAGER_UNREACHABLE,
            f"the claim got no answer before the claim deadline: {error.message}",
            source="manager",
            detail=detail,
        )
    if status == 410:
        return RunnerError(
            FailureKind.CANCELLED,
            f"the job was cancelled: {error.message}",
            source="manager",
            detail=detail,
        )
    return RunnerError(
        FailureKind.CLAIM_REFUSED,
        f"the manager refused the claim: {error.message}",
        source="manager",
        detail=detail,
    )


@functools.cache
def env_identity() -> str:
    """The env image identity boot computed (`AGENTRUN_ENV_IDENTITY`), else our own."""
    if os.environ.get("AGENTRUN_ENV_IDENTITY"):
        return os.environ["AGENTRUN_ENV_IDENTITY"]
    try:
        from boot.env_identity import compute_env_identity

        return compute_env_identity(PROJECT_ROOT)
    except Exception:  # the identity is informative; never fail an attempt on it
        return "unknown"


def no_proxy_covers(proxy: dict[str, str], url: str) -> bool | None:
    """Whether `NO_PROXY` exempts the manager's host (None when no proxy is set)."""
    if not any(k.lower() in ("http_proxy", "https_proxy") for k in proxy):
        return None
    host = (urlsplit(url).hostname or "").lower()
    entries = (proxy.get("NO_PROXY") or proxy.get("no_proxy") or "").split(",")
    for entry in (e.strip().lower().lstrip("*") for e in entries):
        if entry and (
            entry == "*" or host == entry.lstrip(".") or host.endswith("." + entry.lstrip("."))
        ):
            return True
    return False


def claim_request(env: RunnerEnv, runner_id: str, codex: str | None) -> ClaimRequest:
    """The §2 claim body: who this runner is and what it can do."""
    cpu_count, memory_bytes = container_resources()  # the cgroup's limits (§2 v1.2)
    return ClaimRequest(
        runner=RunnerInfo(
            runner_id=runner_id,
            pod=os.environ.get("AGENTRUN_POD_NAME") or socket.gethostname(),
            node=os.environ.get("AGENTRUN_NODE_NAME"),
            namespace=os.environ.get("AGENTRUN_POD_NAMESPACE"),
            capabilities=Capabilities(
                backends=["codex"],
                codex_version=codex,
                runner_version=RUNNER_VERSION,
                boot_commit=env.boot_commit,
                env_identity=env_identity(),
                python=platform.python_version(),
                cpu_count=cpu_count,
                memory_bytes=memory_bytes,
                sandbox=sandbox_report(None, env.sandbox_enforcer),
            ),
        )
    )
