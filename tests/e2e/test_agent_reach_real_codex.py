"""The agent plays the attacker and reaches none of the runner's secrets or state (§13).

Each test runs a whole attempt in the tests' `/tmp` layout (`fakes.stack`: the token
file, the provider home, the runtime home, the session cache and the workspace all under
one pytest `tmp_path`), with a subject and a bundle through the loopback mirror, on the
real Codex 0.171 and the scripted model. The agent's one command reads every file under
that root and every process environment (`/proc/*/environ`, `/proc/*/cmdline`) it can
reach, greps them for the shapes of the runner token, the provider key and the transient
value, and tries to write in every directory under the root. The model receives the
command's output, as a real provider would.

Asserted: no model request carries the token or the provider key; the only directories
written are the workspace's (and none at all under `read-only`); the positive control,
the transient value, did reach the command. A continuation (a second attempt resuming the
thread) plays the same attacker: a resumed thread has the same profile.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import anyio
import pytest

from fakes.demo import demo_job, make_demo_repos
from fakes.manager import example_job, next_attempt
from fakes.mirror import serve_git_mirror
from fakes.stack import TOKEN, LocalStack, local_stack
from tests.e2e.helpers import Finished, of_type, run_job
from tests.real_codex import REAL_CODEX

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]

PROVIDER_KEY = f"sk-provkey-{secrets.token_hex(10)}"
TRANSIENT = f"transval-{secrets.token_hex(10)}"
SHAPES = r"(tok-local-stack|sk-provkey|transval)-[A-Za-z0-9]+"
"""Credential shapes the attacker greps for; the values themselves are never in argv."""


def attack(root: Path) -> str:
    """The attacker's shell command: secrets found, then every directory it could write."""
    return (
        f"R={root}; echo '== found'; "
        f"grep -rhoaE '{SHAPES}' \"$R\" /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null"
        " | sort -u; echo '== writable'; "
        'find "$R" -xdev -type d 2>/dev/null | while read -r d; do '
        'if ( : > "$d/.agent-probe" ) 2>/dev/null; then unlink "$d/.agent-probe"; '
        'echo "W:$d"; fi; done; echo "== end"'
    )


def steps(root: Path, call_id: str) -> list[dict[str, Any]]:
    return [
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": call_id,
            "arguments": {"cmd": attack(root), "max_output_tokens": 20000},
        },
        {"kind": "text", "text": "done"},
    ]


def command_output(stack: LocalStack, call_id: str) -> str:
    """The attack's output as the model received it (`function_call_output`)."""
    for request in stack.model.model_requests:
        body = request.body if isinstance(request.body, dict) else {}
        for item in body.get("input", []):
            if item.get("type") == "function_call_output" and item.get("call_id") == call_id:
                output = item.get("output")
                return output if isinstance(output, str) else json.dumps(output)
    raise AssertionError(f"no model request carries the output of {call_id}")


def inside(path: Path, root: Path) -> bool:
    resolved, top = path.resolve(), root.resolve()
    return resolved == top or top in resolved.parents


def written(output: str) -> list[Path]:
    return [Path(line[2:]) for line in output.splitlines() if line.startswith("W:")]


def assert_out_of_reach(
    stack: LocalStack, done: Finished, call_id: str, workspace: Path, mode: str
) -> None:
    model_saw = "\n".join(r.raw_body.decode(errors="replace") for r in stack.model.model_requests)
    output = command_output(stack, call_id)
    assert "== end" in output, output[-2000:]
    assert TOKEN not in model_saw
    assert PROVIDER_KEY not in model_saw
    assert TRANSIENT in output  # the positive control: the transient env reached it
    found = set(re.findall(SHAPES, output))
    assert found == {"transval"}, found
    state = [stack.session_cache, stack.provider_home, workspace.parent / "runtime-home"]
    for path in written(output):
        assert not any(inside(path, root) for root in state), path
    if workspace.parent.name == "attempt-1":
        # The first attempt: nothing is writable but the workspace and the dirs above it.
        # (A later one may write the earlier attempts' leftovers, which nothing runs.)
        above = [workspace.resolve(), *workspace.resolve().parents]
        for path in written(output):
            assert inside(path, workspace) or path.resolve() in above, path
    if mode == "read-only":
        assert written(output) == []
    else:
        assert any(p.resolve() == workspace.resolve() / "subject" for p in written(output))
    [started] = of_type(done.events, "runner.started")
    assert started["data"]["sandbox"] == {
        "mode": mode,
        "enforcer": "codex",
        "mechanism": "bubblewrap",
        "denyRead": True,
    }
    [backend] = of_type(done.events, "backend.started")
    assert backend["data"]["sandbox"]["enforcer"] == "codex"


async def run_attacked(
    tmp_path: Path, mode: str, *, continuation: bool = False, codex: Path | None = None
) -> None:
    repos = tmp_path / "mirror"
    repos.mkdir()
    make_demo_repos(repos)
    root = tmp_path / "stack"
    script = steps(root, "call_attack") + (steps(root, "call_attack_2") if continuation else [])
    async with (
        serve_git_mirror(repos, write_token=TOKEN) as mirror,
        local_stack(root, script) as stack,
    ):
        stack.mirror_url = mirror.base_url
        (stack.provider_home / "auth.json").write_text(json.dumps({"OPENAI_API_KEY": PROVIDER_KEY}))
        with (stack.provider_home / "config.toml").open("a") as config:
            config.write(f'\n# a credential a provider config may carry: "{PROVIDER_KEY}"\n')
        transient = {"AGENTRUN_TRANSIENT_ENV_NAMES": "TOOL_TOKEN", "TOOL_TOKEN": TRANSIENT}
        if codex is not None:
            transient["AGENTRUN_CODEX_BIN"] = str(codex)
        job = demo_job("attack")
        job["backend"]["sandbox"] = mode
        env = stack.runner_env(job["runnerJobId"], **transient)
        done = await run_job(stack, job, env=env, timeout_seconds=120)
        assert done.terminal["status"] == "succeeded", done.terminal
        assert_out_of_reach(stack, done, "call_attack", Path(env["AGENTRUN_WORKSPACE"]), mode)
        if not continuation:
            return
        [thread] = of_type(done.events, "thread.started")
        following = next_attempt(job, thread_id=thread["data"]["threadId"])
        env = stack.runner_env(following["runnerJobId"], **transient)
        again = await run_job(stack, following, env=env, timeout_seconds=120)
        assert again.terminal["status"] == "succeeded", again.terminal
        assert of_type(again.events, "thread.resumed")
        assert_out_of_reach(stack, again, "call_attack_2", Path(env["AGENTRUN_WORKSPACE"]), mode)


@pytest.mark.parametrize("mode", ["workspace-write", "read-only"])
async def test_an_agent_reading_everything_it_reaches_finds_no_runner_secret_and_writes_no_state(
    tmp_path: Path, mode: str
) -> None:
    await run_attacked(tmp_path, mode)


async def test_a_resumed_thread_keeps_the_runner_secrets_and_state_out_of_reach(
    tmp_path: Path,
) -> None:
    await run_attacked(tmp_path, "workspace-write", continuation=True)


@pytest.mark.parametrize("build", sorted(REAL_CODEX))
async def test_every_verified_build_keeps_the_runner_secrets_and_state_out_of_reach(
    tmp_path: Path, build: str
) -> None:
    codex = REAL_CODEX[build]()
    if codex is None:
        pytest.skip(f"{build} is not installed")
    await run_attacked(tmp_path, "workspace-write", codex=codex)


async def test_the_pod_enforcer_runs_commands_without_codex_sandbox_and_says_so(
    tmp_path: Path,
) -> None:
    """`AGENTRUN_SANDBOX_ENFORCER=pod` (§13): `externalSandbox`, no preflight, and every
    report names the enforcer. What stays open is shown too: the agent reads the token."""
    root = tmp_path / "stack"
    async with local_stack(root, steps(root, "call_attack")) as stack:
        job = example_job()
        env = stack.runner_env(
            job["runnerJobId"],
            AGENTRUN_SANDBOX_ENFORCER="pod",
            AGENTRUN_TRANSIENT_ENV_NAMES="TOOL_TOKEN",
            TOOL_TOKEN=TRANSIENT,
        )
        done = await run_job(stack, job, env=env, timeout_seconds=120)
        output = command_output(stack, "call_attack")
        claims = [r.body for r in stack.manager.requests if r.path.endswith("/claim")]

    assert done.terminal["status"] == "succeeded", done.terminal
    assert TRANSIENT in output
    assert TOKEN in output  # open under `pod`: the pod is the agent's only boundary
    report = {"mode": "workspace-write", "enforcer": "pod", "mechanism": "pod", "denyRead": False}
    [started] = of_type(done.events, "runner.started")
    assert started["data"]["sandbox"] == report
    [backend] = of_type(done.events, "backend.started")
    assert backend["data"]["sandbox"] == report
    [claim] = claims
    assert isinstance(claim, dict)
    assert claim["runner"]["capabilities"]["sandbox"]["enforcer"] == "pod"


async def test_an_unknown_enforcer_is_refused_before_the_claim(tmp_path: Path) -> None:
    async with local_stack(tmp_path, []) as stack:
        job = example_job()
        stack.manager.add_job(job)
        env = stack.runner_env(job["runnerJobId"], AGENTRUN_SANDBOX_ENFORCER="none")
        with anyio.fail_after(60):
            result = await stack.run_runner(job["runnerJobId"], env=env)
        claims = [r for r in stack.manager.requests if r.path.endswith("/claim")]

    assert result.returncode == 2
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["failureKind"] == "runner-env-invalid"
    assert claims == []


async def test_a_sub_agents_command_reaches_no_runner_secret_either(tmp_path: Path) -> None:
    """A thread the agent spawns (`spawn_agent`, 0.171 `multi_agent_v1`) runs under the
    same profile: it was given to the app-server, not to the main thread alone."""
    root = tmp_path / "stack"
    spawn = {
        "kind": "function_call",
        "name": "spawn_agent",
        "namespace": "multi_agent_v1",
        "call_id": "call_spawn",
        "arguments": {"message": "SUBAGENT-TASK: run the check"},
    }
    # The script serves steps in request order, whichever thread asks: after the spawn,
    # every thread gets attacks for a while (each takes ~0.3 s, so the sub-agent's first
    # request and its follow-up fall among them), then texts that end both threads.
    call_ids = [f"call_{n}" for n in range(5)]
    attacks = [steps(root, call_id)[0] for call_id in call_ids]
    script = [spawn, *attacks, *({"kind": "text", "text": "done"} for _ in range(6))]
    async with local_stack(root, script) as stack:
        (stack.provider_home / "auth.json").write_text(json.dumps({"OPENAI_API_KEY": PROVIDER_KEY}))
        job = example_job()
        env = stack.runner_env(
            job["runnerJobId"], AGENTRUN_TRANSIENT_ENV_NAMES="TOOL_TOKEN", TOOL_TOKEN=TRANSIENT
        )
        done = await run_job(stack, job, env=env, timeout_seconds=120)
        requests = [r.raw_body.decode(errors="replace") for r in stack.model.model_requests]

    assert done.terminal["status"] == "succeeded", done.terminal
    child = [r for r in requests if "SUBAGENT-TASK" in r and '"call_spawn"' not in r]
    ran_in_child = [c for c in call_ids if any(f'"{c}"' in r for r in child)]
    assert ran_in_child, "the sub-agent ran no attack"
    everything = "\n".join(requests)
    assert TOKEN not in everything
    assert PROVIDER_KEY not in everything
    child_saw = "\n".join(child)
    assert "== end" in child_saw
    assert TRANSIENT in child_saw  # the positive control, in the sub-agent's command
    assert re.findall(r"W:[^\\\n]*runtime-home", child_saw) == []
