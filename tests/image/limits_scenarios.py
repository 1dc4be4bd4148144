"""Image scenarios for the limits a Kubernetes node enforces (issue 21), run by
`tests.image.scenarios` in scripts/test-image:

- `runtime-default`: the pod under containerd's `RuntimeDefault` (moby's `default.json`,
  `deploy/seccomp/upstream/`): `sandbox-error` before the model is called,
  `detail.cause: "seccomp"`, and the message names the shipped profile.
- `shipped-profile`: the `tool-call` scenario under the shipped Localhost profile
  (`deploy/seccomp/agentrun-bwrap-amd64.json` in the node's seccomp dir).
- `shipped-refusals`: syscalls moby's default refuses beyond the namespace calls are
  still refused (EPERM) by the shipped profile, and are not refused without seccomp.
- `oom`: a 700 MiB memory limit and a command that allocates 2 GiB: the command runs
  with `oom_score_adj` 1000 (raised by the runner), is killed (137), the attempt
  succeeds, and the claim's `memoryBytes` is the limit.
- `runtime-home-full`: the runtime home on a 4 MiB tmpfs and a command printing ~27 MB:
  the spool fills (one `backend.warning`) or the runner ends the attempt `disk-full`;
  either way the terminal is delivered and the seqs are contiguous.
- `workspace-limit`: a command writing a file of 97 % of the workspace's `sizeLimit`:
  `disk-full` (with the §10 detail) before the limit is reached.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from deploy.seccomp.derive import HERE as SECCOMP_DIR
from deploy.seccomp.derive import UPSTREAM_PATH
from fakes.manager import example_job
from fakes.mirror import serve_git_mirror
from fakes.stack import local_stack
from tests.boot.source_repo import PublishedSource
from tests.image.job_container import NodeSim
from tests.image.scenarios import (
    ANSWER,
    RUNNER_UID,
    _workdir,
    check,
    job_container,
    run_container,
    tool_call_scenario,
)

SHIPPED = "agentrun-bwrap-amd64.json"
MIB = 1024 * 1024


def _exec(call_id: str, cmd: str) -> dict[str, Any]:
    return {
        "kind": "function_call",
        "name": "exec_command",
        "call_id": call_id,
        "arguments": {"cmd": cmd},
    }


async def _attempt(
    image: str,
    base: Path,
    published: PublishedSource,
    mirror_root: Path,
    label: str,
    steps: list[Any],
    **container: Any,
) -> tuple[int, str, dict[str, Any], list[dict[str, Any]], list[Any], list[Any]]:
    """One attempt without a workspace: (exit, log tail, terminal, events, model
    requests, manager requests)."""
    root = _workdir(base, label)
    async with (
        serve_git_mirror(mirror_root) as mirror,
        local_stack(root / "stack", steps) as stack,
    ):
        job = example_job(text=f"image scenario {label}")
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        spec = job_container(image, stack, published, mirror.base_url, job, root, **container)
        status, log = await run_container(spec, cwd=root)
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = stack.manager.events(job["runId"], job["attemptId"])
        model = list(stack.model.model_requests)
        requests = list(stack.manager.requests)
    tail = f"\n--- container output ---\n{log}"
    check(status == 0, f"{label}: the container exited {status}{tail}")
    check(terminal is not None, f"{label}: no terminal report{tail}")
    assert terminal is not None
    seqs = [event["seq"] for event in events]
    check(seqs == list(range(1, len(seqs) + 1)), f"{label}: seqs not contiguous: {seqs}")
    check(events[-1]["type"] == "runner.terminal", f"{label}: runner.terminal is not last")
    return status, tail, terminal, events, model, requests


def _failure(events: list[dict[str, Any]]) -> dict[str, Any]:
    failures = [e["data"] for e in events if e["type"] == "failure" and e["data"]["terminal"]]
    return failures[-1] if failures else {}


async def runtime_default_scenario(
    image: str, base: Path, published: PublishedSource, mirror_root: Path
) -> None:
    """containerd's RuntimeDefault: sandbox-error, cause seccomp, before the model."""
    node = NodeSim(runtime_default_seccomp=UPSTREAM_PATH)
    _, tail, terminal, events, model, _ = await _attempt(
        image, base, published, mirror_root, "runtime-default", [ANSWER], node=node
    )
    check(
        (terminal["status"], terminal.get("failureKind")) == ("failed", "sandbox-error"),
        f"runtime-default: ended {terminal['status']} / {terminal.get('failureKind')}{tail}",
    )
    check(model == [], "runtime-default: the model was called")
    failure = _failure(events)
    detail = failure.get("detail", {})
    check(detail.get("cause") == "seccomp", f"runtime-default: cause {detail.get('cause')}")
    message = str(failure.get("message"))
    check("agentrun-bwrap" in message, f"runtime-default: no profile named: {message}")
    check("unprivileged_userns_clone=1" not in message, f"Codex's guess leads: {message}")
    print("test-image: runtime-default: sandbox-error, cause seccomp, the shipped profile named")


async def shipped_profile_scenario(
    image: str, base: Path, published: PublishedSource, mirror_root: Path
) -> None:
    """The tool-call scenario under the shipped Localhost profile."""
    await tool_call_scenario(
        image,
        base,
        published,
        mirror_root,
        label="shipped-profile",
        changes={"seccomp_localhost_profile": SHIPPED},
        node=NodeSim(seccomp_dir=SECCOMP_DIR, runtime_default_seccomp=UPSTREAM_PATH),
    )


SYSCALL_PROBE = """
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
calls = {
    "keyctl": (250, 0, -3, 0),            # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": (248, b"user", b"k", b"v", 1, -3),
    "setns": (308, -1, 0),
    "open_tree": (428, -100, b"/", 0),
    "get_mempolicy": (239, 0, 0, 0, 0, 0),
    "userfaultfd": (323, 0),
    "bpf": (321, 0, 0, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "fsopen": (430, b"tmpfs", 0),
}
out = {}
for name, (number, *args) in calls.items():
    ctypes.set_errno(0)
    wrapped = [ctypes.c_char_p(a) if isinstance(a, bytes) else ctypes.c_long(a) for a in args]
    result = libc.syscall(ctypes.c_long(number), *wrapped)
    out[name] = 0 if result >= 0 else ctypes.get_errno()
print(json.dumps(out))
"""
"""x86_64 syscall numbers; 0 = the call worked, else its errno."""


async def _probe_syscalls(image: str, seccomp: str) -> dict[str, int]:
    argv = [
        "podman", "run", "--rm", "--network", "none", "--pull", "never",
        "--user", f"{RUNNER_UID}:{RUNNER_UID}", "--cap-drop", "all",
        "--security-opt", "no-new-privileges", "--security-opt", f"seccomp={seccomp}",
        "--entrypoint", "/opt/agentrun/venv/bin/python", image, "-I", "-c", SYSCALL_PROBE,
    ]  # fmt: skip
    with anyio.fail_after(120):
        result = await anyio.run_process(argv, check=False)
    output = result.stdout.decode().strip().splitlines()
    check(result.returncode == 0 and bool(output), f"probe failed: {result.stderr.decode()}")
    found: dict[str, int] = json.loads(output[-1])
    return found


async def shipped_refusals_scenario(
    image: str, base: Path, published: PublishedSource, mirror_root: Path
) -> None:
    """What moby's default refuses beyond the namespace calls, the shipped one refuses."""
    eperm = 1
    shipped = await _probe_syscalls(image, str(SECCOMP_DIR / SHIPPED))
    upstream = await _probe_syscalls(image, str(UPSTREAM_PATH))
    unconfined = await _probe_syscalls(image, "unconfined")
    check(all(v == eperm for v in shipped.values()), f"shipped profile allowed: {shipped}")
    check(shipped == upstream, f"shipped {shipped} differs from upstream {upstream}")
    allowed_without = {name for name, value in unconfined.items() if value != eperm}
    check(
        {"keyctl", "setns", "open_tree"} <= allowed_without,
        f"without seccomp these should not be EPERM: {unconfined}",
    )
    print(
        f"test-image: shipped-refusals: {sorted(shipped)} refused (EPERM) as by moby's "
        f"default; {sorted(allowed_without)} are not refused without seccomp"
    )


async def oom_scenario(
    image: str, base: Path, published: PublishedSource, mirror_root: Path
) -> None:
    """A command that exhausts a 700 MiB limit is killed; the attempt succeeds."""
    hog = _exec(
        "call_oom",
        # After a sweep of the runner's scorer (0.5 s), the command's score is raised.
        "sleep 1.5; echo adj=$(cat /proc/self/oom_score_adj); "
        "python3 -c 'x = bytes(range(256)) * (8 * 1024 * 1024); print(len(x))'; echo exit=$?",
    )
    _, tail, terminal, events, model, requests = await _attempt(
        image,
        base,
        published,
        mirror_root,
        "oom",
        [hog, ANSWER],
        changes={"memory_limit": "700Mi", "memory_request": "700Mi"},
        node=NodeSim(memory_limit=True),
    )
    check(terminal["status"] == "succeeded", f"oom: ended {terminal['status']}{tail}")
    output = repr([i for i in model[1].body["input"] if i.get("type") == "function_call_output"])
    check("exit=137" in output, f"oom: the command was not SIGKILLed: {output[-800:]}{tail}")
    check("adj=1000" in output, f"oom: the command's oom_score_adj was not raised: {output[-800:]}")
    claims = [r.body for r in requests if r.path.endswith("/claim") and r.body]
    memory = claims[0]["runner"]["capabilities"]["memoryBytes"]
    check(memory == 700 * MIB, f"oom: the claim says memoryBytes {memory}, not the limit")
    items = [
        e["data"]
        for e in events
        if e["type"] == "item.completed" and e["data"].get("itemType") == "commandExecution"
    ]
    reported = any(item.get("oomKilled") for item in items)
    print(
        "test-image: oom: the command was OOM-killed (exit 137), the attempt succeeded, "
        f"the claim says memoryBytes={memory}; oomKilled reported on the item: {reported}"
    )


async def runtime_home_full_scenario(
    image: str, base: Path, published: PublishedSource, mirror_root: Path
) -> None:
    """A 4 MiB tmpfs runtime home filled by a command's output: terminal delivered."""
    # ~27 MB over ~2 s, so Codex streams it as output deltas (the spool's events).
    flood = _exec(
        "call_flood",
        "for i in $(seq 40); do head -c 500000 /dev/urandom | base64 -w 0; echo; sleep 0.05; done",
    )
    _, tail, terminal, events, _, _ = await _attempt(
        image,
        base,
        published,
        mirror_root,
        "runtime-home-full",
        [flood, ANSWER],
        changes={"runtime_home_size_limit": "4Mi"},
        node=NodeSim(size_limits=True),
        on_host=("workspace",),
    )
    outcome = (terminal["status"], terminal.get("failureKind"))
    check(
        outcome in {("succeeded", None), ("failed", "disk-full")},
        f"runtime-home-full: ended {outcome}{tail}",
    )
    warned = any(
        e["type"] == "backend.warning" and e["data"].get("durability") == "memory-only"
        for e in events
    )
    check(
        warned or outcome == ("failed", "disk-full"),
        f"runtime-home-full: neither the spool warning nor disk-full: the home never filled{tail}",
    )
    print(
        f"test-image: runtime-home-full: terminal delivered ({outcome[0]} / {outcome[1]}), "
        f"{len(events)} contiguous seqs; spool durability warning: {warned}"
    )


async def workspace_limit_scenario(
    image: str, base: Path, published: PublishedSource, mirror_root: Path
) -> None:
    """A command writing 97 % of the workspace's sizeLimit: disk-full before the limit."""
    fill = _exec("call_fill", f"head -c {16 * MIB * 97 // 100} /dev/urandom > big.bin; sleep 60")
    _, tail, terminal, events, _, _ = await _attempt(
        image,
        base,
        published,
        mirror_root,
        "workspace-limit",
        [fill, ANSWER],
        changes={"workspace_size_limit": "16Mi"},
    )
    outcome = (terminal["status"], terminal.get("failureKind"))
    check(outcome == ("failed", "disk-full"), f"workspace-limit: ended {outcome}{tail}")
    detail = _failure(events).get("detail", {})
    check(
        detail.get("path") == "/var/lib/agentrun/workspace"
        and detail.get("limitBytes") == 16 * MIB
        and 0.95 * 16 * MIB <= detail.get("usedBytes", 0) < 16 * MIB,
        f"workspace-limit: detail {detail}",
    )
    print(f"test-image: workspace-limit: disk-full with {detail}")


SCENARIOS: dict[str, Callable[[str, Path, PublishedSource, Path], Awaitable[None]]] = {
    "runtime-default": runtime_default_scenario,
    "shipped-profile": shipped_profile_scenario,
    "shipped-refusals": shipped_refusals_scenario,
    "oom": oom_scenario,
    "runtime-home-full": runtime_home_full_scenario,
    "workspace-limit": workspace_limit_scenario,
}
