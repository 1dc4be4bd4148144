"""Run attempts in the env image exactly as the runner Job runs them (scripts/test-image).

Usage: ``python -m tests.image.scenarios IMAGE``. The fake manager, the scripted model and
the loopback git mirror run on the host (127.0.0.1); the container is the Job's `runner`
container rendered from `deploy/runner-job.yaml` and run with podman (`job_container`),
with `--network host`. Each attempt boots with `agentrun-boot` from a boot commit of this
project's working tree published on the mirror. Scenarios:

- `tool-call`: the model's `exec_command` writes a file in the subject repo and runs
  `rg` inside Codex's sandbox (`workspace-write`); the file is on disk, the rg output
  went back to the model, and the attempt `succeeded`.
- `attacker`: the agent's command greps every file under the Job's volumes
  (`/var/run/agentrun`, `/var/lib/agentrun` but the runner's own source, `/tmp`) and every
  `/proc/*/environ` for the token, the provider key and the transient value, and tries to
  write in every directory there (§13, docs/security.md). No model request carries the
  token or the key, and nothing but the workspace and `/tmp` is written. (The transient
  env's positive control runs outside the image: the Job's `secretKeyRef` needs a Secret.)
- `sigterm`: `podman stop` (SIGTERM to tini, the runner) mid-turn; the attempt ends
  `failed` / `runner-interrupted` and the container exits 0 within the grace period.
- the node's limits (seccomp, memory, storage): `tests.image.limits_scenarios`.

`AGENTRUN_IMAGE_SCENARIOS=a,b` runs only those. Exit status 0 when all pass; otherwise
the failed check and the container's log tail.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio

from deploy.render import JobParams, render_job
from fakes.manager import example_job
from fakes.mirror import serve_git_mirror
from fakes.mirror.repos import make_repo
from fakes.stack import TOKEN, LocalStack, local_stack
from tests.boot.source_repo import SOURCE_REPO_URL, PublishedSource, publish_project_source
from tests.image.job_container import PLAIN_PODMAN, JobContainer, NodeSim, podman_run_argv

RUNNER_UID = 10001
SUBJECT_REPO = "acme/subject"
WRITTEN_FILE = "written-by-agent.txt"
MARKER = "image-test-marker-7d41"
ESCAPE = "/var/lib/agentrun/home/written-outside-the-sandbox"
"""In the runtime home: a writable volume, but not a writable root of `workspace-write`."""
DENIED = "sandbox-denied-the-write"
TOOL_CALL = {
    "kind": "function_call",
    "name": "exec_command",
    "call_id": "call_image_1",
    "arguments": {
        "cmd": (
            f"printf '{MARKER}\\n' > {WRITTEN_FILE} && rg --version && rg -n {MARKER} . && "
            f"(touch {ESCAPE} 2>/dev/null && echo escaped || echo {DENIED})"
        )
    },
}
ANSWER = {"kind": "text", "text": "Wrote the file and searched it with rg.", "deltas": 2}
HANG = {"kind": "hang"}
ATTEMPT_SECONDS = 180
"""Bound of one attempt in the container, boot included (a slow shared machine)."""


class ScenarioFailed(AssertionError):
    """A check of a scenario failed."""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise ScenarioFailed(what)


def _own(path: Path, mode: int) -> Path:
    """Make `path` (and what is in it) belong to the runner's uid, as a pod's volume does."""
    for item in [path, *path.rglob("*")]:
        os.chown(item, RUNNER_UID, RUNNER_UID)
    path.chmod(mode)
    return path


def _secret_dir(path: Path) -> Path:
    """A Secret volume: root-owned files, mode 0440, group = the pod's fsGroup."""
    for item in path.iterdir():
        os.chown(item, 0, RUNNER_UID)
        item.chmod(0o440)
    path.chmod(0o755)
    return path


def job_container(
    image: str,
    stack: LocalStack,
    published: PublishedSource,
    mirror_url: str,
    job: dict[str, Any],
    root: Path,
    *,
    mirror_write_url: str | None = None,
    changes: Mapping[str, Any] | None = None,
    node: NodeSim = PLAIN_PODMAN,
    on_host: tuple[str, ...] = ("workspace", "runtime-home"),
) -> JobContainer:
    """Render the Job for `job` and translate its container; prepare its volumes.

    `changes` are JobParams fields to set, `node` what the node adds, `on_host` the
    emptyDirs bound from host directories under `root` (the others are tmpfs).
    """
    params = dataclasses.replace(
        JobParams(
            name="agentrun-image-test",
            namespace="agentrun-image-test",
            image="localhost/agentrun-runner-env",
            runner_job_id=job["runnerJobId"],
            manager_url=stack.manager.url,
            boot_commit=published.commit,
            source_repo_url=SOURCE_REPO_URL,
            git_mirror_url=mirror_url,
            git_mirror_write_url=mirror_write_url,
            job_secret_name="agentrun-image-test",
            provider_secret_name="agentrun-provider-scripted",
        ),
        **(changes or {}),
    )
    manifest = render_job(params)
    env = {e["name"]: e.get("value") for e in _container(manifest)["env"]}
    # The provider files name the catalog by path: the path it has in the pod.
    config = stack.provider_home / "config.toml"
    config.write_text(
        config.read_text().replace(str(stack.provider_home), str(env["AGENTRUN_PROVIDER_HOME"]))
    )
    token = root / "token"
    token.mkdir()
    (token / "token").write_text(stack.token_file.read_text())
    host_dirs = {
        "runner-token": _secret_dir(token),
        "provider": _secret_dir(stack.provider_home),
    }
    for volume, mode in (("workspace", 0o755), ("runtime-home", 0o700)):
        if volume in on_host:
            host_dirs[volume] = _own(root / volume, mode)
    return podman_run_argv(
        manifest,
        image=image,
        name=f"agentrun-image-test-{uuid.uuid4().hex[:8]}",
        host_dirs=host_dirs,
        node=node,
    )


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "runner")


async def run_container(
    spec: JobContainer, during: Callable[[str], Any] | None = None, cwd: Path | None = None
) -> tuple[int, str]:
    """Run the container to its end (optionally running `during(name)` alongside it).

    `cwd` is podman's working directory (conmon leaves an `oom` file there after an OOM
    kill).

    Returns:
        The container's exit status and the tail of its output.
    """
    name = spec.argv[spec.argv.index("--name") + 1]
    env = {**os.environ, **spec.env}
    try:
        with anyio.fail_after(ATTEMPT_SECONDS):
            async with anyio.create_task_group() as group:
                if during is not None:
                    group.start_soon(during, name)
                result = await anyio.run_process(spec.argv, env=env, check=False, cwd=cwd)
        output = (result.stdout + result.stderr).decode(errors="replace")
        return result.returncode, output[-4000:]
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.run_process(["podman", "rm", "--force", "--ignore", name], check=False)


def _workdir(base: Path, name: str) -> Path:
    path = base / name
    for sub in ("workspace", "runtime-home"):
        (path / sub).mkdir(parents=True)
    return path


def subject_workspace() -> dict[str, Any]:
    """The job's §2 `workspace`: the published subject repository's `main`."""
    return {
        "repoUrl": f"https://github.com/{SUBJECT_REPO}",
        "ref": "main",
        "commitId": None,
        "path": "subject",
    }


async def tool_call_scenario(
    image: str,
    base: Path,
    published: PublishedSource,
    mirror_root: Path,
    *,
    label: str = "tool-call",
    changes: Mapping[str, Any] | None = None,
    node: NodeSim = PLAIN_PODMAN,
) -> None:
    """A sandboxed tool call writes a file in the subject repo and runs rg; success; the
    file is in the result commit pushed to the mirror's write side (§12). `changes` and
    `node` run it under another seccomp profile (`limits_scenarios`)."""
    root = _workdir(base, label)
    async with (
        serve_git_mirror(mirror_root, write_token=TOKEN) as mirror,
        local_stack(root / "stack", [TOOL_CALL, ANSWER]) as stack,
    ):
        job = example_job(
            text="Write the marker file and search it with rg.",
            workspace=subject_workspace(),
        )
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        spec = job_container(
            image,
            stack,
            published,
            mirror.base_url,
            job,
            root,
            mirror_write_url=mirror.write_base_url,
            changes=changes,
            node=node,
        )
        status, log = await run_container(spec)
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        requests = stack.model.model_requests
        ref = f"refs/agentrun/runs/{job['runId']}/{job['attemptId']}"
        pushed = mirror.ref(SUBJECT_REPO, ref)
        patch = stack.manager.artifact(job["runId"], job["attemptId"], "workspace.patch")
    tail = f"\n--- container output ---\n{log}"
    check(status == 0, f"the container exited {status}{tail}")
    check(terminal is not None, f"no terminal report{tail}")
    assert terminal is not None
    check(
        terminal["status"] == "succeeded",
        f"attempt ended {terminal['status']} / {terminal.get('failureKind')}{tail}",
    )
    written = root / "workspace" / "subject" / WRITTEN_FILE
    check(written.is_file(), f"{written} was not written by the tool call{tail}")
    check(written.read_text().strip() == MARKER, f"{written} has the wrong content")
    check(len(requests) >= 2, "the model never got the tool call's output")
    output = repr([i for i in requests[1].body["input"] if i.get("type") == "function_call_output"])
    check("ripgrep " in output, f"rg did not run in the sandbox: {output[-1500:]}")
    check(f"{WRITTEN_FILE}:1:{MARKER}" in output, f"rg did not find the marker: {output[-1500:]}")
    check(DENIED in output, f"the command did not run inside Codex's sandbox: {output[-1500:]}")
    escaped = root / "runtime-home" / Path(ESCAPE).name
    check(not escaped.exists(), f"the sandbox let the command write {ESCAPE}")
    workspace = terminal.get("workspace") or {}
    check(workspace.get("changed") is True, f"no workspace result: {workspace}{tail}")
    check(workspace.get("resultRef") == ref, f"the result was not pushed: {workspace}{tail}")
    check(pushed == workspace.get("resultCommit"), f"the mirror has {pushed} as {ref}")
    check(
        patch is not None and WRITTEN_FILE.encode() in patch.content,
        f"the patch does not hold {WRITTEN_FILE}",
    )
    print(
        f"test-image: {label}: sandboxed exec wrote the file, rg ran, attempt succeeded, "
        "the result commit was pushed and the patch stored"
    )


ATTACK_ROOTS = "/var/run/agentrun /var/lib/agentrun /tmp"
ATTACK_SHAPES = r"(tok-local-stack|sk-imgprov)-[A-Za-z0-9]+"
PROVIDER_KEY = f"sk-imgprov-{uuid.uuid4().hex[:16]}"
ATTACK = {
    "kind": "function_call",
    "name": "exec_command",
    "call_id": "call_attack",
    "arguments": {
        "max_output_tokens": 20000,
        "cmd": (
            # The boot checkout is the runner's own (public) source: the fake manager's
            # test token is a literal in it, so it is only probed for writes.
            f"echo '== found'; grep -rhoaE '{ATTACK_SHAPES}' --exclude-dir=boot {ATTACK_ROOTS}"
            " /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | sort -u;"
            f" echo '== writable'; find {ATTACK_ROOTS} -type d 2>/dev/null |"
            ' while read -r d; do if ( : > "$d/.agent-probe" ) 2>/dev/null;'
            ' then unlink "$d/.agent-probe"; echo "W:$d"; fi; done; echo "== end"'
        ),
    },
}


async def attacker_scenario(
    image: str, base: Path, published: PublishedSource, mirror_root: Path
) -> None:
    """The agent reads everything it reaches in the Job's layout: no runner secret (§13)."""
    root = _workdir(base, "attacker")
    async with (
        serve_git_mirror(mirror_root) as mirror,
        local_stack(root / "stack", [ATTACK, ANSWER]) as stack,
    ):
        (stack.provider_home / "auth.json").write_text(f'{{"OPENAI_API_KEY": "{PROVIDER_KEY}"}}')
        job = example_job(
            workspace=subject_workspace(),
        )
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        spec = job_container(image, stack, published, mirror.base_url, job, root)
        status, log = await run_container(spec)
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        requests = stack.model.model_requests
        saw = "\n".join(r.raw_body.decode(errors="replace") for r in requests)
        output = "\n".join(
            str(item.get("output"))
            for r in requests
            if isinstance(r.body, dict)
            for item in r.body.get("input", [])
            if item.get("type") == "function_call_output"
        )
    tail = f"\n--- container output ---\n{log}"
    check(status == 0 and terminal is not None, f"no terminal report (exit {status}){tail}")
    check("== end" in output, f"the attack did not finish: {output[-1500:]}")
    check(TOKEN not in saw, "the runner token reached the model")
    check(PROVIDER_KEY not in saw, "the provider key reached the model")
    written = re.findall(r"W:([^\n]*)", output)
    allowed = ("/var/lib/agentrun/workspace", "/tmp")
    bad = [w for w in written if not w.startswith(allowed)]
    check(not bad, f"the agent could write {bad}")
    check(
        any(w.startswith("/var/lib/agentrun/workspace/subject") for w in written),
        f"the write probe found not even the subject writable: {output[-1500:]}",
    )
    print("test-image: attacker: no token or provider key reached the model, no state writable")


async def sigterm_scenario(
    image: str, base: Path, published: PublishedSource, mirror_root: Path
) -> None:
    """SIGTERM mid-turn: runner-interrupted, container exits 0 within the grace period."""
    root = _workdir(base, "sigterm")
    async with (
        serve_git_mirror(mirror_root) as mirror,
        local_stack(root / "stack", [HANG]) as stack,
    ):
        job = example_job()
        stack.manager.add_job(job, heartbeat_interval_seconds=1)
        spec = job_container(image, stack, published, mirror.base_url, job, root)

        async def stop_mid_turn(name: str) -> None:
            await stack.model.wait_for_request(1)

            def turn_started() -> bool:
                events = stack.manager.events(job["runId"], job["attemptId"])
                return any(event["type"] == "turn.started" for event in events)

            await stack.manager.wait_until(turn_started)
            # SIGTERM to PID 1 (tini), SIGKILL only after the Job's grace period.
            await anyio.run_process(
                ["podman", "stop", "--time", str(spec.grace_seconds), name], check=False
            )

        status, log = await run_container(spec, stop_mid_turn)
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
    tail = f"\n--- container output ---\n{log}"
    check(status == 0, f"the container exited {status} (137: killed after the grace period){tail}")
    check(terminal is not None, f"no terminal report{tail}")
    assert terminal is not None
    check(
        (terminal["status"], terminal.get("failureKind")) == ("failed", "runner-interrupted"),
        f"attempt ended {terminal['status']} / {terminal.get('failureKind')}{tail}",
    )
    print("test-image: sigterm: runner-interrupted, exited 0 within the grace period")


Scenario = Callable[[str, Path, PublishedSource, Path], Awaitable[None]]


def all_scenarios() -> dict[str, Scenario]:
    """Every scenario by name, in the order they run."""
    from tests.image import limits_scenarios

    return {
        "tool-call": tool_call_scenario,
        "attacker": attacker_scenario,
        "sigterm": sigterm_scenario,
        **limits_scenarios.SCENARIOS,
    }


async def main(image: str, base: Path) -> None:
    """Publish the source and the subject repo into a mirror under `base`; run every
    scenario (or those `AGENTRUN_IMAGE_SCENARIOS` names, comma-separated)."""
    mirror_root = base / "mirror"
    published = publish_project_source(mirror_root)
    make_repo(mirror_root, SUBJECT_REPO, [{"README.md": "The subject repository.\n"}])
    scenarios = all_scenarios()
    chosen = [n for n in os.environ.get("AGENTRUN_IMAGE_SCENARIOS", "").split(",") if n]
    unknown = set(chosen) - set(scenarios)
    if unknown:
        raise ScenarioFailed(f"unknown scenarios {sorted(unknown)}; known: {sorted(scenarios)}")
    for name in chosen or scenarios:
        await scenarios[name](image, base, published, mirror_root)


def entry(argv: list[str]) -> None:
    """`python -m tests.image.scenarios IMAGE`."""
    if len(argv) != 2:
        sys.exit("usage: python -m tests.image.scenarios IMAGE")
    try:
        # Under /var/tmp, not a 0700 per-user temp dir: the container's uid reads from it.
        with tempfile.TemporaryDirectory(prefix="agentrun-image-test-", dir="/var/tmp") as d:
            Path(d).chmod(0o755)
            anyio.run(main, argv[1], Path(d))
    except ScenarioFailed as failed:
        sys.exit(f"test-image: FAILED: {failed}")


if __name__ == "__main__":
    # Through the importable module, so `limits_scenarios` shares its classes.
    from tests.image import scenarios

    scenarios.entry(sys.argv)
