"""The claim's cpuCount/memoryBytes are the container's cgroup limits (§2 v1.2)."""

from __future__ import annotations

from pathlib import Path

from runner.safety.cgroup import (
    CgroupDirs,
    Limits,
    claim_resources,
    container_resources,
    find_cgroup,
    read_limits,
)

GIB = 1024**3


def tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def v2(tmp_path: Path, files: dict[str, str], own: str = "/") -> CgroupDirs:
    root = tree(tmp_path / "cg", {"cgroup.controllers": "cpu memory\n", **files})
    self_cgroup = tree(tmp_path, {"self-cgroup": f"0::{own}\n"}) / "self-cgroup"
    dirs = find_cgroup(root, self_cgroup)
    assert dirs is not None
    assert dirs.version == 2
    return dirs


def v1(tmp_path: Path, files: dict[str, str]) -> CgroupDirs:
    root = tree(tmp_path / "cg", files)
    self_cgroup = tree(
        tmp_path,
        {"self-cgroup": "12:memory:/pod/c1\n11:cpu,cpuacct:/pod/c1\n0::/\n"},
    )
    dirs = find_cgroup(root, self_cgroup / "self-cgroup")
    assert dirs is not None
    assert dirs.version == 1
    return dirs


def test_a_v2_container_with_a_700_mib_limit_and_one_and_a_half_cpus_claims_both(
    tmp_path: Path,
) -> None:
    dirs = v2(tmp_path, {"cpu.max": "150000 100000\n", "memory.max": f"{700 * 1024**2}\n"})
    limits = read_limits(dirs)
    assert limits == Limits(cpus=1.5, memory_bytes=700 * 1024**2)
    assert claim_resources(limits, machine_cpus=16, machine_memory_bytes=24 * GIB) == (
        2,
        700 * 1024**2,
    )


def test_no_limit_claims_the_machines_resources(tmp_path: Path) -> None:
    limits = read_limits(v2(tmp_path, {"cpu.max": "max 100000\n", "memory.max": "max\n"}))
    assert limits == Limits()
    assert claim_resources(limits, 16, 24 * GIB) == (16, 24 * GIB)


def test_the_tightest_ancestor_limit_wins_and_never_exceeds_the_machine(tmp_path: Path) -> None:
    files = {
        "memory.max": f"{GIB}\n",
        "kubepods/pod1/memory.max": "max\n",
        "kubepods/pod1/cpu.max": "400000 100000\n",
    }
    limits = read_limits(v2(tmp_path, files, own="/kubepods/pod1"))
    assert limits == Limits(cpus=4.0, memory_bytes=GIB)
    assert claim_resources(limits, machine_cpus=2, machine_memory_bytes=GIB // 2) == (2, GIB // 2)
    assert claim_resources(Limits(cpus=0.1), 8, GIB) == (1, GIB)


def test_v1_limits_are_the_cfs_quota_and_memory_limit(tmp_path: Path) -> None:
    dirs = v1(
        tmp_path,
        {
            "cpu,cpuacct/pod/c1/cpu.cfs_quota_us": "250000\n",
            "cpu,cpuacct/pod/c1/cpu.cfs_period_us": "100000\n",
            "memory/pod/c1/memory.limit_in_bytes": f"{2 * GIB}\n",
            "memory/memory.limit_in_bytes": "9223372036854771712\n",
        },
    )
    assert read_limits(dirs) == Limits(cpus=2.5, memory_bytes=2 * GIB)


def test_v1_without_limits_is_unlimited(tmp_path: Path) -> None:
    dirs = v1(
        tmp_path,
        {
            "cpu,cpuacct/pod/c1/cpu.cfs_quota_us": "-1\n",
            "cpu,cpuacct/pod/c1/cpu.cfs_period_us": "100000\n",
            "memory/pod/c1/memory.limit_in_bytes": "9223372036854771712\n",
        },
    )
    assert read_limits(dirs) == Limits()


def test_no_cgroup_filesystem_means_no_limits_and_no_counter(tmp_path: Path) -> None:
    assert find_cgroup(tmp_path / "none", tmp_path / "no-self-cgroup") is None
    assert read_limits(CgroupDirs(cpu=(), memory=(), version=2)) == Limits()


def test_this_process_claims_at_least_one_cpu_and_some_memory() -> None:
    cpus, memory = container_resources()
    assert cpus >= 1
    assert memory > 0
