"""Volume limits: end the attempt before the kubelet evicts the pod (§1, §10 `disk-full`).

A disk-backed `emptyDir` past its `sizeLimit` gets the pod killed with no grace period,
so no terminal report would reach the manager. The Job passes the limits
(`AGENTRUN_RUNTIME_HOME_LIMIT_BYTES`, `AGENTRUN_WORKSPACE_LIMIT_BYTES`) and `watch_disk`
measures each volume every few seconds: `os.statvfs` when the path is a filesystem of its
own no larger than the limit (a memory-backed `emptyDir`, a tmpfs), else a walk that
adds up the allocated blocks like the kubelet's `du` (bounded in entries, and spaced out
to ten times its own duration so a big tree costs at most ~10 % of a core). Within
`FULL_FRACTION` (95 %) of a limit it calls back once with `DiskFull`; the turn is then
interrupted and the attempt ends `failed` / `disk-full`. `enospc_in` finds an ENOSPC in
an exception, for the places that can classify one.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio

FULL_FRACTION: Final = 0.95
"""§10: `disk-full` within 5 % of a `…_LIMIT_BYTES`."""
CHECK_INTERVAL_SECONDS: Final = 2.0
MAX_WALK_ENTRIES: Final = 500_000
FS_OF_ITS_OWN_SLACK: Final = 1.1
"""A mounted filesystem at most this many times the limit is the volume's own."""
WALK_COST_FACTOR: Final = 10.0
"""The next check waits at least this many times the last measurement's duration."""


@dataclass(frozen=True)
class Volume:
    """One watched volume.

    Attributes:
        name: the §1 variable it comes from (`AGENTRUN_WORKSPACE`, …).
        path: its mount path.
        limit_bytes: its `sizeLimit`, bytes.
    """

    name: str
    path: Path
    limit_bytes: int


@dataclass(frozen=True)
class DiskFull:
    """A volume came within `FULL_FRACTION` of its limit (or ran out of space).

    Attributes:
        volume: the §1 variable (`AGENTRUN_WORKSPACE`, …), or None for a bare ENOSPC.
        path: the volume's path, or the file whose write failed.
        used_bytes: what was measured (None when unknown).
        limit_bytes: the limit (None for a bare ENOSPC).
        method: `statvfs`, `walk` or `enospc`.
        cause: for a bare ENOSPC, the failed operation's own message.
    """

    volume: str | None
    path: str
    used_bytes: int | None
    limit_bytes: int | None
    method: str
    cause: str = ""

    def message(self) -> str:
        """The `disk-full` failure message."""
        if self.limit_bytes is None or self.used_bytes is None:
            where = f" of {self.path}" if self.path else ""
            cause = f": {self.cause}" if self.cause else ""
            return f"no space left on the device{where} (ENOSPC){cause}"
        return (
            f"{self.volume} ({self.path}) uses {self.used_bytes} of its {self.limit_bytes} "
            f"bytes limit (within {round((1 - FULL_FRACTION) * 100)} %): the runner ended the "
            "attempt before the kubelet would evict the pod"
        )

    def detail(self) -> dict[str, Any]:
        """§10 `detail.path`, `detail.usedBytes`, `detail.limitBytes` (+ how it was seen)."""
        return {
            "path": self.path,
            "usedBytes": self.used_bytes,
            "limitBytes": self.limit_bytes,
            "volume": self.volume,
            "measuredBy": self.method,
        }


def walk_bytes(root: Path, max_entries: int = MAX_WALK_ENTRIES) -> int:
    """Allocated bytes under `root` (`st_blocks` × 512, like `du`), on its device only.

    Symlinks are not followed; each inode counts once. After `max_entries` entries the
    sum so far is returned (a lower bound). Unreadable entries count as zero.
    """
    try:
        device = root.lstat().st_dev
    except OSError:
        return 0
    total = 0
    seen: set[int] = set()
    stack = [str(root)]
    entries = 0
    while stack and entries < max_entries:
        try:
            scan = os.scandir(stack.pop())
        except OSError:
            continue
        with scan:
            for entry in scan:
                entries += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if info.st_dev != device or info.st_ino in seen:
                    continue
                seen.add(info.st_ino)
                total += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return total


def used_bytes(path: Path, limit_bytes: int) -> tuple[int, str]:
    """`(bytes used, method)` of the volume at `path`.

    `statvfs` only for a filesystem of its own sized by the limit (a memory-backed
    `emptyDir` is a tmpfs of `sizeLimit`): a disk-backed `emptyDir` is a bind mount of a
    node directory, whose `statvfs` is the node's whole disk, so it is walked.
    """
    if os.path.ismount(path):
        stats = os.statvfs(path)
        if stats.f_blocks * stats.f_frsize <= limit_bytes * FS_OF_ITS_OWN_SLACK:
            return (stats.f_blocks - stats.f_bfree) * stats.f_frsize, "statvfs"
    return walk_bytes(path), "walk"


def check_volumes(volumes: Iterable[Volume]) -> DiskFull | None:
    """The first volume within `FULL_FRACTION` of its limit, or None."""
    for volume in volumes:
        try:
            used, method = used_bytes(volume.path, volume.limit_bytes)
        except OSError:
            continue
        if used >= volume.limit_bytes * FULL_FRACTION:
            return DiskFull(volume.name, str(volume.path), used, volume.limit_bytes, method)
    return None


async def watch_disk(
    volumes: tuple[Volume, ...],
    on_full: Callable[[DiskFull], None],
    *,
    interval_seconds: float = CHECK_INTERVAL_SECONDS,
) -> None:
    """Check `volumes` until one is full, then call `on_full` once and return.

    Returns at once when there is nothing to watch. Cancel it to stop.
    """
    if not volumes:
        return
    while True:
        started = time.monotonic()
        full = await anyio.to_thread.run_sync(check_volumes, volumes)
        if full is not None:
            on_full(full)
            return
        cost = time.monotonic() - started
        await anyio.sleep(max(interval_seconds, cost * WALK_COST_FACTOR))


def enospc_in(error: BaseException) -> DiskFull | None:
    """A bare `DiskFull` when `error` (or its causes, or an exception group's members)
    is an ENOSPC `OSError`; None otherwise."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return DiskFull(None, str(current.filename or ""), None, None, "enospc", str(current))
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return None


ENOSPC_TEXT: Final = "No space left on device"
"""strerror(ENOSPC), as git and Codex print it."""


def disk_full_of(error: BaseException, message: str = "") -> DiskFull | None:
    """`enospc_in(error)`, or a bare `DiskFull` when `message` (e.g. git's stderr carried
    by a bundle error) says ENOSPC."""
    found = enospc_in(error)
    if found is None and ENOSPC_TEXT in message:
        return DiskFull(None, "", None, None, "enospc", message)
    return found


def volumes_of(limits: Iterable[tuple[str, Path, int | None]]) -> tuple[Volume, ...]:
    """The volumes that have a limit, from `(variable, path, limit or None)`."""
    return tuple(Volume(name, path, limit) for name, path, limit in limits if limit)
