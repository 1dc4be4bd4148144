"""Start with boot (issue 14): `agentrun-boot`, a workspace and one bundle, vs a bare sequence.

The target: booted from a commit, with a subject repository and one resource bundle, the
runner reaches the model's first request in ≤ 2× the bare sequence. Both sides use the
same real Codex binary (the npm pin, `adapters.codex.binary`), the same `CODEX_HOME`
files (the scripted model's `config.toml`, `fakes.model`), the same scripted model on
loopback and the same loopback git mirror (`fakes.mirror`), alternating in one run. The
mirror holds three repositories: this working tree published as one commit
(`tests/boot/source_repo.py`, as `bench_boot.py` does), a small subject `bench/subject`
and a small bundle repository `bench/toolbox` (a tool, a skill, a prompt).

- bare: `git init` + `git fetch --depth=1 <mirror url> <commit>` of the three, one after
  the other (no checkout), then the bare Codex client of `bench_start.py` (spawn
  `codex app-server`, `initialize`, `initialized`, `thread/start` with the runner's thread
  params for the job, cwd the subject's fetch directory, `turn/start`). Window: the first
  `git init` → the scripted model recording `POST /v1/responses`; also its fetches' part
  and its client's part.
- boot: spawning `agentrun-boot` with the contract §1 environment (fake manager, the
  scripted model, a fresh `AGENTRUN_BOOT_DIR`, `AGENTRUN_CODEX_BIN` the same binary) on a
  job with `workspace` (`bench/subject`) and one `resourceBundles` entry
  (`bench/toolbox`), both pinned to the commit the bare side fetches. Window: spawn → the
  model's request (bench clock). Phases, from the runner's events (runner clock, ms) and
  the bench watching the process: boot's interpreter and imports (spawn → boot's start,
  `runner.started` − `bootDurationMs`), boot's fetch and checkout (`bootFetchMs`), the rest
  of boot until the `execve` (the bench sees `/proc/PID/cmdline` change, polled every
  5 ms), the runner's interpreter, imports, claim and set-up (→ `runner.started`), the
  subject (→ `workspace.materialized`), the bundle (→ `resource-bundle-materialized`), the
  backend up (→ `backend.started`: `--version`, sandbox preflight, spawn, `initialize`),
  `thread.started`, `turn.started` and the model's request.

One warm-up of each side runs first (page cache, first-run costs); its numbers are
dropped. The boot attempt then runs to its terminal report (checked `succeeded`) before
the next measurement starts.

Run: `uv run --frozen --extra bench python bench/bench_boot_start.py [--runs N]`
"""

from __future__ import annotations

import itertools
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
from _common import (
    PROJECT_ROOT,
    RUNNER_WRAPPER_ENV,
    Row,
    event_time,
    parse_args,
    print_table,
    write_json,
)
from bench_boot import AGENTRUN_BOOT, bare_fetch
from bench_start import _bare_turn

from adapters.codex.binary import npm_native_binary
from contract.manager_api import Job
from fakes.manager import example_job
from fakes.mirror import Executable, FakeRepo, GitMirror, make_repo, serve_git_mirror
from fakes.model import SCRIPTS_DIR, load_script
from fakes.stack import TOKEN, LocalStack, local_stack
from runner.turn.backend_run import thread_params

sys.path.insert(0, str(PROJECT_ROOT))  # tests/ is not an installed package
from tests.boot.source_repo import SOURCE_REPO, SOURCE_REPO_URL, publish_project_source

SUBJECT = "bench/subject"
TOOLBOX = "bench/toolbox"
EXEC_POLL_SECONDS = 0.005
PHASES = (
    "boot: interpreter + imports",
    "boot: fetch + checkout (bootFetchMs)",
    "boot: after the fetch → exec",
    "runner: interpreter + imports + claim",
    "runner: subject (workspace.materialized)",
    "runner: bundle (resource-bundle-materialized)",
    "runner: backend up",
    "runner: thread",
    "runner: turn",
    "runner: model",
)


def make_repos(mirror_root: Path) -> tuple[FakeRepo, FakeRepo]:
    """The subject (a few files, two commits) and the bundle repository (tag `v1`)."""
    subject = make_repo(
        mirror_root,
        SUBJECT,
        [
            {
                "README.md": "# Bench subject\n",
                "app.py": "print('hello')\n",
                "CHANGELOG.md": "## 0.1\n- first\n",
                "src/lib.py": "def add(a, b):\n    return a + b\n",
                "tests/test_lib.py": "from src.lib import add\n\nassert add(1, 2) == 3\n",
            },
            {"app.py": "def greet(name):\n    return f'hello, {name}'\n"},
        ],
    )
    toolbox = make_repo(
        mirror_root,
        TOOLBOX,
        [
            {
                "tools/greet.sh": Executable('#!/bin/sh\necho "hello, ${1:-world}"\n'),
                ".agents/skills/greeter/SKILL.md": (
                    "---\nname: greeter\ndescription: Greets people with tools/greet.sh.\n"
                    "---\nRun ../tools/greet.sh NAME.\n"
                ),
                "prompts/intro.md": "You are working in the bench workspace.\n",
                "README.md": "# Bench toolbox\n",
            }
        ],
        tags={"v1": 0},
    )
    return subject, toolbox


def boot_job(subject: FakeRepo, toolbox: FakeRepo) -> dict[str, Any]:
    """A job with the subject at its head and one bundle (tool, skill, prompt) at `v1`."""
    return example_job(
        text="Say hello.",
        workspace={
            "repoUrl": subject.github_url,
            "ref": "main",
            "commitId": subject.head,
            "path": "subject",
        },
        resource_bundles=[
            {
                "kind": "gitbundle",
                "name": "toolbox",
                "repoUrl": toolbox.github_url,
                "ref": "v1",
                "commitId": toolbox.head,
                "bundles": [
                    {"source": "tools", "target": "tools"},
                    {"source": ".agents/skills/greeter", "target": ".agents/skills/greeter"},
                ],
                "promptRefs": ["prompts/intro.md"],
            }
        ],
    )


@dataclass(frozen=True)
class World:
    """What both sides run against: the stack, the mirror and the three commits."""

    stack: LocalStack
    mirror: GitMirror
    binary: Path
    source_commit: str
    subject: FakeRepo
    toolbox: FakeRepo

    def fetches(self) -> list[tuple[str, str, str]]:
        """(directory name, mirror URL, commit) of the three shallow fetches, boot order."""
        return [
            ("source", self.mirror.url_of(SOURCE_REPO), self.source_commit),
            ("subject", self.mirror.url_of(SUBJECT), self.subject.head),
            ("toolbox", self.mirror.url_of(TOOLBOX), self.toolbox.head),
        ]


async def _model_request_at(stack: LocalStack, number: int, clock: Callable[[], float]) -> float:
    """`clock()` once the scripted model has recorded its `number`th request."""
    await stack.model.wait_for_request(number)
    return clock()


async def bare_sequence(world: World, root: Path) -> dict[str, float]:
    """The three shallow fetches then the bare client: total, fetches, client (seconds)."""
    stack = world.stack
    home = root / "home"
    shutil.copytree(stack.provider_home, home)
    cwd = root / "subject"
    params = thread_params(Job.model_validate(boot_job(world.subject, world.toolbox)), cwd)
    number = len(stack.model.model_requests) + 1
    arrived = 0.0

    def fetch_all() -> None:
        for name, url, commit in world.fetches():
            bare_fetch(url, commit, root / name)

    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal arrived
            arrived = await _model_request_at(stack, number, time.monotonic)

        tg.start_soon(watch)
        started = time.monotonic()
        await anyio.to_thread.run_sync(fetch_all)
        fetched = time.monotonic()
        await anyio.to_thread.run_sync(_bare_turn, world.binary, home, cwd, params)
    return {"total": arrived - started, "fetches": fetched - started, "client": arrived - fetched}


def _execed(pid: int) -> bool:
    """Whether process `pid` runs `python -m runner run` now (boot has exec'd)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[1:4] == [b"-m", b"runner", b"run"]


async def boot_start(world: World, boot_dir: Path) -> dict[str, float]:
    """Seconds from spawning `agentrun-boot` to the model's request, and its phases."""
    stack = world.stack
    job = boot_job(world.subject, world.toolbox)
    stack.manager.add_job(job, heartbeat_interval_seconds=10)
    env = stack.runner_env(
        job["runnerJobId"],
        AGENTRUN_BOOT_COMMIT=world.source_commit,
        AGENTRUN_SOURCE_REPO_URL=SOURCE_REPO_URL,
        AGENTRUN_GIT_MIRROR_URL=world.mirror.base_url,
        AGENTRUN_BOOT_DIR=str(boot_dir),
        AGENTRUN_CODEX_BIN=str(world.binary),
    )
    number = len(stack.model.model_requests) + 1
    arrived = execed = math.nan
    stderr = bytearray()
    drained = anyio.Event()
    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                nonlocal arrived
                arrived = await _model_request_at(stack, number, time.time)

            tg.start_soon(watch)
            spawned = time.time()
            process = await anyio.open_process(
                [*shlex.split(os.environ.get(RUNNER_WRAPPER_ENV, "")), str(AGENTRUN_BOOT)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

            async def watch_exec() -> None:
                nonlocal execed
                while process.returncode is None:
                    if _execed(process.pid):
                        execed = time.time()
                        return
                    await anyio.sleep(EXEC_POLL_SECONDS)

            async def drain(stream: anyio.abc.ByteReceiveStream) -> None:
                async for chunk in stream:
                    stderr.extend(chunk)
                drained.set()

            try:
                tg.start_soon(watch_exec)
                assert process.stderr is not None
                tg.start_soon(drain, process.stderr)
                await process.wait()
                with anyio.move_on_after(2):
                    await drained.wait()
            finally:
                if process.returncode is None:
                    process.kill()
                    with anyio.CancelScope(shield=True):
                        await process.wait()
            tg.cancel_scope.cancel()  # the model's request came before the exit, or never
        await process.aclose()
    terminal = stack.manager.terminal(job["runId"], job["attemptId"])
    if process.returncode != 0 or terminal is None or terminal.get("status") != "succeeded":
        raise AssertionError(
            f"boot exit {process.returncode}, terminal {terminal}: "
            + stderr.decode(errors="replace")[-2000:]
        )
    if math.isnan(arrived):
        raise AssertionError("the attempt succeeded but the model recorded no new request")
    events = stack.manager.events(job["runId"], job["attemptId"])
    at = {e["type"]: event_time(e) for e in reversed(events)}  # the first of each type
    started = next(e for e in events if e["type"] == "runner.started")["data"]
    boot_began = at["runner.started"] - started["bootDurationMs"] / 1000
    marks = [
        spawned,
        boot_began,
        boot_began + started["bootFetchMs"] / 1000,
        execed,
        at["runner.started"],
        at["workspace.materialized"],
        at["resource-bundle-materialized"],
        at["backend.started"],
        at["thread.started"],
        at["turn.started"],
        arrived,
    ]
    out = {name: b - a for name, (a, b) in zip(PHASES, itertools.pairwise(marks), strict=True)}
    out["total"] = arrived - spawned
    for event in events:
        if event["type"] == "workspace.materialized":
            out["subject durationMs"] = float(event["data"]["durationMs"])
        elif event["type"] == "resource-bundle-materialized":
            out["bundle durationMs"] = float(event["data"]["durationMs"])
    return out


async def run_all(runs: int) -> tuple[list[Row], list[str]]:
    binary = npm_native_binary()
    if binary is None:
        raise SystemExit("the pinned Codex binary is not installed (scripts/bootstrap)")
    seconds: dict[str, Any] = {"unit": "s", "fmt": "{:.3f}"}
    bare = Row("bare: 3 fetches + client → model's first request", **seconds)
    bare_fetches = Row("  bare part: 3 × git init + fetch --depth=1", **seconds)
    bare_client = Row("  bare part: client spawn → model's first request", **seconds)
    boot = Row("boot: agentrun-boot spawn → model's first request", **seconds)
    phases = {name: Row(f"  {name}", **seconds) for name in PHASES}
    reported = {
        name: Row(f"  ({name} reported)", unit="ms")
        for name in ("subject durationMs", "bundle durationMs")
    }
    ratio = Row("boot / bare", unit="×", fmt="{:.2f}")
    step = load_script(SCRIPTS_DIR / "plain-answer.json").steps[0]
    with tempfile.TemporaryDirectory(prefix="bench-boot-start-") as tmp:
        root = Path(tmp)
        mirror_root = root / "mirror"
        published = publish_project_source(mirror_root)
        subject, toolbox = make_repos(mirror_root)
        async with (
            serve_git_mirror(mirror_root, write_token=TOKEN) as mirror,
            local_stack(root / "stack", [step] * (2 * runs + 4)) as stack,
        ):
            stack.mirror_url = mirror.base_url
            assert mirror.write_base_url is not None
            stack.extra_env["AGENTRUN_GIT_MIRROR_WRITE_URL"] = mirror.write_base_url
            world = World(stack, mirror, binary, published.commit, subject, toolbox)

            async def boot_in(name: str) -> dict[str, float]:
                (root / name).mkdir()
                return await boot_start(world, root / name)

            await bare_sequence(world, root / "warm-bare")  # page cache, first-run costs
            await boot_in("warm-boot")
            for i in range(runs):
                timing = await bare_sequence(world, root / f"bare-{i}")
                bare.values.append(timing["total"])
                bare_fetches.values.append(timing["fetches"])
                bare_client.values.append(timing["client"])
                booted = await boot_in(f"boot-{i}")
                boot.values.append(booted["total"])
                ratio.values.append(booted["total"] / timing["total"])
                for name, row in phases.items():
                    if not math.isnan(booted[name]):  # nan: the exec was not seen
                        row.values.append(booted[name])
                for name, row in reported.items():
                    row.values.append(booted[name])
    notes = [
        f"binary {binary}",
        f"source: this working tree as one commit; subject {SUBJECT} (5 files), "
        f"bundle {TOOLBOX} (tool, skill, prompt ref), all pinned by commit",
        "sandbox workspace-write (the runner preflights it, the bare client does not)",
        "boot phases from the runner's events (ms clock) and the exec seen in /proc (5 ms)",
    ]
    rows = [bare, bare_fetches, bare_client, boot, *phases.values(), *reported.values(), ratio]
    return rows, notes


def main() -> None:
    args = parse_args(__doc__, default_runs=3)
    rows, notes = anyio.run(run_all, args.runs)
    title = "Start with agentrun-boot, a workspace and one bundle (issue 14)"
    print_table(title, rows, notes)
    write_json(args.json, title, rows)


if __name__ == "__main__":
    main()
