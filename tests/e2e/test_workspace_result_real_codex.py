"""The agent's work outlives the pod (contract §12), on the real Codex and real git.

Each test runs a whole attempt: the real runner process, the real `codex app-server`
driven by the scripted model, the subject materialized through a loopback mirror whose
write side receives the result commit, and the fake manager storing the patch.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from fakes.demo import demo_job, make_demo_repos
from fakes.manager import next_attempt
from fakes.mirror import GitMirror, serve_git_mirror
from fakes.stack import TOKEN, LocalStack, local_stack
from tests.e2e.helpers import Finished, of_type, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

SUBJECT = "agentrun-demo/subject"
SECRET = "transient-secret-value-4711"
EDIT = (
    "printf 'def greet(name):\\n    return f\"hi, {name}\"\\n' > app.py"
    " && rm CHANGELOG.md && chmod +x README.md"
    " && mkdir -p docs && printf 'notes\\n' > docs/notes.md"
    " && printf '\\000\\001\\377binary' > data.bin"
)
"""Edits app.py, deletes CHANGELOG.md, chmods README.md, adds a text and a binary file."""


def shell(cmd: str, call_id: str = "call_edit") -> list[dict[str, Any]]:
    return [
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": call_id,
            "arguments": {"cmd": cmd},
        },
        {"kind": "text", "text": "done"},
    ]


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, check=True, text=True
    ).stdout


def read_blob(bare: Path, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(bare), "cat-file", "blob", f"{commit}:{path}"],
        capture_output=True,
        check=True,
    ).stdout


@dataclass
class World:
    stack: LocalStack
    mirror: GitMirror
    bare: Path


@asynccontextmanager
async def world(
    tmp_path: Path, steps: list[dict[str, Any]], *, write: bool = True
) -> AsyncIterator[World]:
    root = tmp_path / "mirror"
    root.mkdir()
    make_demo_repos(root)
    async with (
        serve_git_mirror(root, write_token=TOKEN) as mirror,
        local_stack(tmp_path / "stack", steps) as stack,
    ):
        stack.mirror_url = mirror.base_url
        if write:
            assert mirror.write_base_url is not None
            stack.extra_env["AGENTRUN_GIT_MIRROR_WRITE_URL"] = mirror.write_base_url
        yield World(stack, mirror, root / f"{SUBJECT}.git")


def last_subject(w: World) -> Path:
    """The subject work tree of the stack's latest attempt."""
    return sorted(w.stack.root.glob("attempt-*/workspace/subject"))[-1]


def changed_event(done: Finished) -> dict[str, Any]:
    [event] = of_type(done.events, "workspace.changed")
    [terminal_event] = of_type(done.events, "runner.terminal")
    assert event["seq"] < terminal_event["seq"]
    return dict(event["data"])


def stored_patch(w: World, job: dict[str, Any]) -> bytes:
    artifact = w.stack.manager.artifact(job["runId"], job["attemptId"], "workspace.patch")
    assert artifact is not None
    return bytes(artifact.content)


async def test_a_turn_that_edits_the_subject_pushes_a_commit_whose_tree_is_the_workspace(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, shell(EDIT)) as w:
        job = demo_job("Edit the subject.")
        done = await run_job(w.stack, job, timeout_seconds=120)
        patch = stored_patch(w, job)
        ref = f"refs/agentrun/runs/{job['runId']}/{job['attemptId']}"
        pushed = w.mirror.ref(SUBJECT, ref)
        updates = w.mirror.pushed_updates(SUBJECT)

    data = changed_event(done)
    terminal = done.terminal
    assert terminal["status"] == "succeeded"
    result = data["resultCommit"]
    assert terminal["workspace"] == {
        "baseCommit": data["baseCommit"],
        "resultCommit": result,
        "changed": True,
        "resultRef": ref,
        "patchSha256": hashlib.sha256(patch).hexdigest(),
    }
    assert pushed == result
    assert [(u.ref, u.new) for u in updates] == [(ref, result)]
    assert data["pushed"] is True
    assert data["patch"]["uploaded"] is True
    statuses = {f["path"]: f["status"] for f in data["files"]}
    assert statuses == {
        "app.py": "modified",
        "CHANGELOG.md": "deleted",
        "README.md": "modified",
        "docs/notes.md": "added",
        "data.bin": "added",
    }
    assert next(f for f in data["files"] if f["path"] == "data.bin")["binary"] is True
    assert data["skillsInSubject"] == []
    # The commit's tree is the workspace the agent left.
    subject = last_subject(w)
    listing = git("ls-tree", "-r", result, cwd=w.bare)
    [readme] = [line for line in listing.splitlines() if line.endswith("\tREADME.md")]
    assert readme.startswith("100755 blob")
    for path in statuses:
        if statuses[path] != "deleted":
            blob = read_blob(w.bare, result, path)
            assert blob == (subject / path).read_bytes()
    # The patch turns baseCommit into that tree.
    check = tmp_path / "check"
    git("clone", "-q", str(w.bare), str(check))
    git("checkout", "-q", "--detach", data["baseCommit"], cwd=check)
    (tmp_path / "p.diff").write_bytes(patch)
    git("apply", "--binary", "--index", str(tmp_path / "p.diff"), cwd=check)
    assert git("write-tree", cwd=check) == git("rev-parse", f"{result}^{{tree}}", cwd=w.bare)


async def test_a_turn_without_changes_reports_changed_false_and_pushes_nothing(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, shell("ls")) as w:
        job = demo_job("Look only.")
        done = await run_job(w.stack, job, timeout_seconds=120)
        pushes = w.mirror.push_count()
        artifacts = w.stack.manager.artifacts(job["runId"], job["attemptId"])

    data = changed_event(done)
    assert data["changed"] is False
    assert data["resultCommit"] == data["baseCommit"]
    assert data["pushed"] is False
    assert done.terminal["workspace"]["changed"] is False
    assert done.terminal["workspace"]["resultRef"] is None
    assert pushes == 0
    assert artifacts == []


async def test_a_secret_written_to_a_file_is_masked_in_the_commit_and_the_patch(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, shell('printf "$DEMO_SECRET\\n" > leak.txt')) as w:
        job = demo_job("Write the secret.")
        w.stack.extra_env.update(
            {"AGENTRUN_TRANSIENT_ENV_NAMES": "DEMO_SECRET", "DEMO_SECRET": SECRET}
        )
        done = await run_job(w.stack, job, timeout_seconds=120)
        patch = stored_patch(w, job)
        subject = last_subject(w)

    data = changed_event(done)
    assert (subject / "leak.txt").read_text() == f"{SECRET}\n"  # the agent saw the value
    assert data["masked"] == ["leak.txt"]
    blob = git("cat-file", "blob", f"{data['resultCommit']}:leak.txt", cwd=w.bare)
    assert blob == "***\n"
    assert SECRET.encode() not in patch
    assert base64.b64encode(SECRET.encode())[:12] not in patch


async def test_a_failed_turn_still_reports_and_pushes_its_partial_change(
    tmp_path: Path,
) -> None:
    steps: list[dict[str, Any]] = [
        {
            "kind": "function_call",
            "name": "exec_command",
            "arguments": {"cmd": "echo 1 > half.txt"},
        },
        {"kind": "http_error", "status": 400, "message": "Invalid prompt: scripted"},
    ]
    async with world(tmp_path, steps) as w:
        job = demo_job("Fail midway.")
        done = await run_job(w.stack, job, timeout_seconds=120)
        ref = f"refs/agentrun/runs/{job['runId']}/{job['attemptId']}"
        pushed = w.mirror.ref(SUBJECT, ref)

    data = changed_event(done)
    assert done.terminal["status"] == "failed"
    assert done.terminal["failureKind"] != "workspace-publish-failed"
    assert [f["path"] for f in data["files"]] == ["half.txt"]
    assert pushed is not None
    assert pushed == data["resultCommit"]
    assert "failed" in git("log", "-1", "--format=%s", pushed, cwd=w.bare)


async def test_a_second_attempt_continues_on_the_first_ones_result_commit_and_thread(
    tmp_path: Path,
) -> None:
    steps = [
        *shell("echo first > progress.txt"),
        *shell("cat progress.txt && echo second >> progress.txt", "call_second"),
    ]
    async with world(tmp_path, steps) as w:
        first = demo_job("Start the work.")
        done1 = await run_job(w.stack, first, timeout_seconds=120)
        result1 = changed_event(done1)["resultCommit"]
        second = next_attempt(first)
        second["session"]["threadId"] = done1.terminal["session"]["threadId"]
        second["workspace"]["commitId"] = result1
        advertised = git("ls-remote", w.mirror.url_of(SUBJECT))
        done2 = await run_job(w.stack, second, timeout_seconds=120)

    assert result1 not in advertised  # reachable only from refs/agentrun/**, fetched by SHA
    [materialized] = of_type(done2.events, "workspace.materialized")
    assert materialized["data"]["requestedCommit"] == result1
    assert materialized["data"]["commitId"] == result1
    assert of_type(done2.events, "thread.resumed")
    [command] = [
        e
        for e in of_type(done2.events, "item.completed")
        if e["data"]["itemType"] == "commandExecution"
    ]
    assert command["data"]["output"].strip() == "first"
    data2 = changed_event(done2)
    assert data2["baseCommit"] == result1
    assert git("show", f"{data2['resultCommit']}:progress.txt", cwd=w.bare) == "first\nsecond\n"


async def test_a_write_side_that_keeps_failing_ends_the_attempt_workspace_publish_failed(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, shell("echo x > x.txt")) as w:
        w.mirror.write_fail_always(status=503)
        job = demo_job("Edit.")
        done = await run_job(w.stack, job, timeout_seconds=180)

    assert done.terminal["status"] == "failed"
    assert done.terminal["failureKind"] == "workspace-publish-failed"
    assert done.terminal["finalResponse"] == "done"
    assert done.terminal["workspace"]["resultRef"] is None
    data = changed_event(done)
    assert data["pushed"] is False
    assert data["patch"]["uploaded"] is True  # the patch still reached the manager


async def test_a_write_side_that_recovers_within_the_retry_budget_gives_succeeded(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, shell("echo x > x.txt")) as w:
        w.mirror.write_fail_next(2, status=503)
        job = demo_job("Edit.")
        done = await run_job(w.stack, job, timeout_seconds=180)
        injected = [r for r in w.mirror.requests if r.side == "write" and r.injected]

    assert done.terminal["status"] == "succeeded"
    assert changed_event(done)["pushed"] is True
    assert injected  # it did fail before it recovered


async def wait_event(stack: LocalStack, job: dict[str, Any], type: str) -> None:
    def seen() -> bool:
        return any(e["type"] == type for e in stack.manager.events(job["runId"], job["attemptId"]))

    await stack.manager.wait_until(seen)


async def test_a_runner_restarted_after_a_mid_turn_kill_captures_and_pushes_the_partial_change(
    tmp_path: Path,
) -> None:
    steps: list[dict[str, Any]] = [
        {"kind": "function_call", "name": "exec_command", "arguments": {"cmd": "echo p > p.txt"}},
        {"kind": "hang"},
    ]
    async with world(tmp_path, steps) as w:
        job = demo_job("Edit, then hang.")
        w.stack.manager.add_job(job, heartbeat_interval_seconds=1)
        env = w.stack.runner_env(job["runnerJobId"])
        with anyio.fail_after(120):
            async with w.stack.runner_process(env) as first:
                await w.stack.model.wait_for_request(2)
                first.send_signal(signal.SIGKILL)
            async with w.stack.runner_process(env) as second:
                pass
        terminal = w.stack.manager.terminal(job["runId"], job["attemptId"])
        events = w.stack.manager.events(job["runId"], job["attemptId"])
        ref = f"refs/agentrun/runs/{job['runId']}/{job['attemptId']}"
        pushed = w.mirror.ref(SUBJECT, ref)

    assert second.returncode == 0
    assert terminal is not None
    assert terminal["failureKind"] == "runner-interrupted"
    [changed] = of_type(events, "workspace.changed")
    assert [f["path"] for f in changed["data"]["files"]] == ["p.txt"]
    assert pushed == changed["data"]["resultCommit"] == terminal["workspace"]["resultCommit"]


async def test_a_runner_killed_during_the_patch_upload_publishes_the_same_result_once_restarted(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, shell("echo x > x.txt")) as w:
        job = demo_job("Edit.")
        w.stack.manager.add_job(job, heartbeat_interval_seconds=1)
        stall = w.stack.manager.knobs.add_latency(
            60, method="POST", path_pattern="/api/v1/runs/*/artifacts"
        )
        ref = f"refs/agentrun/runs/{job['runId']}/{job['attemptId']}"
        env = w.stack.runner_env(job["runnerJobId"])
        with anyio.fail_after(120):
            async with w.stack.runner_process(env) as first:
                # Heartbeats change the manager's state every second: re-checked as often.
                await w.stack.manager.wait_until(lambda: w.mirror.ref(SUBJECT, ref) is not None)
                first_push = w.mirror.ref(SUBJECT, ref)
                await anyio.sleep(0.5)  # the upload is now stalled at the manager
                first.send_signal(signal.SIGKILL)
            w.stack.manager.knobs.latencies.remove(stall)
            async with w.stack.runner_process(env) as second:
                pass
        terminal = w.stack.manager.terminal(job["runId"], job["attemptId"])
        events = w.stack.manager.events(job["runId"], job["attemptId"])
        artifacts = w.stack.manager.artifacts(job["runId"], job["attemptId"])

    assert second.returncode == 0
    assert terminal is not None
    assert terminal["status"] == "succeeded"
    [changed] = of_type(events, "workspace.changed")
    assert changed["data"]["resultCommit"] == first_push  # the same commit, not a new capture
    assert [a.name for a in artifacts] == ["workspace.patch"]
    assert terminal["workspace"]["patchSha256"] == artifacts[0].sha256
