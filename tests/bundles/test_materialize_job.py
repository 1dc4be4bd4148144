"""materialize_job against a real loopback git mirror: fetches, commits, paths, provenance."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import anyio
import pytest

from bundles import ResourceBundleSpec, WorkspaceSpec, materialize_job
from bundles.job import Materialized
from contract.failures import BundleError, FailureKind, JobSpecError, RunnerError
from fakes.mirror import GitMirror
from tests.bundles.conftest import Events, Repos

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 60


def bundle(
    name: str,
    repo: str,
    mappings: list[tuple[str, str]],
    *,
    ref: str | None = "main",
    commit_id: str | None = None,
    prompt_refs: list[str] | None = None,
) -> ResourceBundleSpec:
    return ResourceBundleSpec.model_validate(
        {
            "kind": "gitbundle",
            "name": name,
            "repoUrl": repo,
            "ref": ref,
            "commitId": commit_id,
            "bundles": [{"source": s, "target": t} for s, t in mappings],
            "promptRefs": prompt_refs or [],
        }
    )


async def run(
    mirror: GitMirror,
    workspace_root: Path,
    scratch_dir: Path,
    events: Events,
    bundles: list[ResourceBundleSpec],
    workspace: WorkspaceSpec | None = None,
) -> Materialized:
    with anyio.fail_after(WAIT_SECONDS):
        return await materialize_job(
            workspace,
            bundles,
            workspace_root=workspace_root,
            mirror_base_url=mirror.base_url,
            scratch_dir=scratch_dir,
            emit=events,
        )


async def expect_failure(
    mirror: GitMirror,
    workspace_root: Path,
    scratch_dir: Path,
    events: Events,
    bundles: list[ResourceBundleSpec],
    workspace: WorkspaceSpec | None = None,
) -> RunnerError:
    with pytest.raises(RunnerError) as caught:
        await run(mirror, workspace_root, scratch_dir, events, bundles, workspace)
    return caught.value


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def listing(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def git_stdout(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=a", "-c", "user.email=a@b", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


GH_TOOLS = "https://github.com/acme/tools"


async def test_two_bundles_from_one_repository_cost_one_fetch(
    mirror: GitMirror, repos: Repos, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    specs = [
        bundle("tools", GH_TOOLS, [("tools", "tools")]),
        bundle("skills", GH_TOOLS + ".git", [(".agents/skills/caserun", ".agents/skills/caserun")]),
        bundle("pinned", "git@github.com:acme/tools.git", [], ref=None, commit_id=repos.tools.head),
    ]
    await run(mirror, workspace_root, scratch_dir, events, specs)

    assert mirror.fetch_count("acme/tools") == 1
    commits = [data["commitId"] for data in events.of_type("resource-bundle-materialized")]
    assert commits == [repos.tools.head] * 3
    assert (workspace_root / "tools/run.sh").read_text() == "#!/bin/sh\necho run\n"
    assert os.access(workspace_root / "tools/run.sh", os.X_OK)
    assert os.readlink(workspace_root / "tools/lib/current") == "util.py"
    assert (workspace_root / ".agents/skills/caserun/SKILL.md").read_text() == "# caserun\n"


async def test_the_recorded_commit_is_the_branch_tip_the_tag_target_and_the_explicit_commit(
    mirror: GitMirror, repos: Repos, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    specs = [
        bundle("branch", GH_TOOLS, [("README.md", "branch.md")], ref="stable"),
        bundle("tag", GH_TOOLS, [("README.md", "tag.md")], ref="v1.0"),
        bundle("full-ref", GH_TOOLS, [("README.md", "full.md")], ref="refs/heads/main"),
        bundle("commit", GH_TOOLS, [("README.md", "c.md")], commit_id=repos.tools.commits[2]),
    ]
    await run(mirror, workspace_root, scratch_dir, events, specs)

    recorded = {d["name"]: d["commitId"] for d in events.of_type("resource-bundle-materialized")}
    assert recorded == {
        "branch": repos.tools.commits[1],
        "tag": repos.tools.commits[2],
        "full-ref": repos.tools.head,
        "commit": repos.tools.commits[2],
    }
    assert (workspace_root / "branch.md").read_text() == "v1\n"
    assert (workspace_root / "tag.md").read_text() == "v2\n"
    assert (workspace_root / "c.md").read_text() == "v2\n"


async def test_a_commit_that_exists_only_deep_in_history_is_fetched_and_read_at_that_commit(
    mirror: GitMirror, repos: Repos, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    deep = repos.tools.commits[0]
    specs = [
        bundle(
            "old",
            GH_TOOLS,
            [("README.md", "README.md")],
            commit_id=deep,
            prompt_refs=["prompts/caserun.md"],
        )
    ]
    result = await run(mirror, workspace_root, scratch_dir, events, specs)

    assert events.of_type("resource-bundle-materialized")[0]["commitId"] == deep
    assert (workspace_root / "README.md").read_text() == "v0\n"
    assert result.prompt_items == [
        {
            "type": "text",
            "text": f"[prompt from resource bundle old: prompts/caserun.md @ {deep}]\nprompt v0\n",
        }
    ]


async def test_a_repository_the_mirror_does_not_have_is_a_mirror_miss(
    mirror: GitMirror, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    specs = [bundle("gone", "https://github.com/acme/nope", [("a", "a")])]
    error = await expect_failure(mirror, workspace_root, scratch_dir, events, specs)

    assert error.kind is FailureKind.BUNDLE_MIRROR_MISS
    assert error.retryable
    assert events.received == []
    assert all("github.com" not in r.path for r in mirror.requests)


@pytest.mark.parametrize(
    ("ref", "commit_id"),
    [("no-such-branch", None), (None, "0123456789abcdef0123456789abcdef01234567")],
)
async def test_a_ref_or_commit_the_repository_lacks_is_ref_not_found(
    mirror: GitMirror,
    workspace_root: Path,
    scratch_dir: Path,
    events: Events,
    ref: str | None,
    commit_id: str | None,
) -> None:
    specs = [bundle("t", GH_TOOLS, [("tools", "tools")], ref=ref, commit_id=commit_id)]
    error = await expect_failure(mirror, workspace_root, scratch_dir, events, specs)

    assert error.kind is FailureKind.BUNDLE_REF_NOT_FOUND
    assert not error.retryable


async def test_a_failing_mirror_is_a_retryable_fetch_failure(
    mirror: GitMirror, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    mirror.fail_next_requests(100)
    error = await expect_failure(
        mirror, workspace_root, scratch_dir, events, [bundle("t", GH_TOOLS, [("tools", "t")])]
    )

    assert error.kind is FailureKind.BUNDLE_FETCH_FAILED
    assert error.retryable
    assert "500" in error.message


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("../acme/tools.git/config", "x"),
        ("tools/../../x", "x"),
        ("/etc/passwd", "x"),
        ("tools", "../outside"),
        ("tools", "a/../../outside"),
        ("tools", "/tmp/outside"),
        ("tools", "."),
        ("no/such/path", "x"),
    ],
)
async def test_traversal_absolute_or_missing_paths_are_path_invalid_and_write_nothing(
    mirror: GitMirror,
    workspace_root: Path,
    scratch_dir: Path,
    events: Events,
    tmp_path: Path,
    source: str,
    target: str,
) -> None:
    before = tree(tmp_path)
    specs = [bundle("t", GH_TOOLS, [("README.md", "ok.md"), (source, target)])]
    error = await expect_failure(mirror, workspace_root, scratch_dir, events, specs)

    assert error.kind is FailureKind.BUNDLE_PATH_INVALID
    written = {p for p in tree(tmp_path) - before if not p.startswith("scratch")}
    assert written == set()
    assert events.received == []


@pytest.mark.parametrize("source", ["tools", "etc-link", "escape", "."])
async def test_a_symlink_in_a_bundle_pointing_outside_its_root_is_path_invalid(
    mirror: GitMirror, workspace_root: Path, scratch_dir: Path, events: Events, source: str
) -> None:
    specs = [bundle("evil", "https://github.com/acme/evil", [(source, "out")])]
    error = await expect_failure(mirror, workspace_root, scratch_dir, events, specs)

    assert error.kind is FailureKind.BUNDLE_PATH_INVALID
    assert listing(workspace_root) == []


async def test_a_symlink_pointing_outside_its_source_but_inside_the_repo_is_path_invalid(
    mirror: GitMirror, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    specs = [bundle("evil", "https://github.com/acme/evil", [("inner", "inner")])]
    error = await expect_failure(mirror, workspace_root, scratch_dir, events, specs)
    assert error.kind is FailureKind.BUNDLE_PATH_INVALID


async def test_a_target_inside_the_subject_repo_is_refused_and_the_subject_stays_clean_of_skills(
    mirror: GitMirror, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    workspace = WorkspaceSpec(repo_url="https://github.com/acme/subject", ref="main", path="sub")
    skills = (".agents/skills/caserun", ".agents/skills/caserun")
    ok = await run(
        mirror, workspace_root, scratch_dir, events, [bundle("s", GH_TOOLS, [skills])], workspace
    )

    assert ok.cwd == (workspace_root / "sub").resolve()
    assert not (workspace_root / "sub/.agents").exists()
    assert (workspace_root / ".agents/skills/caserun/SKILL.md").is_file()
    assert events.of_type("workspace.materialized")[0]["skillDirs"] == []
    assert git_stdout(ok.cwd, "status", "--porcelain") == ""

    into_subject = bundle("s", GH_TOOLS, [(".agents/skills/caserun", "sub/.agents/skills/x")])
    second_root = workspace_root.parent / "second-workspace"
    error = await expect_failure(
        mirror, second_root, scratch_dir / "2", Events(), [into_subject], workspace
    )
    assert error.kind is FailureKind.BUNDLE_PATH_INVALID
    assert not (second_root / "sub/.agents").exists()


async def test_a_subject_repo_with_skills_of_its_own_reports_them(
    mirror: GitMirror, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    workspace = WorkspaceSpec(repo_url="https://github.com/acme/skilled", path="subject")
    await run(mirror, workspace_root, scratch_dir, events, [], workspace)

    data = events.of_type("workspace.materialized")[0]
    assert data["skillDirs"] == ["subject/.agents/skills/own"]
    assert data["requestedRef"] is None


async def test_the_subject_repo_is_a_working_checkout_on_a_branch_named_after_the_ref(
    mirror: GitMirror, repos: Repos, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    workspace = WorkspaceSpec.model_validate(
        {"repoUrl": "https://github.com/acme/subject", "ref": "v0.2", "path": "subject"}
    )
    result = await run(mirror, workspace_root, scratch_dir, events, [], workspace)

    def git(*args: str) -> str:
        return git_stdout(result.cwd, *args)

    assert git("rev-parse", "HEAD") == repos.subject.commits[0]
    assert git("symbolic-ref", "--short", "HEAD") == "v0.2"
    assert git("remote", "get-url", "origin") == mirror.url_of("acme/subject")
    (result.cwd / "new.txt").write_text("agent output\n")
    git("add", "new.txt")
    git("commit", "-q", "-m", "agent change")
    assert git("rev-parse", "HEAD~1") == repos.subject.commits[0]


async def test_provenance_events_carry_exactly_the_contract_fields(
    mirror: GitMirror, repos: Repos, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    workspace = WorkspaceSpec(
        repo_url="https://github.com/acme/subject", ref="main", path="subject"
    )
    specs = [
        bundle(
            "hwlab-tools",
            GH_TOOLS,
            [("tools", "tools"), (".agents/skills/caserun", ".agents/skills/caserun")],
            prompt_refs=["prompts/caserun.md"],
        )
    ]
    result = await run(mirror, workspace_root, scratch_dir, events, specs, workspace)

    assert [kind for kind, _ in events.received] == [
        "workspace.materialized",
        "resource-bundle-materialized",
    ]
    ws, bd = (data for _, data in events.received)
    assert isinstance(ws.pop("durationMs"), int)
    assert isinstance(bd.pop("durationMs"), int)
    assert ws == {
        "name": "workspace",
        "repoUrl": "https://github.com/acme/subject",
        "fetchRepoUrl": mirror.url_of("acme/subject"),
        "mirrorUsed": True,
        "mirrorBaseUrl": mirror.base_url,
        "requestedRef": "main",
        "requestedCommit": None,
        "commitId": repos.subject.head,
        "bundles": [{"source": ".", "target": "subject", "fileCount": 2}],
        "tools": [],
        "promptRefs": [],
        "skillDirs": [],
        "path": "subject",
    }
    assert bd == {
        "name": "hwlab-tools",
        "repoUrl": GH_TOOLS,
        "fetchRepoUrl": mirror.url_of("acme/tools"),
        "mirrorUsed": True,
        "mirrorBaseUrl": mirror.base_url,
        "requestedRef": "main",
        "requestedCommit": None,
        "commitId": repos.tools.head,
        "bundles": [
            {"source": "tools", "target": "tools", "fileCount": 3},
            {
                "source": ".agents/skills/caserun",
                "target": ".agents/skills/caserun",
                "fileCount": 2,
            },
        ],
        "tools": ["tools/run.sh"],
        "promptRefs": ["prompts/caserun.md"],
        "skillDirs": [".agents/skills/caserun"],
    }
    assert result.prompt_items == [
        {
            "type": "text",
            "text": "[prompt from resource bundle hwlab-tools: prompts/caserun.md @ "
            f"{repos.tools.head}]\nprompt head\n",
        }
    ]


async def test_credentials_in_a_repo_url_never_reach_an_event_a_log_line_or_an_error(
    mirror: GitMirror,
    workspace_root: Path,
    scratch_dir: Path,
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "s3cr3t-T0KEN-value"
    caplog.set_level(logging.DEBUG)
    github_creds = f"https://x-access-token:{secret}@github.com/acme/tools"
    mirror_host = mirror.base_url.removeprefix("http://")
    mirror_creds = f"http://agent:{secret}@{mirror_host}/acme/subject.git"
    workspace = WorkspaceSpec(repo_url=mirror_creds, ref="main", path="subject")
    await run(
        mirror,
        workspace_root,
        scratch_dir,
        events,
        [bundle("t", github_creds, [("tools", "tools")])],
        workspace,
    )
    texts: list[str] = [repr(events.received), caplog.text]
    texts.append((workspace_root / "subject/.git/config").read_text())

    failures: list[BaseException] = []
    missing = f"http://agent:{secret}@{mirror_host}/acme/nope.git"
    mirror.fail_next_requests(0)
    for spec, prepare in (
        (bundle("miss", missing, [("a", "a")]), None),
        (bundle("down", f"http://agent:{secret}@{mirror_host}/acme/tools.git", [("a", "b")]), 1),
        (bundle("bad", f"https://u:{secret}@example.com/o/r", [("a", "a")]), None),
    ):
        if prepare:
            mirror.fail_next_requests(100)
        with pytest.raises(RunnerError) as caught:
            await run(mirror, workspace_root, scratch_dir / spec.name, Events(), [spec])
        mirror.fail_next_requests(0)
        failures.append(caught.value)
    assert [type(f) for f in failures] == [BundleError, BundleError, JobSpecError]
    assert [f.kind for f in failures if isinstance(f, RunnerError)] == [
        FailureKind.BUNDLE_MIRROR_MISS,
        FailureKind.BUNDLE_FETCH_FAILED,
        FailureKind.JOB_SPEC_INVALID,
    ]
    for failure in failures:
        chain: BaseException | None = failure
        while chain is not None:
            texts.extend([str(chain), repr(chain), repr(getattr(chain, "detail", ""))])
            chain = chain.__cause__ or chain.__context__
    texts.append(caplog.text)
    assert all(secret not in text for text in texts)
    assert "agent@" not in caplog.text  # not even the user name of the URL reaches a log


async def test_a_missing_mirror_url_with_bundles_is_job_spec_invalid(
    workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    with pytest.raises(JobSpecError):
        await materialize_job(
            None,
            [bundle("t", GH_TOOLS, [("tools", "tools")])],
            workspace_root=workspace_root,
            mirror_base_url=None,
            scratch_dir=scratch_dir,
            emit=events,
        )
    empty = await materialize_job(
        None,
        [],
        workspace_root=workspace_root,
        mirror_base_url=None,
        scratch_dir=scratch_dir,
        emit=events,
    )
    assert empty.cwd == await anyio.Path(workspace_root).resolve()
    assert empty.prompt_items == []


async def test_the_bundles_are_fetched_while_the_subject_is_checked_out(
    mirror: GitMirror, repos: Repos, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    # The mirror answers nothing until both repositories are being fetched at once: one
    # after the other, each request would wait out the hold and be counted.
    mirror.hold_reads_until_all_wait({"acme/subject", "acme/tools"}, timeout_seconds=20)
    workspace = WorkspaceSpec(repo_url="https://github.com/acme/subject", path="subject")
    specs = [bundle("tools", GH_TOOLS, [("tools", "tools")])]
    await run(mirror, workspace_root, scratch_dir, events, specs, workspace)

    assert mirror.held_past_timeout == 0
    assert [t for t, _ in events.received] == [
        "workspace.materialized",
        "resource-bundle-materialized",
    ]


async def test_a_failed_subject_wins_over_a_failed_bundle_and_nothing_is_mapped(
    mirror: GitMirror, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    workspace = WorkspaceSpec(repo_url="https://github.com/acme/absent", path="subject")
    specs = [bundle("t", GH_TOOLS, [("tools", "tools")], ref="no-such-branch")]
    error = await expect_failure(mirror, workspace_root, scratch_dir, events, specs, workspace)

    assert error.kind is FailureKind.BUNDLE_MIRROR_MISS
    assert events.received == []
    assert not (workspace_root / "tools").exists()


async def test_the_first_failed_bundle_in_spec_order_is_the_error(
    mirror: GitMirror, workspace_root: Path, scratch_dir: Path, events: Events
) -> None:
    specs = [
        bundle("tools", GH_TOOLS, [("tools", "tools")]),
        bundle("pinned", GH_TOOLS, [], ref="no-such-branch"),
        bundle("gone", "https://github.com/acme/nope", [("a", "a")]),
    ]
    error = await expect_failure(mirror, workspace_root, scratch_dir, events, specs)

    assert error.kind is FailureKind.BUNDLE_REF_NOT_FOUND
    assert [t for t, _ in events.received] == ["resource-bundle-materialized"]
