"""Pushing the result commit to the mirror's write side (contract §1, §12), on real git."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bundles.mirror import resolve_fetch_url, write_target
from contract.failures import FailureKind, WorkspaceError
from fakes.mirror import GitMirrorServer
from runner.manager.retry import set_instant_retries
from runner.safety.masking import Masker
from runner.workspace.capture import Capture, capture_change
from runner.workspace.push import PUSH_RETRY, push_result, result_ref
from tests.runner.workspace_helpers import INFO, WRITE_TOKEN

pytestmark = pytest.mark.anyio

REF = result_ref("run-1", "att-1")
REPO = "acme/subject"


@pytest.fixture
def instant_retries() -> object:
    set_instant_retries(True)
    yield None
    set_instant_retries(False)


def changed_capture(subject: tuple[Path, str], scratch: Path, text: str = "new\n") -> Capture:
    repo, base = subject
    (repo / "new.txt").write_text(text)
    return capture_change(repo, base, scratch, Masker(), INFO)


def target_of(server: GitMirrorServer):  # type: ignore[no-untyped-def]
    mirror = server.mirror
    assert mirror.write_base_url is not None
    read = resolve_fetch_url(f"https://github.com/{REPO}", mirror.base_url)
    return write_target(read, mirror.write_base_url)


async def test_the_result_commit_is_created_as_its_run_ref_with_the_token_in_a_header(
    subject: tuple[Path, str], mirror_server: GitMirrorServer, tmp_path: Path
) -> None:
    capture = changed_capture(subject, tmp_path / "scratch")

    tries = await push_result(
        str(capture.git_dir), target_of(mirror_server), WRITE_TOKEN, capture.result_commit, REF
    )

    mirror = mirror_server.mirror
    assert tries == 1
    assert mirror.ref(REPO, REF) == capture.result_commit
    assert [(u.ref, u.new) for u in mirror.pushed_updates(REPO)] == [(REF, capture.result_commit)]
    assert all(r.authorized for r in mirror.requests if r.side == "write")


async def test_pushing_the_same_commit_again_after_a_restart_is_a_success(
    subject: tuple[Path, str], mirror_server: GitMirrorServer, tmp_path: Path
) -> None:
    capture = changed_capture(subject, tmp_path / "scratch")
    target = target_of(mirror_server)
    await push_result(str(capture.git_dir), target, WRITE_TOKEN, capture.result_commit, REF)

    await push_result(str(capture.git_dir), target, WRITE_TOKEN, capture.result_commit, REF)

    assert mirror_server.mirror.ref(REPO, REF) == capture.result_commit


async def test_another_commit_for_an_existing_ref_is_refused_at_once_never_forced(
    subject: tuple[Path, str], mirror_server: GitMirrorServer, tmp_path: Path
) -> None:
    first = changed_capture(subject, tmp_path / "one")
    target = target_of(mirror_server)
    await push_result(str(first.git_dir), target, WRITE_TOKEN, first.result_commit, REF)
    second = changed_capture(subject, tmp_path / "two", "other\n")

    with pytest.raises(WorkspaceError) as caught:
        await push_result(str(second.git_dir), target, WRITE_TOKEN, second.result_commit, REF)

    assert caught.value.kind is FailureKind.WORKSPACE_PUBLISH_FAILED
    assert caught.value.transient is False
    assert caught.value.detail["tries"] == 1
    assert mirror_server.mirror.ref(REPO, REF) == first.result_commit


async def test_a_wrong_token_fails_at_once_and_never_shows_in_the_error_or_the_log(
    subject: tuple[Path, str],
    mirror_server: GitMirrorServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    capture = changed_capture(subject, tmp_path / "scratch")
    wrong = "wrong-token-9876543210"
    caplog.set_level(logging.DEBUG)

    with pytest.raises(WorkspaceError) as caught:
        await push_result(
            str(capture.git_dir), target_of(mirror_server), wrong, capture.result_commit, REF
        )

    assert caught.value.detail["tries"] == 1
    shown = f"{caught.value} {caught.value.__cause__} {caught.value.detail} {caplog.text}"
    assert wrong not in shown
    assert mirror_server.mirror.ref(REPO, REF) is None
    assert not any(r.authorized for r in mirror_server.mirror.requests if r.side == "write")


async def test_a_write_side_failing_for_a_while_is_retried_until_it_recovers(
    subject: tuple[Path, str],
    mirror_server: GitMirrorServer,
    tmp_path: Path,
    instant_retries: object,
) -> None:
    capture = changed_capture(subject, tmp_path / "scratch")
    mirror_server.mirror.write_fail_next(2, status=503)

    tries = await push_result(
        str(capture.git_dir), target_of(mirror_server), WRITE_TOKEN, capture.result_commit, REF
    )

    assert tries == 3
    assert mirror_server.mirror.ref(REPO, REF) == capture.result_commit


async def test_a_write_side_that_stays_down_fails_after_the_retry_budget(
    subject: tuple[Path, str],
    mirror_server: GitMirrorServer,
    tmp_path: Path,
    instant_retries: object,
) -> None:
    capture = changed_capture(subject, tmp_path / "scratch")
    mirror_server.mirror.write_fail_always(status=500)

    with pytest.raises(WorkspaceError) as caught:
        await push_result(
            str(capture.git_dir), target_of(mirror_server), WRITE_TOKEN, capture.result_commit, REF
        )

    assert caught.value.transient is True
    assert caught.value.detail["tries"] == PUSH_RETRY.attempts
