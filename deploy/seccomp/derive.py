"""Derive the Localhost seccomp profile for Codex's sandbox from the upstream default.

The upstream file is Docker's default profile (`upstream/moby-default.json`, origin in
`upstream/ORIGIN.md`), in Docker's format: rules carry `includes`/`excludes` conditions
(capabilities, architectures, kernel version) that Docker and CRI-O evaluate when they
create a container, but that containerd's `Localhost` loader (plain OCI
`LinuxSeccomp`) ignores. So the derivation first *resolves* the conditions for the Job's
container (no capabilities: it drops `ALL`; one architecture family; a kernel ≥ 5.4) into a
plain OCI profile, then adds one rule: what bubblewrap needs (`BWRAP_RULE`). The result
is valid for every runtime (containerd, CRI-O, Docker, podman) and is written as a plain
file (`agentrun-bwrap-<goarch>.json`) and as a Security Profiles Operator `SeccompProfile`
(`agentrun-bwrap.spo.yaml`).

Run ``python -m deploy.seccomp.derive --write`` to regenerate, ``--check`` to compare.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

HERE: Final = Path(__file__).parent
UPSTREAM_PATH: Final = HERE / "upstream" / "moby-default.json"
PROFILE_NAME: Final = "agentrun-bwrap"
GOARCHES: Final = ("amd64", "arm64")
"""The node architectures a profile is derived for (Go's names, as Docker's `includes`)."""
ASSUMED_KERNEL: Final = (5, 4)
"""`includes.minKernel` is taken as satisfied up to this version (the oldest node kernel
the project supports); a rule asking for a newer kernel is left out."""
SPO_API_VERSION: Final = "security-profiles-operator.x-k8s.io/v1beta1"

BWRAP_SYSCALLS: Final = ("clone", "unshare", "mount", "umount2", "pivot_root")
"""What bubblewrap (Codex 0.171's `codex-resources/bwrap`) calls beyond the default.

- `clone` with `CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWNET|…`: the upstream rule
  allows `clone` only when `flags & 0x7E020000 == 0`, and that mask is exactly the
  `CLONE_NEW*` set, so allowing those flags is allowing `clone` (no argument filter can
  be narrower). `clone3` keeps upstream's `ENOSYS` (its flags are in memory, which
  seccomp cannot read; glibc and bubblewrap fall back to `clone`).
- `unshare` (bubblewrap's `--unshare-*` after the first namespace), `mount`, `umount2`,
  `pivot_root` (its new root). The kernel allows the last three an unprivileged process
  only inside a user namespace it owns, so they reach nothing of the node.
- Not added: `setns` (bubblewrap needs it only for `--userns`/`--pidns`, which Codex does
  not pass; checked in `scripts/test-image`), the new mount API (`fsopen`, `open_tree`,
  `move_mount`, …), `umount` (no such syscall on x86_64 or arm64), and every other
  `CAP_SYS_ADMIN` call of upstream's rule (`bpf`, `perf_event_open`, `setns`, `syslog`, …).
"""
BWRAP_RULE: Final[dict[str, Any]] = {
    "names": list(BWRAP_SYSCALLS),
    "action": "SCMP_ACT_ALLOW",
    "comment": (
        "agentrun: Codex's bubblewrap sandbox creates user, mount, pid and net namespaces "
        "and pivots into its new root (docs/boot.md); mount, umount2 and pivot_root work "
        "for an unprivileged process only inside its own user namespace"
    ),
}


def _kernel(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _applies(rule: Mapping[str, Any], goarch: str, caps: frozenset[str]) -> bool:
    """Docker's condition check (moby/profiles `seccomp_linux.go`) for a fixed context."""
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if includes.get("arches") and goarch not in includes["arches"]:
        return False
    if includes.get("caps") and not set(includes["caps"]) <= caps:
        return False
    if includes.get("minKernel") and _kernel(includes["minKernel"]) > ASSUMED_KERNEL:
        return False
    if excludes.get("arches") and goarch in excludes["arches"]:
        return False
    return not (excludes.get("caps") and set(excludes["caps"]) & caps)


def resolve(
    upstream: Mapping[str, Any], goarch: str, caps: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Resolve a Docker-format profile into a plain OCI one for one container context.

    Args:
        upstream: the Docker-format profile (`defaultAction`, `archMap`, `syscalls` with
            `includes`/`excludes`).
        goarch: the node's architecture, Go's name (`amd64`, `arm64`).
        caps: the container's capabilities (the Job drops them all).

    Returns:
        `{"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}`, the rules in
        upstream order, without conditions.

    Raises:
        KeyError: `goarch` has no entry in upstream's `archMap`.
    """
    native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}[goarch]
    [arch] = [entry for entry in upstream["archMap"] if entry["architecture"] == native]
    syscalls = []
    for rule in upstream["syscalls"]:
        if not _applies(rule, goarch, caps):
            continue
        syscalls.append(
            {key: value for key, value in rule.items() if key not in ("includes", "excludes")}
        )
    profile: dict[str, Any] = {"defaultAction": upstream["defaultAction"]}
    if "defaultErrnoRet" in upstream:
        profile["defaultErrnoRet"] = upstream["defaultErrnoRet"]
    profile["architectures"] = [native, *(arch.get("subArchitectures") or [])]
    profile["syscalls"] = syscalls
    return profile


def derive(upstream: Mapping[str, Any], goarch: str) -> dict[str, Any]:
    """The shipped profile: upstream resolved for the Job's container, plus `BWRAP_RULE`.

    Args:
        upstream: the Docker-format upstream profile.
        goarch: `amd64` or `arm64`.

    Returns:
        The OCI profile (what `agentrun-bwrap-<goarch>.json` holds).
    """
    profile = resolve(upstream, goarch)
    profile["syscalls"].append(dict(BWRAP_RULE))
    return profile


def spo_resource(profiles: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The derived profiles as Security Profiles Operator `SeccompProfile` objects.

    SPO (≥ v0.9: cluster-scoped) writes each to every node as
    `<kubelet seccomp dir>/operator/<name>.json`; a pod names it as
    `localhostProfile: operator/<name>.json`. SPO's spec has no `comment` and no
    `defaultErrnoRet` (the runtimes' default errno for `SCMP_ACT_ERRNO` is EPERM, the
    same as upstream's `defaultErrnoRet: 1`).

    Args:
        profiles: goarch → derived profile.

    Returns:
        One object per architecture, named `agentrun-bwrap-<goarch>`.
    """
    resources = []
    for goarch, profile in profiles.items():
        syscalls = [
            {key: value for key, value in rule.items() if key != "comment"}
            for rule in profile["syscalls"]
        ]
        resources.append(
            {
                "apiVersion": SPO_API_VERSION,
                "kind": "SeccompProfile",
                "metadata": {
                    "name": f"{PROFILE_NAME}-{goarch}",
                    "annotations": {
                        "description": (
                            "Docker's default seccomp profile (moby/profiles) plus what "
                            "Codex's bubblewrap sandbox needs: see agentrun-runner "
                            "docs/boot.md"
                        )
                    },
                },
                "spec": {
                    "defaultAction": profile["defaultAction"],
                    "architectures": profile["architectures"],
                    "syscalls": syscalls,
                },
            }
        )
    return resources


def rendered() -> dict[Path, str]:
    """Every derived file's path and text, from the committed upstream file."""
    upstream = json.loads(UPSTREAM_PATH.read_text())
    profiles = {goarch: derive(upstream, goarch) for goarch in GOARCHES}
    files = {
        HERE / f"{PROFILE_NAME}-{goarch}.json": json.dumps(profile, indent=2) + "\n"
        for goarch, profile in profiles.items()
    }
    header = (
        "# Generated by `python -m deploy.seccomp.derive --write` from upstream/"
        "moby-default.json;\n# do not edit. Install: docs/boot.md, \"Codex's sandbox in "
        'the pod".\n'
    )
    files[HERE / f"{PROFILE_NAME}.spo.yaml"] = header + yaml.safe_dump_all(
        spo_resource(profiles), sort_keys=False, width=100
    )
    return files


def main(argv: list[str] | None = None) -> int:
    """`--write` regenerates the derived files; `--check` exits 1 when one differs."""
    parser = argparse.ArgumentParser(prog="python -m deploy.seccomp.derive")
    parser.add_argument("--write", action="store_true", help="regenerate (default: check)")
    parser.add_argument("--check", action="store_true", help="compare only (the default)")
    write = parser.parse_args(argv).write
    stale = []
    for path, text in rendered().items():
        if write:
            path.write_text(text)
        elif not path.is_file() or path.read_text() != text:
            stale.append(path.name)
    if stale:
        print(f"stale: {', '.join(stale)} (run --write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
