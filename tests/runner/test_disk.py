"""Volumes are measured cheaply and a volume within 5 % of its limit is `disk-full`."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import anyio
import pytest

from runner.safety.disk import (
    DiskFull,
    Volume,
    check_volumes,
    disk_full_of,
    enospc_in,
    used_bytes,
    volumes_of,
    walk_bytes,
    watch_disk,
)

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))


def test_the_walk_adds_the_allocated_blocks_of_every_file_once(tmp_path: Path) -> None:
    write(tmp_path / "a.bin", MIB)
    write(tmp_path / "deep" / "er" / "b.bin", MIB)
    os.link(tmp_path / "a.bin", tmp_path / "hardlink.bin")
    (tmp_path / "link").symlink_to("/usr")
    total = walk_bytes(tmp_path)
    assert 2 * MIB <= total < 3 * MIB
    assert walk_bytes(tmp_path, max_entries=1) < total
    assert walk_bytes(tmp_path / "missing") == 0


def test_a_directory_that_is_not_a_mount_is_walked(tmp_path: Path) -> None:
    write(tmp_path / "a.bin", MIB)
    used, method = used_bytes(tmp_path, 10 * MIB)
    assert method == "walk"
    assert used >= MIB


def test_a_mount_sized_by_its_limit_is_read_with_statvfs_and_a_bigger_one_is_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = os.statvfs("/")
    used, method = used_bytes(Path("/"), stats.f_blocks * stats.f_frsize)
    assert method == "statvfs"
    assert used > 0
    # A disk-backed emptyDir: a bind mount of a node directory, the node's whole disk.
    write(tmp_path / "a.bin", MIB)
    monkeypatch.setattr(os.path, "ismount", lambda path: True)
    used, method = used_bytes(tmp_path, 10 * MIB)
    assert method == "walk"
    assert MIB <= used < 2 * MIB


def test_a_volume_within_five_percent_of_its_limit_is_full_and_one_below_is_not(
    tmp_path: Path,
) -> None:
    write(tmp_path / "work" / "big.bin", MIB)
    used = walk_bytes(tmp_path / "work")
    roomy = Volume("AGENTRUN_WORKSPACE", tmp_path / "work", int(used / 0.9))
    tight = Volume("AGENTRUN_WORKSPACE", tmp_path / "work", int(used / 0.96))
    assert check_volumes([roomy]) is None
    full = check_volumes([roomy, tight])
    assert full == DiskFull(
        "AGENTRUN_WORKSPACE", str(tmp_path / "work"), used, tight.limit_bytes, "walk"
    )
    assert full.detail() | {} == {
        "path": str(tmp_path / "work"),
        "usedBytes": used,
        "limitBytes": tight.limit_bytes,
        "volume": "AGENTRUN_WORKSPACE",
        "measuredBy": "walk",
    }
    assert "AGENTRUN_WORKSPACE" in full.message()


async def test_the_watch_calls_back_once_when_a_volume_fills(tmp_path: Path) -> None:
    write(tmp_path / "big.bin", MIB)
    seen: list[DiskFull] = []
    volume = Volume("AGENTRUN_RUNTIME_HOME", tmp_path, MIB)
    with anyio.fail_after(30):
        await watch_disk((volume,), seen.append, interval_seconds=0.01)
    assert [full.volume for full in seen] == ["AGENTRUN_RUNTIME_HOME"]


async def test_nothing_to_watch_returns_at_once() -> None:
    with anyio.fail_after(30):
        await watch_disk((), lambda full: None)
    assert volumes_of([("AGENTRUN_WORKSPACE", Path("/w"), None)]) == ()


def test_an_enospc_anywhere_in_an_error_is_found() -> None:
    enospc = OSError(errno.ENOSPC, "No space left on device", "/var/lib/agentrun/home/x")
    try:
        try:
            raise enospc
        except OSError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        group = ExceptionGroup("tasks", [ValueError("other"), wrapped])
    full = enospc_in(group)
    assert full is not None
    assert full.path == "/var/lib/agentrun/home/x"
    assert full.limit_bytes is None
    assert "ENOSPC" in full.message()
    assert enospc_in(OSError(errno.EACCES, "denied")) is None


def test_gits_enospc_text_in_an_errors_message_is_disk_full() -> None:
    message = "fatal: write error: No space left on device"
    full = disk_full_of(RuntimeError(message), message)
    assert full is not None
    assert full.method == "enospc"
    assert disk_full_of(RuntimeError("fatal: repository not found"), "repository not found") is None
