"""Job repository URLs map to the mirror, and credentials never survive into display text."""

from __future__ import annotations

import pytest

from bundles.mirror import display_url, redact, resolve_fetch_url
from contract.failures import FailureKind, JobSpecError

MIRROR = "http://git-mirror-http.devops-infra.svc.cluster.local"


@pytest.mark.parametrize(
    "repo_url",
    [
        "https://github.com/pikasTech/HWLAB",
        "https://github.com/pikasTech/HWLAB.git",
        "https://github.com/pikasTech/HWLAB/",
        "https://github.com/pikasTech/HWLAB.git/",
        "git@github.com:pikasTech/HWLAB.git",
        "https://x-access-token:ghp_secret@github.com/pikasTech/HWLAB",
    ],
)
def test_github_url_forms_map_to_owner_repo_git_under_the_mirror(repo_url: str) -> None:
    target = resolve_fetch_url(repo_url, MIRROR + "/")
    assert target.fetch_url == f"{MIRROR}/pikasTech/HWLAB.git"
    assert target.display_url == f"{MIRROR}/pikasTech/HWLAB.git"
    assert target.mirror_base_url == MIRROR
    assert target.repo_key == "pikasTech/HWLAB"
    assert "ghp_secret" not in target.repo_url


def test_a_url_already_under_the_mirror_is_fetched_as_given_and_shown_without_credentials() -> None:
    url = "http://user:hunter2pw@git-mirror-http.devops-infra.svc.cluster.local/o/r.git"
    target = resolve_fetch_url(url, MIRROR)
    assert target.fetch_url == url
    assert target.display_url == f"{MIRROR}/o/r.git"
    assert target.repo_url == f"{MIRROR}/o/r.git"


@pytest.mark.parametrize(
    "repo_url",
    [
        "https://gitlab.com/o/r",
        "https://github.com/o",
        "https://github.com/o/r/tree/main",
        "https://github.com/o/r?x=1",
        "file:///etc/passwd",
        "ext::sh -c touch% /tmp/pwned",
        "http://git-mirror-http.devops-infra.svc.cluster.local:8080/o/r.git",
        "https://token:hunter2pw@example.com/o/r",
    ],
)
def test_anything_else_is_job_spec_invalid_without_echoing_credentials(repo_url: str) -> None:
    with pytest.raises(JobSpecError) as caught:
        resolve_fetch_url(repo_url, MIRROR)
    assert caught.value.kind is FailureKind.JOB_SPEC_INVALID
    assert "hunter2pw" not in str(caught.value)
    assert "hunter2pw" not in repr(caught.value.detail)


def test_a_mirror_base_that_is_not_http_is_job_spec_invalid() -> None:
    with pytest.raises(JobSpecError):
        resolve_fetch_url("https://github.com/o/r", "file:///srv/mirror")


def test_redaction_strips_userinfo_from_any_url_in_text() -> None:
    text = "fatal: unable to access 'https://u:p4ssw0rd@host/x.git/': 500"
    assert redact(text) == "fatal: unable to access 'https://host/x.git/': 500"
    assert redact("token p4ssw0rd leaked", "p4ssw0rd") == "token *** leaked"
    assert display_url("https://u:p4ssw0rd@host:81/x") == "https://host:81/x"
