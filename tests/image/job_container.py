"""The runner Job's container as `podman run` arguments, read from the rendered manifest.

`podman_run_argv` translates the `runner` container of a Job rendered by
`deploy.render.render_job` into one `podman run` command line, so the image test runs the
container the way the Job's pod runs it: the same env (field refs filled in, no Secret
values: secret-backed env is refused), the same mount paths, the pod's and container's
security context, and the grace period for `podman stop`. What a Kubernetes node would
provide is supplied by the caller: a host directory for each Secret or claim volume, and
optionally for an `emptyDir` to inspect afterwards; any other `emptyDir` becomes a tmpfs
(exec allowed, writable by the runner's uid, like an `emptyDir` with the pod's fsGroup).

Not translated unless asked (`NodeSim`): resource limits (the test machine's cgroups are
not the node's) and `emptyDir` sizes; never `imagePullPolicy`. The seccomp profile
`RuntimeDefault` is the engine's default profile, which for podman (and CRI-O) is the
containers-common profile, unless `NodeSim.runtime_default_seccomp` names the file a
containerd node would use (moby's default); a `Localhost` profile is read from
`NodeSim.seccomp_dir`, as the kubelet reads it from its seccomp directory. See
docs/boot.md for what containerd's default differs in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELD_REFS_DEFAULT = {
    "metadata.name": "agentrun-image-test-pod",
    "metadata.namespace": "agentrun-image-test",
    "spec.nodeName": "podman",
}
"""Values for the Downward API field refs the Job uses (pod, namespace, node)."""


@dataclass(frozen=True)
class NodeSim:
    """What a node would do that podman does not by default (issue 21 scenarios).

    Attributes:
        seccomp_dir: the kubelet's seccomp directory (`Localhost` profiles are relative
            to it), or None (a `Localhost` profile is then refused).
        runtime_default_seccomp: the profile file `RuntimeDefault` means (e.g. moby's
            `default.json`, as containerd), or None for podman's own default.
        memory_limit: translate `resources.limits.memory` into `--memory`.
        size_limits: give each tmpfs `emptyDir` its `sizeLimit` as `size=`.
    """

    seccomp_dir: Path | None = None
    runtime_default_seccomp: Path | None = None
    memory_limit: bool = False
    size_limits: bool = False


PLAIN_PODMAN = NodeSim()
"""Nothing added: podman's own defaults."""

_QUANTITY_SUFFIX = {"Ki": "k", "Mi": "m", "Gi": "g"}


def podman_size(quantity: str) -> str:
    """A Kubernetes binary quantity (`4Mi`) as podman writes it (`4m`); bytes unchanged."""
    for suffix, short in _QUANTITY_SUFFIX.items():
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + short
    if quantity.isdigit():
        return quantity
    raise ValueError(f"size {quantity!r} is not a binary quantity")


class UnsupportedManifest(ValueError):
    """The manifest uses something this translation does not know how to run."""


@dataclass(frozen=True)
class JobContainer:
    """What `podman_run_argv` read from the Job.

    Attributes:
        argv: the `podman run ...` command line (image last; the image's entrypoint runs).
        env: the container's env as rendered (field refs filled in).
        grace_seconds: `terminationGracePeriodSeconds`, for `podman stop --time`.
    """

    argv: list[str]
    env: dict[str, str]
    grace_seconds: int


def _env(container: Mapping[str, Any], field_refs: Mapping[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
            continue
        source = entry.get("valueFrom", {})
        if "fieldRef" in source:
            env[entry["name"]] = field_refs[source["fieldRef"]["fieldPath"]]
        else:
            raise UnsupportedManifest(f"env {entry['name']} comes from {sorted(source)}")
    return env


def _mounts(
    container: Mapping[str, Any],
    volumes: Mapping[str, Any],
    host_dirs: Mapping[str, Path],
    node: NodeSim,
) -> list[str]:
    args: list[str] = []
    for mount in container.get("volumeMounts", []):
        name, path = mount["name"], mount["mountPath"]
        if name in host_dirs:
            mode = "ro" if mount.get("readOnly") else "rw"
            args += ["--volume", f"{host_dirs[name]}:{path}:{mode}"]
        elif "emptyDir" in volumes[name]:
            # U: owned by the container's user, writable as the pod's fsGroup makes an
            # emptyDir (podman keeps the image directory's mode on a tmpfs over it).
            options = "rw,exec,nosuid,nodev,mode=0777,U"
            size = volumes[name]["emptyDir"].get("sizeLimit")
            if node.size_limits and size:
                options += f",size={podman_size(size)}"
            args += ["--tmpfs", f"{path}:{options}"]
        else:
            raise UnsupportedManifest(f"volume {name} needs a host directory")
    return args


def _security(pod: Mapping[str, Any], container: Mapping[str, Any], node: NodeSim) -> list[str]:
    context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    args = ["--user", f"{context['runAsUser']}:{context['runAsGroup']}"]
    if "fsGroup" in context:
        args += ["--group-add", str(context["fsGroup"])]
    if context.get("readOnlyRootFilesystem"):
        # Only the Job's own volumes are writable: no tmpfs podman would add by itself.
        args += ["--read-only", "--read-only-tmpfs=false"]
    if context.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if context.get("privileged"):
        raise UnsupportedManifest("a privileged runner container")
    drop = context.get("capabilities", {}).get("drop", [])
    args += [arg for cap in drop for arg in ("--cap-drop", cap.lower())]
    for cap in context.get("capabilities", {}).get("add", []):
        args += ["--cap-add", cap.lower()]
    seccomp = context.get("seccompProfile", {"type": "RuntimeDefault"})
    if seccomp["type"] == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp["type"] == "Localhost" and node.seccomp_dir is not None:
        profile = node.seccomp_dir / seccomp["localhostProfile"]
        if not profile.is_file():
            raise UnsupportedManifest(f"no seccomp profile {profile} on this node")
        args += ["--security-opt", f"seccomp={profile}"]
    elif seccomp["type"] == "RuntimeDefault" and node.runtime_default_seccomp is not None:
        args += ["--security-opt", f"seccomp={node.runtime_default_seccomp}"]
    elif seccomp["type"] != "RuntimeDefault":
        raise UnsupportedManifest(f"seccomp profile {seccomp}")
    apparmor = context.get("appArmorProfile")
    if apparmor is not None:
        # Not testable here (no AppArmor on the test machine): refused, never ignored.
        raise UnsupportedManifest(f"AppArmor profile {apparmor}")
    return args


def podman_run_argv(
    manifest: Mapping[str, Any],
    *,
    image: str,
    name: str,
    host_dirs: Mapping[str, Path],
    field_refs: Mapping[str, str] = FIELD_REFS_DEFAULT,
    node: NodeSim = PLAIN_PODMAN,
) -> JobContainer:
    """The `podman run` command that runs the Job's `runner` container.

    Args:
        manifest: the Job as `deploy.render.render_job` returns it.
        image: the image to run instead of the manifest's reference (a local tag).
        name: the container name.
        host_dirs: volume name → host directory to bind at its mount path (required for
            Secret and claim volumes; optional for an `emptyDir`).
        field_refs: values for the Downward API `fieldRef`s.
        node: what a node would add (seccomp files, memory limit, emptyDir sizes).

    Returns:
        The command line (network: the host's, so loopback services are reachable),
        the env it sets and the grace period.

    Raises:
        UnsupportedManifest: secret-backed env, a volume without a host directory, a
            privileged container, a seccomp profile the node does not have, or an
            AppArmor profile.
    """
    pod = manifest["spec"]["template"]["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == "runner"]
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    env = _env(container, field_refs)
    argv = ["podman", "run", "--name", name, "--network", "host", "--pull", "never"]
    argv += _security(pod, container, node)
    argv += _mounts(container, volumes, host_dirs, node)
    memory = container.get("resources", {}).get("limits", {}).get("memory")
    if node.memory_limit and memory:
        # No swap either: the limit is the pod's memory, as on a node without swap.
        argv += ["--memory", podman_size(memory), "--memory-swap", podman_size(memory)]
    for key in env:
        argv += ["--env", key]  # the value comes from podman's own environment
    if container.get("command") or container.get("args"):
        raise UnsupportedManifest("the Job overrides the image's entrypoint")
    argv.append(image)
    return JobContainer(argv, env, int(pod["terminationGracePeriodSeconds"]))
