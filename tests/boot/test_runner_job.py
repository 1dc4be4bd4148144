"""The runner Job template renders to a valid Kubernetes Job that holds no Secret value."""

from __future__ import annotations

import dataclasses
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from deploy.render import (
    SHUTDOWN_BUDGET_SECONDS,
    TOKEN_KEY,
    JobParams,
    JobParamsError,
    example_params,
    render_job,
    render_job_yaml,
)

KUBERNETES_VERSION = "1.33"
CONTRACT_ENV = {
    "AGENTRUN_MANAGER_URL",
    "AGENTRUN_RUNNER_JOB_ID",
    "AGENTRUN_RUNNER_TOKEN_FILE",
    "AGENTRUN_BOOT_COMMIT",
    "AGENTRUN_SOURCE_REPO_URL",
    "AGENTRUN_GIT_MIRROR_URL",
    "AGENTRUN_GIT_MIRROR_WRITE_URL",
    "AGENTRUN_PROVIDER_HOME",
    "AGENTRUN_RUNTIME_HOME",
    "AGENTRUN_WORKSPACE",
    "AGENTRUN_TRANSIENT_ENV_NAMES",
    "AGENTRUN_SESSION_CACHE",
    "AGENTRUN_RUNTIME_HOME_LIMIT_BYTES",
    "AGENTRUN_WORKSPACE_LIMIT_BYTES",
    "AGENTRUN_SANDBOX_ENFORCER",
}
LITERAL_ENV_ALLOWED = CONTRACT_ENV | {"AGENTRUN_BOOT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
SECRET_VALUES = {
    "runner-token": "tok-9f8e7d6c5b4a-SENTINEL",
    "HWLAB_API_TOKEN": "hwlab-SENTINEL-value",
    "OTHER_KEY": "other-SENTINEL-value",
}
PROVIDER_FILES = {"auth.json": '{"OPENAI_API_KEY": "sk-SENTINEL"}', "config.toml": "model = 'x'"}


def params(**changes: Any) -> JobParams:
    base = dataclasses.replace(
        example_params(), transient_env_names=("HWLAB_API_TOKEN", "OTHER_KEY")
    )
    return dataclasses.replace(base, **changes)


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(manifest)["env"]}


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {
            "session_cache_claim": None,
            "git_mirror_url": None,
            "git_mirror_write_url": None,
            "transient_env_names": (),
        },
        {"http_proxy": "http://proxy.svc:3128", "https_proxy": "http://proxy.svc:3128"},
        {"seccomp_localhost_profile": "agentrun/runner-bwrap.json"},
        {"seccomp_localhost_profile": "operator/agentrun-bwrap-amd64.json"},
        {"apparmor_profile": "Unconfined"},
        {"apparmor_profile": "bwrap-userns-restrict"},
        {"sandbox_enforcer": "pod"},
    ],
    ids=[
        "full",
        "minimal",
        "proxies",
        "localhost-seccomp",
        "spo-seccomp",
        "apparmor-unconfined",
        "apparmor-localhost",
        "pod-enforcer",
    ],
)
def test_the_rendered_job_validates_against_the_kubernetes_schema(variant: dict[str, Any]) -> None:
    manifest = render_job(params(**variant))
    assert kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_the_job_runs_one_attempt_in_a_restricted_pod_within_the_shutdown_budget() -> None:
    manifest = render_job(params())
    spec = manifest["spec"]
    pod = spec["template"]["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] > 0
    assert pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] == SHUTDOWN_BUDGET_SECONDS == 30
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(manifest)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(container(manifest)["resources"]["requests"])


def test_a_localhost_seccomp_profile_replaces_the_runtime_default_and_nothing_else() -> None:
    default = render_job(params())
    manifest = render_job(params(seccomp_localhost_profile="agentrun/runner-bwrap.json"))
    pod = manifest["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {
        "type": "Localhost",
        "localhostProfile": "agentrun/runner-bwrap.json",
    }
    pod["securityContext"]["seccompProfile"] = {"type": "RuntimeDefault"}
    assert manifest == default


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Unconfined", {"type": "Unconfined"}),
        ("RuntimeDefault", {"type": "RuntimeDefault"}),
        (
            "bwrap-userns-restrict",
            {"type": "Localhost", "localhostProfile": "bwrap-userns-restrict"},
        ),
    ],
)
def test_an_apparmor_profile_is_the_containers_app_armor_profile_and_nothing_else(
    value: str, expected: dict[str, str]
) -> None:
    default = render_job(params())
    manifest = render_job(params(apparmor_profile=value))
    assert container(manifest)["securityContext"].pop("appArmorProfile") == expected
    assert manifest == default
    assert "appArmorProfile" not in container(default)["securityContext"]


def test_the_volume_size_limits_reach_the_runner_in_bytes() -> None:
    manifest = render_job(params(runtime_home_size_limit="4Mi", workspace_size_limit="8G"))
    env = env_of(manifest)
    volumes = {v["name"]: v for v in manifest["spec"]["template"]["spec"]["volumes"]}
    assert env["AGENTRUN_RUNTIME_HOME_LIMIT_BYTES"]["value"] == str(4 * 1024**2)
    assert env["AGENTRUN_WORKSPACE_LIMIT_BYTES"]["value"] == str(8 * 1000**3)
    assert volumes["runtime-home"]["emptyDir"]["sizeLimit"] == "4Mi"
    assert volumes["workspace"]["emptyDir"]["sizeLimit"] == "8G"


def test_the_sandbox_enforcer_is_codex_unless_the_deployment_names_pod() -> None:
    assert env_of(render_job(params()))["AGENTRUN_SANDBOX_ENFORCER"]["value"] == "codex"
    pod = env_of(render_job(params(sandbox_enforcer="pod")))
    assert pod["AGENTRUN_SANDBOX_ENFORCER"]["value"] == "pod"


def test_the_pod_gets_the_contract_env_and_its_volumes() -> None:
    manifest = render_job(params())
    env = env_of(manifest)
    assert set(env) >= CONTRACT_ENV
    assert env["AGENTRUN_TRANSIENT_ENV_NAMES"]["value"] == "HWLAB_API_TOKEN,OTHER_KEY"
    mounts = {m["mountPath"]: m for m in container(manifest)["volumeMounts"]}
    volumes = {v["name"]: v for v in manifest["spec"]["template"]["spec"]["volumes"]}
    by_path = {path: volumes[mount["name"]] for path, mount in mounts.items()}
    for name in ("AGENTRUN_RUNTIME_HOME", "AGENTRUN_WORKSPACE", "AGENTRUN_BOOT_DIR"):
        assert "emptyDir" in by_path[env[name]["value"]]
    assert "emptyDir" in by_path["/tmp"]
    cache = by_path[env["AGENTRUN_SESSION_CACHE"]["value"]]
    assert cache["persistentVolumeClaim"]["claimName"] == "agentrun-session-ses-1"
    provider_path = env["AGENTRUN_PROVIDER_HOME"]["value"]
    assert mounts[provider_path]["readOnly"] is True
    assert by_path[provider_path]["secret"]["secretName"] == "agentrun-provider-codex"
    token_dir, _, token_name = env["AGENTRUN_RUNNER_TOKEN_FILE"]["value"].rpartition("/")
    assert mounts[token_dir]["readOnly"] is True
    assert by_path[token_dir]["secret"]["items"] == [{"key": TOKEN_KEY, "path": token_name}]


def test_no_secret_value_can_appear_in_the_job() -> None:
    job = params()
    text = render_job_yaml(job)
    for value in [*SECRET_VALUES.values(), *PROVIDER_FILES.values()]:
        assert value not in text
    assert "kind: Secret" not in text
    env = env_of(yaml.safe_load(text))
    for name, entry in env.items():
        if "value" in entry:
            assert name in LITERAL_ENV_ALLOWED, f"{name} is a literal value"
        elif "secretKeyRef" in entry["valueFrom"]:
            reference = entry["valueFrom"]["secretKeyRef"]
            assert reference == {"name": job.job_secret_name, "key": name, "optional": False}
        else:
            assert set(entry["valueFrom"]) == {"fieldRef"}
    assert {n for n, e in env.items() if "secretKeyRef" in e.get("valueFrom", {})} == set(
        job.transient_env_names
    )
    fields = {f.name for f in dataclasses.fields(JobParams)}
    assert not any("value" in name or name.endswith("token") for name in fields)


@pytest.mark.parametrize(
    "changes",
    [
        {"http_proxy": "http://user:pw@proxy.svc:3128"},
        {"git_mirror_url": "http://reader:pw@mirror.svc"},
        {"git_mirror_write_url": "http://writer:pw@mirror-write.svc"},
        {"transient_env_names": ("AGENTRUN_RUNNER_TOKEN_FILE",)},
        {"transient_env_names": ("BAD-NAME",)},
        {"transient_env_names": ("A", "A")},
        {"boot_commit": "main"},
        {"name": "Not_A_Label"},
        {"runner_job_id": "rj/with/slashes"},
        {"termination_grace_period_seconds": 0},
        {"seccomp_localhost_profile": "/etc/seccomp/x.json"},
        {"seccomp_localhost_profile": "../x.json"},
        {"apparmor_profile": "bad profile name"},
        {"workspace_size_limit": "1.5Gi"},
        {"sandbox_enforcer": "none"},
        {"sandbox_enforcer": ""},
    ],
)
def test_parameters_that_could_leak_a_secret_or_break_the_job_are_refused(
    changes: dict[str, Any],
) -> None:
    with pytest.raises(JobParamsError):
        render_job(params(**changes))


def test_hostile_strings_stay_scalars_and_round_trip() -> None:
    hostile = 'http://h/"quoted"\n  injected: true # x'
    manifest = render_job(params(manager_url=hostile.replace("http://h", "http://mgr")))
    assert env_of(manifest)["AGENTRUN_MANAGER_URL"]["value"].startswith("http://mgr/")
    assert "injected" not in container(manifest)
