"""Capturing the subject's change as one masked commit (contract §12), on real git.

The subject is materialized the way the runner does it (a depth-1 fetch from a loopback
mirror), changed the way an agent would, and captured; the assertions read the result
back with git itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from runner.safety.masking import Masker
from runner.workspace.capture import AUTHOR_EMAIL, capture_change
from tests.runner.workspace_helpers import INFO, SECRET, git


def edit_like_an_agent(repo: Path) -> None:
    (repo / "src" / "app.py").write_text("print(3)\n")
    (repo / "src" / "gone.txt").unlink()
    (repo / "src" / "move_me.txt").rename(repo / "src" / "moved.txt")
    (repo / "run.sh").chmod(0o755)
    (repo / "new.bin").write_bytes(bytes(range(256)) * 4)
    (repo / "link").unlink()
    (repo / "link").symlink_to("src/app.py")
    (repo / "notes.txt").write_text(f"token={SECRET}\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_bytes(b"ignored")
    (repo / ".agents" / "skills" / "sneaky").mkdir(parents=True)
    (repo / ".agents" / "skills" / "sneaky" / "SKILL.md").write_text("# sneaky\n")


def test_a_turn_that_adds_edits_deletes_renames_and_chmods_yields_one_commit_of_the_tree(
    subject: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = subject
    edit_like_an_agent(repo)
    status_before = git(repo, "status", "--porcelain")

    capture = capture_change(repo, base, tmp_path / "scratch", Masker({"T": SECRET}), INFO)

    assert capture.changed
    assert capture.result_commit != base
    git_dir = capture.git_dir
    assert git(git_dir, "rev-list", "--parents", "-n1", capture.result_commit).split()[1:] == [base]
    tree = git(git_dir, "ls-tree", "-r", capture.result_commit)
    assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith("\trun.sh"))
    assert "120000 blob" in next(line for line in tree.splitlines() if line.endswith("\tlink"))
    assert "src/gone.txt" not in tree
    assert "build/out.o" not in tree
    binary = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "blob", f"{capture.result_commit}:new.bin"],
        capture_output=True,
        check=True,
    ).stdout
    assert binary == bytes(range(256)) * 4
    statuses = {f.path: f.status for f in capture.files}
    assert statuses["src/app.py"] == "modified"
    assert statuses["src/gone.txt"] == "deleted"
    assert statuses["src/moved.txt"] == "renamed"
    assert statuses["new.bin"] == "added"
    assert statuses["run.sh"] == "modified"
    assert next(f for f in capture.files if f.path == "new.bin").binary
    assert capture.skills_in_subject == [".agents/skills/sneaky/SKILL.md"]
    # The agent's repository is untouched: same status, no new objects were needed there.
    assert git(repo, "status", "--porcelain") == status_before
    message = git(git_dir, "log", "-1", "--format=%an <%ae>%n%B", capture.result_commit)
    assert message.startswith(f"AgentRun runner <{AUTHOR_EMAIL}>\nagentrun: run-1 attempt 1 ")
    assert "AgentRun-Thread-Id: thr-1" in message


def test_a_secret_written_to_a_file_is_masked_in_the_commit_and_the_patch(
    subject: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = subject
    (repo / "notes.txt").write_text(f"token={SECRET}\n")
    (repo / "blob.bin").write_bytes(b"\x00\xff" + SECRET.encode() + b"\x80")

    capture = capture_change(repo, base, tmp_path / "scratch", Masker({"T": SECRET}), INFO)

    assert sorted(capture.masked) == ["blob.bin", "notes.txt"]
    shown = git(capture.git_dir, "show", f"{capture.result_commit}:notes.txt")
    assert shown == "token=***\n"
    assert capture.patch_path is not None
    assert SECRET.encode() not in capture.patch_path.read_bytes()
    assert (repo / "notes.txt").read_text() == f"token={SECRET}\n"  # the workspace keeps it


def test_the_patch_turns_the_base_commit_into_the_result_tree(
    subject: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = subject
    edit_like_an_agent(repo)
    capture = capture_change(repo, base, tmp_path / "scratch", Masker({"T": SECRET}), INFO)
    assert capture.patch_path is not None

    check = tmp_path / "check"
    shutil.copytree(capture.git_dir, check / ".git")
    git(check, "config", "core.bare", "false")
    git(check, "checkout", "-q", "--detach", base)
    git(check, "apply", "--binary", "--index", str(capture.patch_path))
    assert (
        git(check, "write-tree").strip()
        == git(check, "rev-parse", f"{capture.result_commit}^{{tree}}").strip()
    )


def test_a_turn_without_changes_reports_the_base_commit_and_no_patch(
    subject: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = subject
    (repo / "build").mkdir()
    (repo / "build" / "ignored.o").write_bytes(b"x")

    capture = capture_change(repo, base, tmp_path / "scratch", Masker(), INFO)

    assert not capture.changed
    assert capture.result_commit == base
    assert capture.files == []
    assert capture.patch_path is None


def test_the_agents_own_commits_stay_in_the_result_history(
    subject: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = subject
    (repo / "README.md").write_text("committed by the agent\n")
    git(repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qam", "agent work")
    agent_head = git(repo, "rev-parse", "HEAD").strip()
    (repo / "README.md").write_text("then edited again\n")

    capture = capture_change(repo, base, tmp_path / "scratch", Masker(), INFO)

    parents = git(capture.git_dir, "rev-list", "--parents", "-n1", capture.result_commit)
    assert parents.split()[1:] == [base, agent_head]
    assert git(capture.git_dir, "show", f"{capture.result_commit}:README.md") == (
        "then edited again\n"
    )


def test_agent_commits_that_hold_a_secret_are_left_out_of_the_history(
    subject: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = subject
    (repo / "leak.txt").write_text(SECRET)
    git(repo, "add", "leak.txt")
    git(repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "oops")

    capture = capture_change(repo, base, tmp_path / "scratch", Masker({"T": SECRET}), INFO)

    parents = git(capture.git_dir, "rev-list", "--parents", "-n1", capture.result_commit)
    assert parents.split()[1:] == [base]
    assert capture.notes
    assert "secret" in capture.notes[0]
    assert capture.masked == ["leak.txt"]


def test_a_workspace_whose_git_directory_was_deleted_is_captured_from_a_refetched_base(
    subject: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = subject
    saved = tmp_path / "saved.git"
    shutil.copytree(repo / ".git", saved)
    shutil.rmtree(repo / ".git")
    (repo / "README.md").write_text("no git here\n")

    def refetch(git_dir: Path) -> None:
        git(git_dir, "fetch", "-q", "--depth=1", str(saved), base)

    capture = capture_change(repo, base, tmp_path / "scratch", Masker(), INFO, refetch_base=refetch)

    assert capture.changed
    assert [f.path for f in capture.files] == ["README.md"]
