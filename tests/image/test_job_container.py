"""The Job's container as podman runs it in scripts/test-image: nothing of the pod's
security context or mounts is lost in the translation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from deploy.render import example_params, render_job
from tests.image.job_container import NodeSim, UnsupportedManifest, podman_run_argv

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


def test_a_node_sim_adds_the_seccomp_files_the_memory_limit_and_the_tmpfs_sizes(
    tmp_path: Path,
) -> None:
    (tmp_path / "agentrun-bwrap-amd64.json").write_text("{}")
    params = dataclasses.replace(
        example_params(),
        transient_env_names=(),
        seccomp_localhost_profile="agentrun-bwrap-amd64.json",
        memory_limit="700Mi",
        runtime_home_size_limit="4Mi",
    )
    node = NodeSim(seccomp_dir=tmp_path, memory_limit=True, size_limits=True)
    dirs = {k: v for k, v in HOST_DIRS.items() if k != "runtime-home"}
    spec = podman_run_argv(render_job(params), image="i", name="c", host_dirs=dirs, node=node)
    argv = " ".join(spec.argv)
    assert f"--security-opt seccomp={tmp_path / 'agentrun-bwrap-amd64.json'}" in argv
    assert "--memory 700m --memory-swap 700m" in argv
    assert "--tmpfs /var/lib/agentrun/home:rw,exec,nosuid,nodev,mode=0777,U,size=4m" in argv


def test_runtime_default_can_mean_containerds_profile_and_apparmor_is_refused(
    tmp_path: Path,
) -> None:
    moby = tmp_path / "moby-default.json"
    params = dataclasses.replace(example_params(), transient_env_names=())
    node = NodeSim(runtime_default_seccomp=moby)
    spec = podman_run_argv(render_job(params), image="i", name="c", host_dirs=HOST_DIRS, node=node)
    assert f"seccomp={moby}" in " ".join(spec.argv)
    with pytest.raises(UnsupportedManifest):
        podman_run_argv(
            render_job(dataclasses.replace(params, apparmor_profile="Unconfined")),
            image="i",
            name="c",
            host_dirs=HOST_DIRS,
        )
    with pytest.raises(UnsupportedManifest):  # Localhost seccomp without a node dir
        podman_run_argv(
            render_job(dataclasses.replace(params, seccomp_localhost_profile="x.json")),
            image="i",
            name="c",
            host_dirs=HOST_DIRS,
        )
