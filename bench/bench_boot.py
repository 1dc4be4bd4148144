"""Boot (issue 7 §4): `agentrun-boot` to `runner.started`, beside a bare shallow fetch.

This project's working tree is published to the loopback git mirror as one commit
(`tests/boot/source_repo.py`, as the boot end-to-end test does). Each run then times:

- bare fetch: `git init` + `git fetch --depth=1 <mirror>/agentrun/agentrun-runner.git
  <commit>` into an empty directory (no checkout);
- boot: spawning `agentrun-boot` with the contract §1 environment (fake manager, the
  fake app-server as backend, a fresh `AGENTRUN_BOOT_DIR`) until the fake manager
  stores the runner's `runner.started` event; also `bootDurationMs` and `bootFetchMs`,
  which the runner reports in that event (boot's own clock, from boot's start).

The ratio is boot (spawn → stored) / bare fetch, per run.

Run: `uv run --frozen --extra bench python bench/bench_boot.py [--runs N]`
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import PROJECT_ROOT, RUNNER_WRAPPER_ENV, Row, parse_args, print_table, write_json

from fakes.app_server import LAUNCHER, SCENARIOS_DIR
from fakes.manager import example_job
from fakes.mirror import serve_git_mirror
from fakes.stack import LocalStack, local_stack

sys.path.insert(0, str(PROJECT_ROOT))
from tests.boot.source_repo import (
    SOURCE_REPO,
    SOURCE_REPO_URL,
    publish_project_source,
)

AGENTRUN_BOOT = Path(sys.executable).with_name("agentrun-boot")


def bare_fetch(url: str, commit: str, directory: Path) -> float:
    """Seconds for `git init` + `git fetch --depth=1 url commit` into `directory`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}
    started = time.perf_counter()
    subprocess.run(["git", "init", "-q", str(directory)], check=True, env=env)
    subprocess.run(
        ["git", "-C", str(directory), "fetch", "-q", "--depth=1", url, commit],
        check=True,
        env=env,
    )
    return time.perf_counter() - started


async def boot_once(
    stack: LocalStack, mirror_url: str, commit: str, boot_dir: Path
) -> tuple[float, int, int]:
    """(spawn → runner.started stored, bootDurationMs, bootFetchMs) of one boot."""
    job = example_job()
    stack.manager.add_job(job, heartbeat_interval_seconds=10)
    env = stack.runner_env(
        job["runnerJobId"],
        AGENTRUN_BOOT_COMMIT=commit,
        AGENTRUN_SOURCE_REPO_URL=SOURCE_REPO_URL,
        AGENTRUN_GIT_MIRROR_URL=mirror_url,
        AGENTRUN_BOOT_DIR=str(boot_dir),
        AGENTRUN_CODEX_BIN=str(LAUNCHER),
    )
    run, attempt = job["runId"], job["attemptId"]

    def started_event() -> dict[str, object] | None:
        found = [e for e in stack.manager.events(run, attempt) if e["type"] == "runner.started"]
        return found[0] if found else None

    with anyio.fail_after(120):
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: anyio.run_process(
                    [*shlex.split(os.environ.get(RUNNER_WRAPPER_ENV, "")), str(AGENTRUN_BOOT)],
                    env=env,
                    check=True,
                    stdin=subprocess.DEVNULL,
                )
            )
            await stack.manager.wait_until(lambda: started_event() is not None)
            boot_seconds = time.perf_counter() - started
        event = started_event()
    assert event is not None
    assert stack.manager.terminal(run, attempt) is not None
    data = event["data"]
    assert isinstance(data, dict)
    return boot_seconds, int(data["bootDurationMs"]), int(data["bootFetchMs"])


async def run_all(runs: int) -> list[Row]:
    fetch = Row("bare git init + fetch --depth=1 of the commit", unit="s", fmt="{:.3f}")
    boot = Row("agentrun-boot spawn → runner.started stored", unit="s", fmt="{:.3f}")
    reported = Row("  bootDurationMs (runner.started, boot's clock)", unit="ms")
    boot_fetch = Row("  bootFetchMs (boot's own fetch)", unit="ms")
    ratio = Row("boot / bare fetch", unit="×", fmt="{:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-boot-") as tmp:
        root = Path(tmp)
        published = publish_project_source(root / "mirror")
        async with (
            serve_git_mirror(root / "mirror") as mirror,
            local_stack(root / "stack", []) as stack,
        ):
            (stack.provider_home / "fake-codex-scenario.json").write_bytes(
                (SCENARIOS_DIR / "plain-answer.json").read_bytes()
            )
            url = mirror.url_of(SOURCE_REPO)
            for index in range(runs):
                seconds = await anyio.to_thread.run_sync(
                    bare_fetch, url, published.commit, root / f"fetch-{index}"
                )
                fetch.values.append(seconds)
                boot_dir = root / f"boot-{index}"
                boot_dir.mkdir()
                total, duration_ms, fetch_ms = await boot_once(
                    stack, mirror.base_url, published.commit, boot_dir
                )
                boot.values.append(total)
                reported.values.append(duration_ms)
                boot_fetch.values.append(fetch_ms)
                ratio.values.append(total / seconds)
    return [fetch, boot, reported, boot_fetch, ratio]


def main() -> None:
    args = parse_args(__doc__)
    rows = anyio.run(run_all, args.runs)
    title = "Boot against the loopback mirror (issue 7 §4)"
    print_table(title, rows, ["source: this working tree published as one commit"])
    write_json(args.json, title, rows)


if __name__ == "__main__":
    main()
