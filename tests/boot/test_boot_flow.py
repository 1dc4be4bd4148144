"""`agentrun-boot` end to end against the loopback mirror, run as the Job runs it.

The exec target is replaced through `AGENTRUN_BOOT_EXEC` by a probe that prints what
the runner would see (cwd, which `runner` package it imports, the boot env), so these
tests prove which checkout ran without needing the runner itself.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from boot.env_identity import compute_env_identity
from boot.errors import BootFailure
from boot.flow import prepare_boot
from fakes.mirror.server import GitMirror
from tests.boot.conftest import AGENTRUN_BOOT
from tests.boot.source_repo import PROJECT_ROOT, SOURCE_REPO, TIP_MARKER, PublishedSource

pytestmark = pytest.mark.anyio

BOOT_TIMEOUT_SECONDS = 60.0
PROBE = """
import json, os, sys
import runner
print(json.dumps({
    "cwd": os.getcwd(),
    "runner_file": runner.__file__,
    "argv": sys.argv,
    "executable": sys.executable,
    "env": {k: v for k, v in os.environ.items() if k.startswith(("AGENTRUN_", "PYTHONPATH"))},
}))
"""


async def run_boot(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run the `agentrun-boot` console script with exactly `env`, bounded in time."""
    assert AGENTRUN_BOOT.exists(), "agentrun-boot is not installed: run scripts/bootstrap"
    with anyio.fail_after(BOOT_TIMEOUT_SECONDS):
        return await anyio.run_process([str(AGENTRUN_BOOT)], env=env, check=False)


def failure_of(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """The one JSON failure line on stderr (asserting there is exactly one line)."""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    line: dict[str, Any] = json.loads(lines[0])
    assert set(line) == {"failureKind", "message", "detail"}  # contract §1
    return line


def git_in(checkout: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), *args], capture_output=True, check=False, timeout=30
    )
    return done.stdout.decode().strip()


async def test_boot_fetches_the_exact_commit_and_execs_the_runner_from_that_checkout(
    mirror: GitMirror, published_source: PublishedSource, boot_env: dict[str, str]
) -> None:
    boot_env["AGENTRUN_GIT_MIRROR_URL"] = mirror.base_url
    boot_env["AGENTRUN_BOOT_COMMIT"] = published_source.commit.upper()
    boot_env["AGENTRUN_BOOT_EXEC"] = json.dumps([sys.executable, "-c", PROBE])

    result = await run_boot(boot_env)

    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    seen = json.loads(result.stdout)
    checkout = Path(seen["cwd"])
    assert checkout.parent == Path(await anyio.Path(boot_env["AGENTRUN_BOOT_DIR"]).resolve())
    assert Path(seen["runner_file"]).is_relative_to(checkout)
    assert not Path(seen["runner_file"]).is_relative_to(PROJECT_ROOT)
    env = seen["env"]
    assert env["AGENTRUN_BOOT_CHECKOUT"] == str(checkout)
    assert env["AGENTRUN_BOOT_COMMIT"] == published_source.commit
    assert env["PYTHONPATH"].split(":")[0] == str(checkout)
    assert int(env["AGENTRUN_BOOT_STARTED_AT_MS"]) > 1_700_000_000_000
    assert 0 <= int(env["AGENTRUN_BOOT_FETCH_MS"]) <= int(env["AGENTRUN_BOOT_DURATION_MS"])
    assert env["AGENTRUN_BOOT_FETCH_URL"] == mirror.url_of(SOURCE_REPO)
    assert env["AGENTRUN_ENV_IDENTITY_CHECKOUT"] == compute_env_identity(PROJECT_ROOT)
    assert "AGENTRUN_BOOT_EXEC" not in env
    assert git_in(checkout, "rev-parse", "HEAD") == published_source.commit
    assert git_in(checkout, "rev-parse", "--is-shallow-repository") == "true"
    assert git_in(checkout, "rev-list", "--count", "--all") == "1"
    assert git_in(checkout, "symbolic-ref", "-q", "HEAD") == ""  # detached
    assert git_in(checkout, "status", "--porcelain", "--untracked-files=no") == ""
    assert not (checkout / TIP_MARKER).exists()
    assert mirror.fetch_count(SOURCE_REPO) == 1


async def test_a_malformed_boot_commit_fails_with_boot_commit_invalid_before_any_fetch(
    mirror: GitMirror, boot_env: dict[str, str]
) -> None:
    boot_env["AGENTRUN_GIT_MIRROR_URL"] = mirror.base_url
    boot_env["AGENTRUN_BOOT_COMMIT"] = "main"

    result = await run_boot(boot_env)

    assert result.returncode != 0
    assert failure_of(result)["failureKind"] == "boot-commit-invalid"
    assert failure_of(result)["detail"]["retryable"] is False
    assert mirror.requests == []


async def test_a_missing_boot_commit_fails_with_boot_commit_invalid(
    boot_env: dict[str, str],
) -> None:
    result = await run_boot(boot_env)

    assert result.returncode != 0
    assert failure_of(result)["failureKind"] == "boot-commit-invalid"


async def test_an_unknown_commit_fails_with_boot_commit_not_found_and_leaves_no_checkout(
    mirror: GitMirror, boot_env: dict[str, str]
) -> None:
    boot_env["AGENTRUN_GIT_MIRROR_URL"] = mirror.base_url
    boot_env["AGENTRUN_BOOT_COMMIT"] = "0123456789abcdef0123456789abcdef01234567"

    result = await run_boot(boot_env)

    assert result.returncode != 0
    line = failure_of(result)
    assert line["failureKind"] == "boot-commit-not-found"
    assert line["detail"]["retryable"] is False
    assert [p async for p in anyio.Path(boot_env["AGENTRUN_BOOT_DIR"]).iterdir()] == []


async def test_a_mirror_that_answers_errors_fails_with_boot_fetch_failed_without_credentials(
    mirror: GitMirror, published_source: PublishedSource, boot_env: dict[str, str]
) -> None:
    mirror.set_repo_down(SOURCE_REPO)
    host = mirror.base_url.removeprefix("http://")
    boot_env["AGENTRUN_GIT_MIRROR_URL"] = f"http://reader:mirror-s3cret@{host}"
    boot_env["AGENTRUN_BOOT_COMMIT"] = published_source.commit

    result = await run_boot(boot_env)

    assert result.returncode != 0
    assert failure_of(result)["failureKind"] == "boot-fetch-failed"
    assert b"mirror-s3cret" not in result.stderr
    assert b"token-value-never-printed" not in result.stderr


async def test_an_unreachable_mirror_fails_with_boot_fetch_failed(
    published_source: PublishedSource, boot_env: dict[str, str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    boot_env["AGENTRUN_GIT_MIRROR_URL"] = f"http://127.0.0.1:{closed_port}"
    boot_env["AGENTRUN_BOOT_COMMIT"] = published_source.commit

    result = await run_boot(boot_env)

    assert result.returncode != 0
    assert failure_of(result)["failureKind"] == "boot-fetch-failed"


async def test_a_missing_token_file_fails_with_secret_missing_before_any_fetch(
    mirror: GitMirror, published_source: PublishedSource, boot_env: dict[str, str]
) -> None:
    boot_env["AGENTRUN_GIT_MIRROR_URL"] = mirror.base_url
    boot_env["AGENTRUN_BOOT_COMMIT"] = published_source.commit
    await anyio.Path(boot_env["AGENTRUN_RUNNER_TOKEN_FILE"]).unlink()

    result = await run_boot(boot_env)

    assert result.returncode != 0
    assert failure_of(result)["failureKind"] == "secret-missing"
    assert mirror.requests == []


async def test_a_github_source_without_a_mirror_is_never_fetched_from_github(
    published_source: PublishedSource, boot_env: dict[str, str]
) -> None:
    boot_env["AGENTRUN_BOOT_COMMIT"] = published_source.commit

    result = await run_boot(boot_env)

    assert result.returncode != 0
    line = failure_of(result)
    assert line["failureKind"] == "boot-fetch-failed"
    assert "AGENTRUN_GIT_MIRROR_URL" in line["message"]


async def test_prepare_boot_plans_the_runner_on_this_interpreter_in_the_checkout(
    mirror: GitMirror, published_source: PublishedSource, boot_env: dict[str, str]
) -> None:
    boot_env["AGENTRUN_GIT_MIRROR_URL"] = mirror.base_url
    boot_env["AGENTRUN_BOOT_COMMIT"] = published_source.commit

    with anyio.fail_after(BOOT_TIMEOUT_SECONDS):
        plan = await anyio.to_thread.run_sync(prepare_boot, boot_env)

    assert plan.argv == (sys.executable, "-m", "runner", "run")
    assert plan.env["AGENTRUN_BOOT_CHECKOUT"] == str(plan.cwd)
    assert await anyio.Path(plan.cwd, "runner", "__init__.py").is_file()
    assert plan.env["AGENTRUN_RUNNER_TOKEN_FILE"] == boot_env["AGENTRUN_RUNNER_TOKEN_FILE"]


async def test_a_mirror_that_never_answers_is_abandoned_after_the_fetch_bound(
    published_source: PublishedSource, boot_env: dict[str, str]
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        boot_env["AGENTRUN_GIT_MIRROR_URL"] = f"http://127.0.0.1:{silent.getsockname()[1]}"
        boot_env["AGENTRUN_BOOT_COMMIT"] = published_source.commit
        boot_env["AGENTRUN_BOOT_FETCH_TIMEOUT_SECONDS"] = "1"

        with anyio.fail_after(BOOT_TIMEOUT_SECONDS), pytest.raises(BootFailure) as caught:
            await anyio.to_thread.run_sync(prepare_boot, boot_env)

    assert caught.value.kind == "boot-fetch-failed"
    assert caught.value.detail["reason"] == "timeout"
