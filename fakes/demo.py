"""`./scripts/demo` (`python -m fakes.demo`): one whole attempt end to end on the defaults.

Starts the fake manager, the scripted model and a loopback git mirror holding a subject
repository and a tools/skill bundle repository, then runs the real runner process
(`python -m runner run`, contract §1 environment only) which claims the job,
materializes the workspace and bundle through the mirror, and drives the real Codex
through a turn that runs a shell command and answers. Events are shown live as the
manager stores them; the terminal report is printed; the run's full event log is left
in a JSON Lines file whose path is printed. It drives the fakes, so it lives beside them,
not in the product.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from fakes.manager import example_job
from fakes.mirror import Executable, make_repo, serve_git_mirror
from fakes.model import load_script
from fakes.model.script import Script, parse_script
from fakes.stack import TOKEN, local_stack

DEFAULT_PROMPT = (
    "Look around the workspace, run the greeter tool, make app.py greet AgentRun, "
    "and tell me what you did."
)
DEFAULT_SCRIPT: dict[str, Any] = {
    "description": "Runs the bundled greeter tool, edits the subject, then answers.",
    "steps": [
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": "call_demo_exec",
            "arguments": {"cmd": "ls -a && ../tools/greet.sh AgentRun"},
            "reasoning": ["Let me look at the workspace and try the greeter tool."],
        },
        {
            "kind": "function_call",
            "name": "exec_command",
            "call_id": "call_demo_edit",
            "arguments": {
                "cmd": "printf \"\\nprint(greet('AgentRun'))\\n\" >> app.py"
                " && printf '# Notes\\n\\napp.py now greets AgentRun.\\n' > NOTES.md"
                " && python3 app.py"
            },
            "reasoning": ["Now make app.py greet AgentRun and note it."],
        },
        {
            "kind": "text",
            "text": "The greeter tool printed 'hello, AgentRun'. I made app.py call "
            "greet('AgentRun') and added NOTES.md.",
            "deltas": 4,
        },
    ],
}
ATTEMPT_TIMEOUT_SECONDS = 120

_STYLE = {
    "runner.started": "bold cyan",
    "runner.terminal": "bold cyan",
    "failure": "bold red",
    "backend.warning": "yellow",
    "liveness": "magenta",
    "turn.started": "bold green",
    "turn.completed": "bold green",
}


def _summary(event: dict[str, Any]) -> str:
    data = event.get("data", {})
    match event["type"]:
        case "liveness":
            return f"{data.get('previousPhase')} → {data.get('phase')}"
        case "item.started" | "item.completed":
            detail = data.get("command") or data.get("text") or data.get("summary") or ""
            extra = f" exit={data['exitCode']}" if data.get("exitCode") is not None else ""
            return f"{data.get('itemType')} {data.get('itemId')}{extra} {str(detail)[:80]!r}"
        case "item.delta":
            return f"{data.get('itemType')} {str(data.get('text'))[:80]!r}"
        case "resource-bundle-materialized" | "workspace.materialized":
            name = data.get("name") or data.get("path")
            return f"{name} @ {str(data.get('commitId'))[:12]} via {data.get('fetchRepoUrl')}"
        case "runner.terminal":
            return f"{data.get('status')} {data.get('failureKind') or ''}"
        case "workspace.changed":
            files = ", ".join(
                f"{f['path']} (+{f['insertions']} −{f['deletions']})" for f in data.get("files", [])
            )
            return (
                f"{data.get('filesChanged')} files +{data.get('insertions')} "
                f"−{data.get('deletions')} → {str(data.get('resultCommit'))[:12]} "
                f"pushed={data.get('pushed')}: {files}"
            )
        case "failure":
            return f"{data.get('failureKind')}: {data.get('message')}"
        case _:
            keys = ("threadId", "turnId", "version", "status", "message", "runnerVersion")
            return " ".join(f"{k}={data[k]}" for k in keys if data.get(k) is not None)


def make_demo_repos(mirror_root: Path) -> None:
    make_repo(
        mirror_root,
        "agentrun-demo/subject",
        [
            {
                "README.md": "# Demo subject\n",
                "app.py": "print('hello')\n",
                "CHANGELOG.md": "## 0.1\n- first\n",
            },
            {"app.py": "def greet(name):\n    return f'hello, {name}'\n"},
        ],
    )
    make_repo(
        mirror_root,
        "agentrun-demo/toolbox",
        [
            {
                "tools/greet.sh": Executable('#!/bin/sh\necho "hello, ${1:-world}"\n'),
                ".agents/skills/greeter/SKILL.md": (
                    "---\nname: greeter\ndescription: Greets people with tools/greet.sh.\n"
                    "---\nRun ../tools/greet.sh NAME.\n"
                ),
                "prompts/intro.md": "You are working in the AgentRun demo workspace.\n",
            }
        ],
        tags={"v1": 0},
    )


def demo_job(prompt: str) -> dict[str, Any]:
    """The demo's job: subject repo, one bundle (tools + skill + prompt), one turn."""
    return example_job(
        text=prompt,
        workspace={
            "repoUrl": "https://github.com/agentrun-demo/subject",
            "ref": "main",
            "commitId": None,
            "path": "subject",
        },
        resource_bundles=[
            {
                "kind": "gitbundle",
                "name": "demo-tools",
                "repoUrl": "https://github.com/agentrun-demo/toolbox",
                "ref": "v1",
                "commitId": None,
                "bundles": [
                    {"source": "tools", "target": "tools"},
                    {"source": ".agents/skills/greeter", "target": ".agents/skills/greeter"},
                ],
                "promptRefs": ["prompts/intro.md"],
            }
        ],
    )


async def run_demo(prompt: str | None, script_path: Path | None, out: Path | None) -> int:
    """Run the demo; returns 0 when the attempt's terminal report arrived."""
    console = Console()
    root = out or Path(tempfile.mkdtemp(prefix="agentrun-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    script: Script = (
        load_script(script_path) if script_path else parse_script(DEFAULT_SCRIPT, source="demo")
    )
    mirror_root = root / "mirror"
    mirror_root.mkdir(exist_ok=True)
    make_demo_repos(mirror_root)
    job = demo_job(prompt or DEFAULT_PROMPT)
    log_path = root / "events.jsonl"
    console.print(
        Panel.fit(
            f"run {job['runId']}  attempt {job['attemptId']}\nscratch: {root}",
            title="agentrun-runner demo",
        )
    )
    async with (
        serve_git_mirror(mirror_root, write_token=TOKEN) as mirror,
        local_stack(root / "stack", script) as stack,
    ):
        stack.mirror_url = mirror.base_url
        if mirror.write_base_url is not None:
            stack.extra_env["AGENTRUN_GIT_MIRROR_WRITE_URL"] = mirror.write_base_url
        stack.manager.add_job(job, heartbeat_interval_seconds=2)
        with stack.manager.subscribe() as feed:
            shown_all = anyio.Event()
            async with anyio.create_task_group() as tg:

                async def show() -> None:
                    async for stored in feed:
                        event = stored.event
                        line = Text(f"{event['seq']:>4} {event['time'][11:23]} ")
                        line.append(f"{event['type']:<30}", _STYLE.get(event["type"], "cyan"))
                        line.append(_summary(event))
                        console.print(line, no_wrap=True, overflow="ellipsis")
                        if event["type"] == "runner.terminal":
                            shown_all.set()
                            return

                tg.start_soon(show)
                with anyio.fail_after(ATTEMPT_TIMEOUT_SECONDS):
                    result = await stack.run_runner(job["runnerJobId"])
                with anyio.move_on_after(5):
                    await shown_all.wait()
                tg.cancel_scope.cancel()
        terminal = stack.manager.terminal(job["runId"], job["attemptId"])
        events = stack.manager.events(job["runId"], job["attemptId"])
        patch = stack.manager.artifact(job["runId"], job["attemptId"], "workspace.patch")
        manager_url = stack.manager.url
    log_path.write_text("".join(json.dumps(e) + "\n" for e in events))
    console.print(Panel(json.dumps(terminal, indent=2), title="terminal report (§7)"))
    workspace = (terminal or {}).get("workspace")
    changed = [e["data"] for e in events if e["type"] == "workspace.changed"]
    if workspace:
        files = changed[-1].get("files", []) if changed else []
        lines = [
            f"result commit: {workspace['resultCommit']} (base {workspace['baseCommit'][:12]})",
            *(
                f"  {f['status']:<10} {f['path']} (+{f['insertions']} −{f['deletions']})"
                for f in files
            ),
            f"pushed as:     {workspace['resultRef'] or 'not pushed'} on {mirror_root}",
        ]
        if patch is not None:
            patch_path = root / "workspace.patch"
            patch_path.write_bytes(patch.content)
            lines.append(
                f"patch:         artifact {patch.artifact_id} ({patch.size_bytes} bytes), "
                f"GET {manager_url}/api/v1/runs/{job['runId']}/artifacts/{patch.artifact_id}"
            )
            lines.append(f"               copy in {patch_path}")
        console.print(Panel("\n".join(lines), title="workspace result (§12)"))
    console.print(f"runner exit status: {result.returncode}")
    console.print(f"full event log ({len(events)} events): {log_path}")
    return 0 if terminal is not None else 1


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m fakes.demo` (what `./scripts/demo` runs)."""
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument("--prompt", help="the command's input text")
    parser.add_argument("--script", type=Path, help="a scripted-model JSON script (fakes/model)")
    parser.add_argument("--out", type=Path, help="directory for the run's files")
    args = parser.parse_args(argv)
    sys.exit(anyio.run(run_demo, args.prompt, args.script, args.out))


if __name__ == "__main__":
    main()
