"""The permission profile that keeps the runner's secrets and state from the agent (§13).

Unit tests of `runner.turn.sandbox_policy`: which paths are masked, that every listed
path exists and is resolved (Codex 0.171 fails on a masked symlink under a writable root
and on a missing path under a read-only one), that broad directories are never masked,
the layouts refused before the claim, the enforcer's parsing and report, and that the
threads' and turns' sandbox fields fit the pinned 0.171 schema. The real sandbox is
played against in `tests/e2e/test_agent_reach_real_codex.py`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest

from contract.validation import validate_job
from fakes.manager import example_job
from runner.env import EnvError, RunnerEnv
from runner.eventlog.spool import SPOOL_DIRNAME
from runner.turn.backend_run import resume_params, thread_params
from runner.turn.codex_home import prepare_codex_home
from runner.turn.sandbox_policy import (
    CODEX_STATE_DIRNAME,
    PROFILE_NAME,
    Masks,
    SandboxLayoutError,
    build_policy,
    check_layout,
    parse_enforcer,
    private_masks,
    sandbox_report,
)
from runner.turn.sandbox_preflight import preflight_argv, preflight_sandbox
from tests.adapters.test_request_params import fits
from tests.real_codex import REAL_CODEX


def layout(tmp_path: Path, *, projected_token: bool = False) -> dict[str, Path]:
    """The tests' `/tmp` layout (as `fakes.stack`): every runner dir under one root."""
    paths = {
        "runtime_home": tmp_path / "runtime-home",
        "workspace": tmp_path / "workspace",
        "provider_home": tmp_path / "provider-home",
        "session_cache": tmp_path / "session-cache",
    }
    for path in paths.values():
        path.mkdir()
    (paths["provider_home"] / "auth.json").write_text('{"OPENAI_API_KEY": "sk-x"}')
    (paths["provider_home"] / "config.toml").write_text('model = "m"\n')
    if projected_token:
        # A Secret projection: `token -> ..data/token`, `..data -> ..2026_…`.
        secret = tmp_path / "token"
        (secret / "..2026_12_03").mkdir(parents=True)
        (secret / "..2026_12_03" / "token").write_text("tok")
        (secret / "..data").symlink_to("..2026_12_03")
        (secret / "token").symlink_to("..data/token")
        paths["token_file"] = secret / "token"
    else:
        paths["token_file"] = tmp_path / "runner-token"
        paths["token_file"].write_text("tok")
    return paths


def masks_for(paths: dict[str, Path]) -> Masks:
    home = prepare_codex_home(paths["runtime_home"], paths["provider_home"], paths["session_cache"])
    return private_masks(
        runtime_home=home.path,
        workspace=paths["workspace"],
        token_file=paths["token_file"],
        provider_home=paths["provider_home"],
        session_cache=paths["session_cache"],
        copied=home.copied,
    )


def covered(path: Path, roots: tuple[Path, ...]) -> bool:
    resolved = path.resolve()
    return any(resolved == r or r in resolved.parents for r in roots)


def test_the_token_provider_files_spool_codex_state_and_sessions_are_masked(
    tmp_path: Path,
) -> None:
    paths = layout(tmp_path)
    masks = masks_for(paths)
    home = paths["runtime_home"]
    for secret in (
        paths["token_file"],
        paths["provider_home"] / "auth.json",
        home / "auth.json",
        home / "config.toml",
        home / SPOOL_DIRNAME / "attempts",
        home / CODEX_STATE_DIRNAME / "state_5.sqlite",
        home / "sessions" / "2026",
        paths["session_cache"],
    ):
        assert covered(secret, masks.none), secret
    assert home.resolve() in masks.read


def test_every_listed_path_exists_and_none_is_a_symlink(tmp_path: Path) -> None:
    masks = masks_for(layout(tmp_path))
    for path in (*masks.none, *masks.read):
        assert path.exists(), path
        assert path == path.resolve(), path


def test_the_workspace_and_its_ancestors_are_never_masked(tmp_path: Path) -> None:
    paths = layout(tmp_path)
    masks = masks_for(paths)
    for path in (*masks.none, *masks.read):
        assert not covered(paths["workspace"], (path,)), path
    assert Path("/tmp") not in masks.none
    assert tmp_path.resolve() not in masks.none


def test_a_secret_projection_is_masked_as_a_whole_directory(tmp_path: Path) -> None:
    paths = layout(tmp_path, projected_token=True)
    masks = masks_for(paths)
    assert (tmp_path / "token").resolve() in masks.none


def test_a_token_file_directly_in_a_broad_directory_masks_only_the_file(tmp_path: Path) -> None:
    paths = layout(tmp_path)
    masks = masks_for(paths)
    assert paths["token_file"].resolve() in masks.none
    assert tmp_path.resolve() not in masks.none


def test_the_profile_selects_our_permissions_and_extends_the_mode(tmp_path: Path) -> None:
    paths = layout(tmp_path)
    masks = masks_for(paths)
    for mode, builtin in (("workspace-write", ":workspace"), ("read-only", ":read-only")):
        policy = build_policy(mode, "codex", masks, paths["runtime_home"])
        assert policy.profile == PROFILE_NAME
        assert policy.preflight
        values = policy.config_args[1::2]
        assert set(policy.config_args[0::2]) == {"-c"}
        config: dict[str, Any] = {}
        for arg in values:
            key, _, value = arg.partition("=")
            config[key] = tomllib.loads(f"v = {value}")["v"]
        assert config["default_permissions"] == PROFILE_NAME
        assert config[f"permissions.{PROFILE_NAME}.extends"] == builtin
        filesystem = config[f"permissions.{PROFILE_NAME}.filesystem"]
        assert {Path(p) for p, m in filesystem.items() if m == "none"} == set(masks.none)
        assert {Path(p) for p, m in filesystem.items() if m == "read"} == set(masks.read)
        assert config["sqlite_home"] == str(paths["runtime_home"] / CODEX_STATE_DIRNAME)


def test_danger_full_access_and_the_pod_enforcer_use_no_profile(tmp_path: Path) -> None:
    masks = masks_for(layout(tmp_path))
    for mode, enforcer in (("danger-full-access", "codex"), ("workspace-write", "pod")):
        policy = build_policy(mode, enforcer, masks, tmp_path)
        assert policy.config_args == ()
        assert policy.profile is None
        assert not policy.preflight


def job_with(**backend: Any) -> Any:
    raw = example_job()
    raw["backend"] |= backend
    return validate_job(raw)


@pytest.mark.parametrize("mode", ["workspace-write", "read-only"])
def test_threads_under_our_profile_send_no_sandbox_and_fit_the_schema(
    tmp_path: Path, mode: str
) -> None:
    policy = build_policy(mode, "codex", masks_for(layout(tmp_path)), tmp_path)
    job = job_with(sandbox=mode)
    start = thread_params(job, Path("/w"), policy)
    resume = resume_params(job, Path("/w"), "thr_1", policy)
    assert "sandbox" not in start
    assert "sandbox" not in resume
    assert fits("ThreadStartParams", start) == start
    assert fits("ThreadResumeParams", resume) == resume
    assert policy.turn_fields({}) == {}


@pytest.mark.parametrize(
    ("mode", "overrides", "network"),
    [
        ("workspace-write", {}, "restricted"),
        ("read-only", {}, "restricted"),
        ("workspace-write", {"sandbox_workspace_write.network_access": True}, "enabled"),
        ("danger-full-access", {}, "enabled"),
    ],
)
def test_the_pod_enforcer_runs_turns_with_the_external_sandbox_policy(
    mode: str, overrides: dict[str, Any], network: str
) -> None:
    policy = build_policy(mode, "pod", Masks(), Path("/h"))
    job = job_with(sandbox=mode)
    start = thread_params(job, Path("/w"), policy)
    assert "sandbox" not in start
    fields = policy.turn_fields(overrides)
    assert fields == {"sandboxPolicy": {"type": "externalSandbox", "networkAccess": network}}
    turn = {"threadId": "thr_1", "input": [], **fields}
    assert fits("TurnStartParams", turn) == turn


def test_danger_full_access_under_codex_keeps_the_mode_on_the_thread() -> None:
    policy = build_policy("danger-full-access", "codex", Masks(), Path("/h"))
    assert thread_params(job_with(sandbox="danger-full-access"), Path("/w"), policy)["sandbox"] == (
        "danger-full-access"
    )


def test_the_report_names_the_enforcer_and_its_mechanism() -> None:
    assert sandbox_report("workspace-write", "codex") == {
        "mode": "workspace-write",
        "enforcer": "codex",
        "mechanism": "bubblewrap",
        "denyRead": True,
    }
    assert sandbox_report("read-only", "pod")["mechanism"] == "pod"
    assert sandbox_report("read-only", "pod")["denyRead"] is False
    assert sandbox_report("danger-full-access", "codex")["mechanism"] == "none"
    assert sandbox_report(None, "codex")["mode"] is None


def test_the_enforcer_defaults_to_codex_and_refuses_anything_but_codex_or_pod() -> None:
    assert parse_enforcer(None) == parse_enforcer("") == "codex"
    assert parse_enforcer("pod") == "pod"
    for bad in ("bubblewrap", "POD", "none"):
        with pytest.raises(ValueError, match="codex or pod"):
            parse_enforcer(bad)


def base_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    paths = layout(tmp_path)
    env = {
        "AGENTRUN_MANAGER_URL": "http://127.0.0.1:1",
        "AGENTRUN_RUNNER_JOB_ID": "rj-1",
        "AGENTRUN_RUNNER_TOKEN_FILE": str(paths["token_file"]),
        "AGENTRUN_RUNTIME_HOME": str(paths["runtime_home"]),
        "AGENTRUN_WORKSPACE": str(paths["workspace"]),
        "AGENTRUN_PROVIDER_HOME": str(paths["provider_home"]),
        "AGENTRUN_SESSION_CACHE": str(paths["session_cache"]),
    }
    return env | changes


def test_an_unknown_enforcer_is_runner_env_invalid(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    with pytest.raises(EnvError) as caught:
        RunnerEnv.from_environ(env | {"AGENTRUN_SANDBOX_ENFORCER": "gvisor"})
    assert str(caught.value.kind) == "runner-env-invalid"
    assert RunnerEnv.from_environ(env).sandbox_enforcer == "codex"


def test_the_tests_layout_under_tmp_is_accepted(tmp_path: Path) -> None:
    RunnerEnv.from_environ(base_env(tmp_path)).check_layout()


@pytest.mark.parametrize(
    "change",
    [
        {"AGENTRUN_RUNTIME_HOME": "{ws}/home"},
        {"AGENTRUN_WORKSPACE": "{home}/ws"},
        {"AGENTRUN_SESSION_CACHE": "{ws}/cache"},
        {"AGENTRUN_PROVIDER_HOME": "{ws}"},
        {"AGENTRUN_RUNNER_TOKEN_FILE": "{ws}/token"},
        {"AGENTRUN_RUNTIME_HOME": "/tmp"},
        {"AGENTRUN_SESSION_CACHE": "/"},
    ],
    ids=[
        "home-in-workspace",
        "workspace-in-home",
        "cache-in-workspace",
        "provider-is-workspace",
        "token-in-workspace",
        "home-is-tmp",
        "cache-is-root",
    ],
)
def test_a_layout_that_puts_private_state_in_reach_is_refused_before_the_claim(
    tmp_path: Path, change: dict[str, str]
) -> None:
    env = base_env(tmp_path)
    values = {"ws": env["AGENTRUN_WORKSPACE"], "home": env["AGENTRUN_RUNTIME_HOME"]}
    env |= {name: value.format(**values) for name, value in change.items()}
    runner_env = RunnerEnv.from_environ(env)
    with pytest.raises(EnvError) as caught:
        runner_env.check_layout()
    assert str(caught.value.kind) == "runner-env-invalid"
    with pytest.raises(SandboxLayoutError):
        check_layout(
            runtime_home=runner_env.runtime_home,
            workspace=runner_env.workspace,
            token_file=runner_env.token_file,
            provider_home=runner_env.provider_home,
            session_cache=runner_env.session_cache,
        )


def test_the_preflight_checks_the_profile_the_threads_use(tmp_path: Path) -> None:
    paths = layout(tmp_path)
    policy = build_policy("read-only", "codex", masks_for(paths), paths["runtime_home"])
    assert policy.profile is not None
    argv = preflight_argv(
        Path("/codex"), "read-only", tmp_path, (policy.profile, policy.config_args)
    )
    assert argv is not None
    assert argv[argv.index("-P") + 1] == PROFILE_NAME
    assert argv[2 : 2 + len(policy.config_args)] == list(policy.config_args)
    assert preflight_argv(Path("/codex"), None, tmp_path) is None  # the pod enforcer


@pytest.mark.anyio
@pytest.mark.real_codex
@pytest.mark.parametrize("build", sorted(REAL_CODEX))
@pytest.mark.parametrize("mode", ["workspace-write", "read-only"])
async def test_every_verified_build_starts_its_sandbox_with_the_profile(
    tmp_path: Path, build: str, mode: str
) -> None:
    codex = REAL_CODEX[build]()
    if codex is None:
        pytest.skip(f"{build} is not installed")
    paths = layout(tmp_path)
    policy = build_policy(mode, "codex", masks_for(paths), paths["runtime_home"])
    assert policy.profile is not None
    env = {"PATH": os.environ.get("PATH", ""), "CODEX_HOME": str(paths["runtime_home"])}
    with anyio.fail_after(60):
        await preflight_sandbox(
            codex, mode, env, paths["workspace"], profile=(policy.profile, policy.config_args)
        )
