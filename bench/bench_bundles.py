"""Bundles (issue 7 §5): 1 vs 5 resource bundles from one repository, and fetch counts.

A repository `bench/toolbox` on the loopback mirror holds five packs (`pack0`..`pack4`,
each 40 files of 4 KiB plus a skill). A job asks for one bundle (`pack0`) or five (one
per pack, all from the same repository and ref `v1`); the backend is the fake
app-server with a plain answer. Per run: the materialization window (the runner's
`runner.started` event → its last `resource-bundle-materialized` event, both on the
runner's clock, ms resolution), the sum of the bundles' reported `durationMs`, and the
number of object fetches the mirror served for the repository (`fetch_count`).

Run: `uv run --frozen --extra bench python bench/bench_bundles.py [--runs N]`
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
from _common import Row, event_time, parse_args, print_table, run_runner, write_json

from fakes.app_server import LAUNCHER, SCENARIOS_DIR
from fakes.manager import example_job
from fakes.mirror import Executable, FileSpec, make_repo, serve_git_mirror
from fakes.stack import LocalStack, local_stack

REPO = "bench/toolbox"
PACKS = 5
FILES_PER_PACK = 40


def toolbox_files() -> dict[str, FileSpec]:
    """Five packs of 40 × 4 KiB files, a tool and a skill each."""
    files: dict[str, FileSpec] = {}
    for pack in range(PACKS):
        base = f"pack{pack}"
        files[f"{base}/tools/run.sh"] = Executable(f"#!/bin/sh\necho pack {pack}\n")
        files[f"{base}/.agents/skills/s{pack}/SKILL.md"] = (
            f"---\nname: s{pack}\ndescription: Skill {pack}.\n---\nUse tools/run.sh.\n"
        )
        for index in range(FILES_PER_PACK):
            files[f"{base}/data/f{index:03d}.txt"] = f"{pack}-{index} " * 1024
    return files


def bundle_job(count: int) -> dict[str, Any]:
    """A job with `count` bundles from `REPO`, one per pack."""
    return example_job(
        resource_bundles=[
            {
                "kind": "gitbundle",
                "name": f"pack{pack}",
                "repoUrl": f"https://github.com/{REPO}",
                "ref": "v1",
                "commitId": None,
                "bundles": [{"source": f"pack{pack}", "target": f"pack{pack}"}],
                "promptRefs": [],
            }
            for pack in range(count)
        ]
    )


async def one_run(stack: LocalStack, count: int) -> tuple[float, float]:
    """(window seconds, sum of durationMs / 1000) of one attempt with `count` bundles."""
    job = bundle_job(count)
    stack.manager.add_job(job, heartbeat_interval_seconds=10)
    env = stack.runner_env(job["runnerJobId"], AGENTRUN_CODEX_BIN=str(LAUNCHER))
    process = await run_runner(env, timeout_seconds=120)
    events = stack.manager.events(job["runId"], job["attemptId"])
    terminal = stack.manager.terminal(job["runId"], job["attemptId"])
    assert process.returncode == 0, process.stderr[-2000:]
    assert terminal is not None
    assert terminal["status"] == "succeeded", terminal
    bundles = [e for e in events if e["type"] == "resource-bundle-materialized"]
    assert len(bundles) == count, [e["type"] for e in events]
    [started] = [e for e in events if e["type"] == "runner.started"]
    window = max(event_time(e) for e in bundles) - event_time(started)
    return window, sum(int(e["data"]["durationMs"]) for e in bundles) / 1000


async def run_all(runs: int) -> list[Row]:
    rows = {
        (count, what): Row(label, unit=unit, fmt=fmt)
        for count in (1, 5)
        for what, label, unit, fmt in [
            ("window", f"{count} bundle(s): runner.started → last bundle", "s", "{:.3f}"),
            ("sum", f"{count} bundle(s): sum of durationMs", "s", "{:.3f}"),
            ("fetches", f"{count} bundle(s): mirror fetches of the repository", "", "{:.0f}"),
        ]
    }
    ratio = Row("5 / 1 bundles (window)", unit="×", fmt="{:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-bundles-") as tmp:
        root = Path(tmp)
        make_repo(root / "mirror", REPO, [toolbox_files()], tags={"v1": 0})
        async with (
            serve_git_mirror(root / "mirror") as mirror,
            local_stack(root / "stack", []) as stack,
        ):
            stack.mirror_url = mirror.base_url
            (stack.provider_home / "fake-codex-scenario.json").write_bytes(
                (SCENARIOS_DIR / "plain-answer.json").read_bytes()
            )
            for _ in range(runs):
                for count in (1, 5):
                    mirror.clear_log()
                    window, total = await one_run(stack, count)
                    rows[count, "window"].values.append(window)
                    rows[count, "sum"].values.append(total)
                    rows[count, "fetches"].values.append(mirror.fetch_count(REPO))
                ratio.values.append(rows[5, "window"].values[-1] / rows[1, "window"].values[-1])
    return [*rows.values(), ratio]


def main() -> None:
    args = parse_args(__doc__)
    rows = anyio.run(run_all, args.runs)
    title = "Resource bundles from one repository (issue 7 §5)"
    print_table(title, rows, [f"repository {REPO}: {PACKS} packs × {FILES_PER_PACK} files"])
    write_json(args.json, title, rows)


if __name__ == "__main__":
    main()
