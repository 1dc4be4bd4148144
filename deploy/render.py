"""Render `deploy/runner-job.yaml`, the runner Job the manager creates per attempt.

The template is Jinja2 with `StrictUndefined`; every string goes through the `q`
filter, which emits a JSON string (a valid double-quoted YAML scalar), so no value can
break the YAML structure. `JobParams` has fields for names and references only: it has
no field that could carry a Secret value, and URLs with credentials are refused.

Run ``python -m deploy.render`` to print an example manifest.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import jinja2
import yaml

TEMPLATE_PATH: Final = Path(__file__).with_name("runner-job.yaml")
TOKEN_KEY: Final = "runner-token"
"""Key of the runner token in the per-job Secret (transient env keys are env names)."""
SHUTDOWN_BUDGET_SECONDS: Final = 30
"""`terminationGracePeriodSeconds`: the runner must finish its SIGTERM path within it."""
PROXY_NAMES: Final = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
SANDBOX_ENFORCERS: Final = ("codex", "pod")
"""`AGENTRUN_SANDBOX_ENFORCER` values (contract §1)."""
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_PROFILE_PATH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_APPARMOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,252}$")
APPARMOR_TYPES: Final = ("Unconfined", "RuntimeDefault")
"""`apparmor_profile` values that are a type; any other value names a `Localhost` profile."""
_RESERVED_PREFIXES: Final = ("AGENTRUN_", "CODEX_")


@dataclass(frozen=True)
class JobParams:
    """Everything the Job template needs; names and references, never Secret values.

    Attributes:
        name: the Job name (DNS label), e.g. `agentrun-rj-7f3c-1`.
        namespace: the namespace, e.g. `agentrun-v01`.
        image: the env image reference, by digest in production.
        runner_job_id: `AGENTRUN_RUNNER_JOB_ID` (also a label value).
        manager_url: `AGENTRUN_MANAGER_URL`, no credentials.
        boot_commit: `AGENTRUN_BOOT_COMMIT`, 40 lowercase hex.
        source_repo_url: `AGENTRUN_SOURCE_REPO_URL`, GitHub form, no credentials.
        git_mirror_url: `AGENTRUN_GIT_MIRROR_URL`, no credentials, or None.
        git_mirror_write_url: `AGENTRUN_GIT_MIRROR_WRITE_URL` (§1, §12: where the
            workspace result commit is pushed; the runner token is its credential), no
            credentials, or None (nothing is pushed).
        job_secret_name: the per-job Secret: key `runner-token` (the token file) and one
            key per transient env name (its value).
        provider_secret_name: the provider Secret (`auth.json`, `config.toml`).
        transient_env_names: names of the transient env vars; each becomes a
            `valueFrom.secretKeyRef` of the per-job Secret with the same key.
        session_cache_claim: the session's PVC, mounted as `AGENTRUN_SESSION_CACHE`,
            or None.
        http_proxy, https_proxy, no_proxy: the egress proxy (no credentials in URLs;
            a proxy that needs them goes in as transient env), or None.
        seccomp_localhost_profile: a `Localhost` seccomp profile (path relative to the
            kubelet's seccomp dir) for nodes whose `RuntimeDefault` refuses the namespaces
            Codex's bubblewrap sandbox creates (containerd); None keeps `RuntimeDefault`.
        apparmor_profile: the container's AppArmor profile (Kubernetes ≥ 1.30
            `securityContext.appArmorProfile`): `Unconfined`, `RuntimeDefault`, or the
            name of a profile loaded on the node (rendered as `Localhost`), for nodes whose
            AppArmor refuses unprivileged user namespaces (Ubuntu ≥ 23.10,
            docs/boot.md "AppArmor nodes"); None leaves the field out (the runtime's
            default).
        sandbox_enforcer: `AGENTRUN_SANDBOX_ENFORCER` (§1, §13): `codex` (Codex's own
            sandbox, the default) or `pod` (the deployment's explicit choice for nodes
            where it cannot start: then the pod is the agent's only boundary and the
            agent's commands can read the runner token and the provider credentials;
            docs/security.md).
        active_deadline_seconds: the Job's deadline; turn timeout plus boot and slack.
        termination_grace_period_seconds: the runner's shutdown budget, seconds.
        ttl_seconds_after_finished: how long the finished Job is kept, seconds.
        cpu_request, memory_request, memory_limit, ephemeral_storage_request,
        ephemeral_storage_limit, runtime_home_size_limit, workspace_size_limit:
            Kubernetes quantities.
    """

    name: str
    namespace: str
    image: str
    runner_job_id: str
    manager_url: str
    boot_commit: str
    source_repo_url: str
    job_secret_name: str
    provider_secret_name: str
    git_mirror_url: str | None = None
    git_mirror_write_url: str | None = None
    transient_env_names: tuple[str, ...] = ()
    session_cache_claim: str | None = None
    http_proxy: str | None = None
    https_proxy: str | None = None
    no_proxy: str | None = None
    seccomp_localhost_profile: str | None = None
    apparmor_profile: str | None = None
    sandbox_enforcer: str = "codex"
    active_deadline_seconds: int = 4200
    termination_grace_period_seconds: int = SHUTDOWN_BUDGET_SECONDS
    ttl_seconds_after_finished: int = 3600
    cpu_request: str = "1"
    memory_request: str = "2Gi"
    memory_limit: str = "8Gi"
    ephemeral_storage_request: str = "2Gi"
    ephemeral_storage_limit: str = "12Gi"
    runtime_home_size_limit: str = "1Gi"
    workspace_size_limit: str = "8Gi"


class JobParamsError(ValueError):
    """A parameter would make an invalid Job or could leak a secret."""


def validate_params(params: JobParams) -> None:
    """Check names, ids and URLs before rendering.

    Args:
        params: the parameters.

    Raises:
        JobParamsError: a name is not a valid DNS label or subdomain, the commit is not 40
            hex, a transient env name is invalid, duplicated or reserved, a URL carries
            credentials, the seccomp profile is not a relative path, the AppArmor profile
            is not a profile name, the sandbox enforcer is not `codex` or `pod`, or a
            duration is not positive.
    """
    if not _DNS_LABEL.match(params.name):
        raise JobParamsError(f"Job name {params.name!r} is not a DNS label")
    if not _DNS_LABEL.match(params.namespace):
        raise JobParamsError(f"namespace {params.namespace!r} is not a DNS label")
    for secret in (params.job_secret_name, params.provider_secret_name):
        if not _DNS_SUBDOMAIN.match(secret):
            raise JobParamsError(f"Secret name {secret!r} is not a DNS subdomain")
    if params.session_cache_claim is not None and not _DNS_SUBDOMAIN.match(
        params.session_cache_claim
    ):
        raise JobParamsError(f"PVC name {params.session_cache_claim!r} is not a DNS subdomain")
    profile = params.seccomp_localhost_profile
    if profile is not None and (not _PROFILE_PATH.match(profile) or ".." in profile.split("/")):
        raise JobParamsError(f"seccomp profile {profile!r} is not a relative path")
    apparmor = params.apparmor_profile
    if (
        apparmor is not None
        and apparmor not in APPARMOR_TYPES
        and not _APPARMOR_NAME.match(apparmor)
    ):
        raise JobParamsError(f"AppArmor profile {apparmor!r} is not a profile name")
    if params.sandbox_enforcer not in SANDBOX_ENFORCERS:
        raise JobParamsError(f"sandbox_enforcer {params.sandbox_enforcer!r} is not codex or pod")
    if not params.runner_job_id or not _LABEL_VALUE.match(params.runner_job_id):
        raise JobParamsError(f"runner job id {params.runner_job_id!r} is not a label value")
    if not _COMMIT.match(params.boot_commit):
        raise JobParamsError("boot_commit must be 40 lowercase hex digits")
    seen: set[str] = set()
    for name in params.transient_env_names:
        if not _ENV_NAME.match(name) or name.startswith(_RESERVED_PREFIXES):
            raise JobParamsError(f"transient env name {name!r} is invalid or reserved")
        if name in seen or name in PROXY_NAMES:
            raise JobParamsError(f"transient env name {name!r} is duplicated")
        seen.add(name)
    for label, url in (
        ("manager_url", params.manager_url),
        ("source_repo_url", params.source_repo_url),
        ("git_mirror_url", params.git_mirror_url),
        ("git_mirror_write_url", params.git_mirror_write_url),
        ("http_proxy", params.http_proxy),
        ("https_proxy", params.https_proxy),
    ):
        if url is not None and (urlsplit(url).username or urlsplit(url).password):
            raise JobParamsError(f"{label} carries credentials; pass them as transient env")
    for label, seconds in (
        ("active_deadline_seconds", params.active_deadline_seconds),
        ("termination_grace_period_seconds", params.termination_grace_period_seconds),
        ("ttl_seconds_after_finished", params.ttl_seconds_after_finished),
    ):
        if seconds <= 0:
            raise JobParamsError(f"{label} must be positive")


_QUANTITY = re.compile(r"^([0-9]+)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_QUANTITY_FACTORS: Final[dict[str | None, int]] = {
    None: 1,
    **{suffix: 1024 ** (i + 1) for i, suffix in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi"))},
    **{suffix: 1000 ** (i + 1) for i, suffix in enumerate(("k", "M", "G", "T", "P"))},
}


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes byte quantity (`512Mi`, `8Gi`, `1G`, `4096`) in bytes.

    Raises:
        JobParamsError: not an integer with an optional binary or decimal suffix (the
            forms the template's `sizeLimit`s use; no fractions or exponents).
    """
    match = _QUANTITY.match(quantity)
    if match is None:
        raise JobParamsError(f"size {quantity!r} is not a whole byte quantity")
    return int(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]


def _quote(value: object) -> str:
    return json.dumps(str(value))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_PATH.parent),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["q"] = _quote
    return env


def render_job_yaml(params: JobParams) -> str:
    """Render the Job manifest as YAML text.

    Args:
        params: the parameters (validated here).

    Returns:
        The manifest, one `batch/v1` Job.

    Raises:
        JobParamsError: see `validate_params`.
    """
    validate_params(params)
    context: dict[str, Any] = asdict(params)
    context["token_key"] = TOKEN_KEY
    # §1: the volumes' sizeLimits, for the runner's own disk-full check (issue 21).
    context["runtime_home_limit_bytes"] = quantity_bytes(params.runtime_home_size_limit)
    context["workspace_limit_bytes"] = quantity_bytes(params.workspace_size_limit)
    context["proxy_env"] = [
        (name, value)
        for name, value in zip(
            PROXY_NAMES, (params.http_proxy, params.https_proxy, params.no_proxy), strict=True
        )
        if value is not None
    ]
    return _environment().get_template(TEMPLATE_PATH.name).render(context)


def render_job(params: JobParams) -> dict[str, Any]:
    """Render the Job manifest and parse it.

    Args:
        params: the parameters.

    Returns:
        The manifest as a dict (what `kubectl apply` or the API client sends).

    Raises:
        JobParamsError: see `validate_params`.
    """
    manifest = yaml.safe_load(render_job_yaml(params))
    if not isinstance(manifest, dict):
        raise JobParamsError("the template did not render a mapping")
    return manifest


def example_params() -> JobParams:
    """A complete example, as the manager would fill it in."""
    return JobParams(
        name="agentrun-rj-7f3c-1",
        namespace="agentrun-v01",
        image="registry.local/agentrun/runner-env:304cf574000032e7",
        runner_job_id="rj-7f3c",
        manager_url="http://agentrun-mgr.agentrun-v01.svc:8080",
        boot_commit="0123456789abcdef0123456789abcdef01234567",
        source_repo_url="https://github.com/agentrun/agentrun-runner",
        git_mirror_url="http://git-mirror-http.devops-infra.svc.cluster.local",
        git_mirror_write_url="http://git-mirror-write.devops-infra.svc.cluster.local",
        job_secret_name="agentrun-rj-7f3c-1",
        provider_secret_name="agentrun-provider-codex",
        transient_env_names=("HWLAB_API_TOKEN",),
        session_cache_claim="agentrun-session-ses-1",
        no_proxy="localhost,127.0.0.1,.svc,.cluster.local",
    )


if __name__ == "__main__":
    print(render_job_yaml(example_params()), end="")
