"""The fake mirror's write side: real pushes over loopback HTTP, refused by the real hook.

Each test works like the runner: a depth-1 fetch of the base commit into a fresh
repository, one commit on top of it, and `git push URL <sha>:refs/agentrun/runs/R/A`
with the token in `http.extraHeader` through `GIT_CONFIG_COUNT/KEY/VALUE`.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from fakes.mirror import FakeRepo, GitMirror, RefUpdate, make_repo, serve_git_mirror
from fakes.mirror.write import receive_pack_updates

pytestmark = pytest.mark.anyio

TOKEN = "runner-token-not-a-secret"
RESULT_REF = "refs/agentrun/runs/run-1/attempt-1"
ZERO = "0" * 40
_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "AgentRun runner",
    "GIT_AUTHOR_EMAIL": "runner@agentrun.invalid",
    "GIT_COMMITTER_NAME": "AgentRun runner",
    "GIT_COMMITTER_EMAIL": "runner@agentrun.invalid",
}


def _token_env(token: str | None) -> dict[str, str]:
    """The token as the runner passes it: `http.extraHeader` through the environment."""
    if token is None:
        return {}
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {token}",
    }


def _git(*args: str, cwd: Path, token: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**_ENV, **_token_env(token)},
        capture_output=True,
        text=True,
        timeout=20,
    )


async def _run_git(
    *args: str, cwd: Path, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    return await anyio.to_thread.run_sync(lambda: _git(*args, cwd=cwd, token=token))


async def _shallow_workspace(
    mirror: GitMirror, repo: FakeRepo, path: Path, base: str | None = None
) -> Path:
    """A depth-1 fetch of `base` (default: the head), checked out: the runner's workspace."""
    base = base or repo.head
    await anyio.Path(path).mkdir(parents=True)
    _git("init", "-q", cwd=path)
    fetched = await _run_git("fetch", "-q", "--depth=1", mirror.url_of(repo.name), base, cwd=path)
    assert fetched.returncode == 0, fetched.stderr
    _git("checkout", "-q", "--detach", base, cwd=path)
    assert (await anyio.Path(path / ".git" / "shallow").read_text()).strip() == base
    return path


def _commit(workspace: Path, name: str, text: str) -> str:
    (workspace / name).write_text(text)
    _git("add", "-A", cwd=workspace)
    committed = _git("commit", "-q", "-m", f"agentrun: {name}", cwd=workspace)
    assert committed.returncode == 0, committed.stderr
    return _git("rev-parse", "HEAD", cwd=workspace).stdout.strip()


async def _push(
    mirror: GitMirror, workspace: Path, refspec: str, *, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    return await _run_git(
        "push",
        "--porcelain",
        mirror.write_url_of("acme/subject"),
        refspec,
        cwd=workspace,
        token=token,
    )


@pytest.fixture
def subject(tmp_path: Path) -> FakeRepo:
    return make_repo(tmp_path / "mirror", "acme/subject", [{"a.txt": "one"}, {"a.txt": "two"}])


@pytest.mark.parametrize("base_index", [-1, 0], ids=["base-is-the-tip", "base-is-older"])
async def test_a_push_from_a_shallow_fetch_with_the_token_creates_the_result_ref(
    tmp_path: Path, subject: FakeRepo, base_index: int
) -> None:
    base = subject.commits[base_index]
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws", base)
            result = _commit(workspace, "b.txt", "agent's change\n")
            pushed = await _push(mirror, workspace, f"{result}:{RESULT_REF}")
            assert pushed.returncode == 0, pushed.stderr
            assert mirror.ref("acme/subject", RESULT_REF) == result
            assert mirror.ref("acme/subject", f"{RESULT_REF}^") == base
            assert mirror.ref("acme/subject", "main") == subject.head
            assert not await anyio.Path(subject.path / "shallow").exists()
            assert mirror.push_count("acme/subject") == 1
            assert mirror.push_count("acme/other") == 0
            assert mirror.pushed_updates() == (RefUpdate(ZERO, result, RESULT_REF),)
            writes = [r for r in mirror.requests if r.side == "write"]
            assert [(r.method, r.service, r.status) for r in writes] == [
                ("GET", "git-receive-pack", 200),
                ("POST", "git-receive-pack", 200),
            ]
            assert all(r.authorized for r in writes)
            assert TOKEN not in repr(mirror.requests)


async def test_a_push_without_or_with_a_wrong_token_is_a_401_and_git_fails_without_prompting(
    tmp_path: Path, subject: FakeRepo
) -> None:
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws")
            result = _commit(workspace, "b.txt", "change\n")
            for token in (None, "wrong-token"):
                mirror.clear_log()
                with anyio.fail_after(5):
                    refused = await _push(mirror, workspace, f"{result}:{RESULT_REF}", token=token)
                assert refused.returncode != 0
                assert [(r.side, r.status, r.authorized) for r in mirror.requests] == [
                    ("write", 401, False)
                ]
            assert mirror.ref("acme/subject", RESULT_REF) is None
            assert mirror.push_count() == 0


async def test_a_push_to_a_branch_is_declined_by_the_hook_until_the_rule_is_turned_off(
    tmp_path: Path, subject: FakeRepo
) -> None:
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws")
            result = _commit(workspace, "b.txt", "change\n")
            refused = await _push(mirror, workspace, f"{result}:refs/heads/x")
            assert refused.returncode != 0
            assert "pre-receive hook declined" in refused.stdout + refused.stderr
            assert "reject_outside_agentrun" in refused.stderr
            assert mirror.ref("acme/subject", "refs/heads/x") is None
            assert mirror.pushed_updates() == (RefUpdate(ZERO, result, "refs/heads/x"),)
            mirror.reject_outside_agentrun = False
            accepted = await _push(mirror, workspace, f"{result}:refs/heads/x")
            assert accepted.returncode == 0, accepted.stderr
            assert mirror.ref("acme/subject", "refs/heads/x") == result


async def test_an_existing_result_ref_is_never_forced_or_deleted_while_create_only_is_on(
    tmp_path: Path, subject: FakeRepo
) -> None:
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws")
            first = _commit(workspace, "b.txt", "first\n")
            assert (await _push(mirror, workspace, f"{first}:{RESULT_REF}")).returncode == 0
            _git("checkout", "-q", "--detach", subject.head, cwd=workspace)
            second = _commit(workspace, "b.txt", "second\n")
            forced = await _push(mirror, workspace, f"+{second}:{RESULT_REF}")
            assert forced.returncode != 0
            assert "pre-receive hook declined" in forced.stdout + forced.stderr
            assert "create_only" in forced.stderr
            deleted = await _push(mirror, workspace, f":{RESULT_REF}")
            assert deleted.returncode != 0
            assert "create_only" in deleted.stderr
            assert mirror.ref("acme/subject", RESULT_REF) == first
            assert mirror.pushed_updates()[1:] == (
                RefUpdate(first, second, RESULT_REF),
                RefUpdate(first, ZERO, RESULT_REF),
            )
            mirror.create_only = False
            assert (await _push(mirror, workspace, f"+{second}:{RESULT_REF}")).returncode == 0
            assert mirror.ref("acme/subject", RESULT_REF) == second


async def test_re_pushing_the_same_commit_to_its_result_ref_succeeds_and_sends_no_update(
    tmp_path: Path, subject: FakeRepo
) -> None:
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws")
            result = _commit(workspace, "b.txt", "change\n")
            assert (await _push(mirror, workspace, f"{result}:{RESULT_REF}")).returncode == 0
            again = await _push(mirror, workspace, f"{result}:{RESULT_REF}")
            assert again.returncode == 0, again.stderr
            assert f"=\t{result}:{RESULT_REF}\t[up to date]" in again.stdout
            # git compares the advertised ref with the commit and sends no POST at all,
            # so create_only never sees the second push.
            assert mirror.push_count() == 1
            assert mirror.ref("acme/subject", RESULT_REF) == result


async def test_write_fail_for_answers_500_until_its_time_is_up_then_the_push_goes_through(
    tmp_path: Path, subject: FakeRepo
) -> None:
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws")
            result = _commit(workspace, "b.txt", "change\n")
            mirror.write_fail_for(1.0)
            attempts = 0
            while (pushed := await _push(mirror, workspace, f"{result}:{RESULT_REF}")).returncode:
                attempts += 1
                await anyio.sleep(0.2)  # a retry's back-off, as the runner's
            assert pushed.returncode == 0, pushed.stderr
            assert attempts >= 1
            injected = [r for r in mirror.requests if r.injected]
            assert len(injected) == attempts
            assert {(r.side, r.status) for r in injected} == {("write", 500)}
            assert mirror.push_count() == 1
            assert mirror.ref("acme/subject", RESULT_REF) == result


async def test_write_failure_knobs_fail_only_the_write_side_and_recover(
    tmp_path: Path, subject: FakeRepo
) -> None:
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws")
            result = _commit(workspace, "b.txt", "change\n")
            mirror.write_fail_always(status=503)
            assert (await _push(mirror, workspace, f"{result}:{RESULT_REF}")).returncode != 0
            assert (await _push(mirror, workspace, f"{result}:{RESULT_REF}")).returncode != 0
            listed = await _run_git("ls-remote", mirror.url_of("acme/subject"), cwd=workspace)
            assert listed.returncode == 0, listed.stderr
            mirror.write_recover()
            mirror.write_fail_next(1, status=502)
            assert (await _push(mirror, workspace, f"{result}:{RESULT_REF}")).returncode != 0
            assert (await _push(mirror, workspace, f"{result}:{RESULT_REF}")).returncode == 0
            statuses = [r.status for r in mirror.requests if r.side == "write" and r.injected]
            assert statuses == [503, 503, 502]
            assert mirror.ref("acme/subject", RESULT_REF) == result


async def test_the_read_side_refuses_pushes_and_the_write_side_serves_only_receive_pack(
    tmp_path: Path, subject: FakeRepo
) -> None:
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws")
            result = _commit(workspace, "b.txt", "change\n")
            read_push = await _run_git(
                "push",
                mirror.url_of("acme/subject"),
                f"{result}:{RESULT_REF}",
                cwd=workspace,
                token=TOKEN,
            )
            assert read_push.returncode != 0
            refusal = mirror.requests[-1]
            assert (refusal.side, refusal.service, refusal.status) == (
                "read",
                "git-receive-pack",
                403,
            )
            assert mirror.ref("acme/subject", RESULT_REF) is None
            listed = await _run_git(
                "ls-remote", mirror.write_url_of("acme/subject"), cwd=workspace, token=TOKEN
            )
            assert listed.returncode != 0
            not_served = mirror.requests[-1]
            assert (not_served.side, not_served.service, not_served.status) == (
                "write",
                "git-upload-pack",
                404,
            )
            assert not_served.authorized


async def test_a_pushed_result_commit_is_not_advertised_yet_is_fetchable_by_id_at_depth_one(
    tmp_path: Path, subject: FakeRepo
) -> None:
    with anyio.fail_after(20):
        async with serve_git_mirror(tmp_path / "mirror", write_token=TOKEN) as mirror:
            workspace = await _shallow_workspace(mirror, subject, tmp_path / "ws")
            result = _commit(workspace, "b.txt", "change\n")
            assert (await _push(mirror, workspace, f"{result}:{RESULT_REF}")).returncode == 0
            url = mirror.url_of("acme/subject")
            listed = await _run_git("ls-remote", url, cwd=workspace)
            assert listed.returncode == 0, listed.stderr
            assert "refs/heads/main" in listed.stdout
            assert result not in listed.stdout
            assert "refs/agentrun" not in listed.stdout
            reader = tmp_path / "next-attempt"
            reader.mkdir()
            _git("init", "-q", cwd=reader)
            fetched = await _run_git("fetch", "-q", "--depth=1", url, result, cwd=reader)
            assert fetched.returncode == 0, fetched.stderr
            assert _git("show", f"{result}:b.txt", cwd=reader).stdout == "change\n"
            mirror.hide_agentrun_refs = False
            shown = await _run_git("ls-remote", url, cwd=workspace)
            assert f"{result}\t{RESULT_REF}" in shown.stdout


async def test_a_mirror_without_a_write_side_has_no_write_url(tmp_path: Path) -> None:
    with anyio.fail_after(10):
        async with serve_git_mirror(tmp_path / "mirror", write=False) as mirror:
            assert mirror.write_base_url is None
            with pytest.raises(RuntimeError):
                mirror.write_url_of("acme/subject")


def _pkt(payload: bytes) -> bytes:
    return f"{len(payload) + 4:04x}".encode() + payload


def test_ref_updates_are_parsed_past_shallow_lines_and_through_gzip() -> None:
    new = "1" * 40
    body = (
        _pkt(b"shallow " + b"2" * 40 + b"\n")
        + _pkt(f"{ZERO} {new} {RESULT_REF}\0report-status side-band-64k\n".encode())
        + _pkt(f"{new} {ZERO} refs/agentrun/old\n".encode())
        + b"0000PACK\x00\x00\x00\x02"
    )
    expected = (RefUpdate(ZERO, new, RESULT_REF), RefUpdate(new, ZERO, "refs/agentrun/old"))
    assert receive_pack_updates(body, "") == expected
    assert receive_pack_updates(gzip.compress(body), "gzip") == expected
    assert receive_pack_updates(b"not gzip", "gzip") == ()
