"""The Job's container as podman runs it in scripts/test-image: nothing of the pod's
security context or mounts is lost in the translation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from deploy.render import example_params, render_job
from tests.image.job_container import UnsupportedManifest, podman_run_argv

HOST_DIRS = {
    name: Path(f"/host/{name}")
    for name in ("runner-token", "provider", "workspace", "runtime-home", "session-cache")
}


def test_the_container_runs_as_the_job_runs_it_restricted_with_every_mount_and_env() -> None:
    manifest = render_job(dataclasses.replace(example_params(), transient_env_names=()))
    pod = manifest["spec"]["template"]["spec"]
    [container] = pod["containers"]

    spec = podman_run_argv(manifest, image="img:test", name="c", host_dirs=HOST_DIRS)

    argv = " ".join(spec.argv)
    for flag in (
        "--user 10001:10001",
        "--group-add 10001",
        "--read-only --read-only-tmpfs=false",
        "--security-opt no-new-privileges",
        "--cap-drop all",
        "--network host",
    ):
        assert flag in argv
    assert spec.argv[-1] == "img:test"
    assert "privileged" not in argv
    assert "--cap-add" not in argv
    pairs = list(zip(spec.argv, spec.argv[1:], strict=False))
    targets = {value.split(":")[1] for flag, value in pairs if flag == "--volume"}
    targets |= {value.split(":")[0] for flag, value in pairs if flag == "--tmpfs"}
    assert targets == {mount["mountPath"] for mount in container["volumeMounts"]}
    assert "--volume /host/provider:/var/run/agentrun/provider:ro" in argv
    assert "--tmpfs /tmp:" in argv
    assert "--tmpfs /var/lib/agentrun/boot:" in argv
    assert set(spec.env) == {entry["name"] for entry in container["env"]}
    assert spec.env["AGENTRUN_POD_NAME"]
    assert spec.grace_seconds == pod["terminationGracePeriodSeconds"]


def test_secret_backed_env_is_refused_rather_than_run_with_a_value_from_elsewhere() -> None:
    manifest = render_job(example_params())  # HWLAB_API_TOKEN comes from the job Secret

    with pytest.raises(UnsupportedManifest):
        podman_run_argv(manifest, image="img:test", name="c", host_dirs=HOST_DIRS)
