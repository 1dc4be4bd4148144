"""The shipped seccomp profile is upstream's default plus exactly bubblewrap's syscalls."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from deploy.seccomp import derive

UPSTREAM: dict[str, Any] = json.loads(derive.UPSTREAM_PATH.read_text())


def allowed_unconditionally(profile: dict[str, Any]) -> set[str]:
    return {
        name
        for rule in profile["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
        for name in rule["names"]
    }


def test_the_committed_profiles_are_what_the_derivation_makes_of_the_committed_upstream() -> None:
    for path, text in derive.rendered().items():
        assert path.read_text() == text, (
            f"{path.name} is stale: python -m deploy.seccomp.derive --write"
        )


@pytest.mark.parametrize("goarch", derive.GOARCHES)
def test_the_profile_adds_only_the_bubblewrap_rule_to_the_resolved_upstream(goarch: str) -> None:
    resolved = derive.resolve(UPSTREAM, goarch)
    shipped = derive.derive(UPSTREAM, goarch)
    assert shipped["syscalls"][:-1] == resolved["syscalls"]
    assert shipped["syscalls"][-1]["names"] == list(derive.BWRAP_SYSCALLS)
    added = allowed_unconditionally(shipped) - allowed_unconditionally(resolved)
    assert added == {"clone", "unshare", "mount", "umount2", "pivot_root"}


@pytest.mark.parametrize("goarch", derive.GOARCHES)
def test_the_resolved_profile_keeps_no_condition_and_grants_no_capability_rule(goarch: str) -> None:
    profile = derive.derive(UPSTREAM, goarch)
    assert all("includes" not in r and "excludes" not in r for r in profile["syscalls"])
    allowed = allowed_unconditionally(profile)
    for refused in (
        "bpf",
        "setns",
        "perf_event_open",
        "ptrace",
        "kexec_load",
        "init_module",
        "open_by_handle_at",
        "fsopen",
        "open_tree",
        "syslog",
        "chroot",
        "reboot",
    ):
        # ptrace needs CAP_SYS_PTRACE before 4.8 only: upstream allows it from 4.8 on.
        assert (refused in allowed) == (refused == "ptrace"), refused
    [clone3] = [r for r in profile["syscalls"] if r["names"] == ["clone3"]]
    assert (clone3["action"], clone3["errnoRet"]) == ("SCMP_ACT_ERRNO", 38)


def test_arch_specific_rules_follow_the_node_architecture() -> None:
    amd64 = allowed_unconditionally(derive.derive(UPSTREAM, "amd64"))
    arm64 = allowed_unconditionally(derive.derive(UPSTREAM, "arm64"))
    assert "arch_prctl" in amd64
    assert "arch_prctl" not in arm64
    assert "set_tls" in arm64
    assert "set_tls" not in amd64
    assert derive.derive(UPSTREAM, "amd64")["architectures"][0] == "SCMP_ARCH_X86_64"


def test_the_spo_objects_carry_the_same_rules_without_comments() -> None:
    path = derive.HERE / f"{derive.PROFILE_NAME}.spo.yaml"
    objects = list(yaml.safe_load_all(path.read_text()))
    assert [o["metadata"]["name"] for o in objects] == [
        f"{derive.PROFILE_NAME}-{goarch}" for goarch in derive.GOARCHES
    ]
    for goarch, resource in zip(derive.GOARCHES, objects, strict=True):
        assert resource["kind"] == "SeccompProfile"
        assert "namespace" not in resource["metadata"]  # cluster-scoped since SPO v0.9
        profile = derive.derive(UPSTREAM, goarch)
        expected = [{k: v for k, v in r.items() if k != "comment"} for r in profile["syscalls"]]
        assert resource["spec"]["syscalls"] == expected
        assert resource["spec"]["architectures"] == profile["architectures"]


def test_check_mode_reports_a_stale_file(monkeypatch: pytest.MonkeyPatch) -> None:
    real = derive.rendered()
    first = next(iter(real))
    monkeypatch.setattr(derive, "rendered", lambda: {first: real[first] + " "})
    assert derive.main(["--check"]) == 1
