"""A spool that cannot be written (ENOSPC) never stops the attempt: events go on from
memory, one `backend.warning` says durability is lost, nothing raises (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.eventlog.events import EventLog
from runner.eventlog.spool import SPOOL_DIRNAME, Spool, runner_id_for
from runner.safety.masking import Masker

pytestmark = pytest.mark.anyio

DEV_FULL = Path("/dev/full")
"""Every write to it fails with ENOSPC (Linux `null(4)`)."""


def full_spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path, "att-1")
    spool.dir.mkdir(parents=True)
    spool.events_path.symlink_to(DEV_FULL)
    return spool


async def test_events_go_on_from_memory_with_one_warning_when_the_spool_is_full(
    tmp_path: Path,
) -> None:
    spool = full_spool(tmp_path)
    log = EventLog(Masker({}), spool=spool)
    for index in range(3):
        await log.emit("item.delta", {"text": f"chunk {index}"})

    events = log.batch()
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.type for e in events].count("backend.warning") == 1
    warning = next(e for e in events if e.type == "backend.warning")
    assert warning.data["errno"] == "ENOSPC"
    assert warning.data["durability"] == "memory-only"
    assert spool.failure is not None


async def test_a_full_spool_never_raises_on_acks_terminal_or_close(tmp_path: Path) -> None:
    spool = full_spool(tmp_path)
    log = EventLog(Masker({}), spool=spool)
    await log.emit("runner.started", {})
    log.ack(1)
    spool.record_backend(123, 1.0)
    spool.record_workspace({"changed": False})
    spool.record_terminal({"status": "succeeded"})
    spool.close()
    log.rewind(0)  # nothing to read back: the events in memory stay as they are
    assert log.acked_seq == 1


async def test_a_failing_ack_file_also_degrades_the_spool_with_a_warning(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "att-1")
    spool.dir.mkdir(parents=True)
    (spool.dir / "acked.tmp").symlink_to(DEV_FULL)
    log = EventLog(Masker({}), spool=spool)
    await log.emit("runner.started", {})
    log.ack(1)
    await log.emit("liveness", {})
    assert [e.type for e in log.batch()] == ["liveness", "backend.warning"]
    assert spool.failure is not None


def test_the_runner_id_survives_a_runtime_home_that_cannot_be_written(tmp_path: Path) -> None:
    root = tmp_path / SPOOL_DIRNAME
    root.mkdir()
    (root / "runner-id.tmp").symlink_to(DEV_FULL)
    assert runner_id_for(tmp_path).startswith("rnr-")
