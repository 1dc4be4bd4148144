"""Boot's env validation, URL mapping, failure line and its agreement with contract §10."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boot.config import BootConfig, mirror_fetch_url, validate_commit
from boot.errors import RETRYABLE, BootFailure, strip_url_credentials
from contract.failures import FailureKind

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_boot_failure_kinds_are_contract_kinds_with_the_same_retryable_flag() -> None:
    for kind, retryable in RETRYABLE.items():
        assert FailureKind(kind).retryable is retryable


@pytest.mark.parametrize(
    "value", [None, "", "   ", "main", COMMIT[:39], COMMIT + "0", "g" * 40, f"{COMMIT[:-1]} "]
)
def test_a_boot_commit_that_is_not_40_hex_is_boot_commit_invalid(value: str | None) -> None:
    with pytest.raises(BootFailure) as caught:
        validate_commit(value)
    assert caught.value.kind == "boot-commit-invalid"


def test_a_boot_commit_is_normalized_to_lowercase() -> None:
    assert validate_commit(f" {COMMIT.upper()}\n") == COMMIT


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("https://github.com/o/r", "http://mirror.svc/o/r.git"),
        ("https://github.com/o/r.git", "http://mirror.svc/o/r.git"),
        ("https://github.com/o/r/", "http://mirror.svc/o/r.git"),
        ("https://GitHub.com/Owner/Repo.Name", "http://mirror.svc/Owner/Repo.Name.git"),
        ("http://git.internal/o/r.git", "http://git.internal/o/r.git"),
    ],
)
def test_a_github_source_maps_to_the_mirror_and_others_are_fetched_as_given(
    source: str, expected: str
) -> None:
    assert mirror_fetch_url(source, "http://mirror.svc") == expected


def test_a_github_source_without_a_mirror_is_refused() -> None:
    with pytest.raises(BootFailure) as caught:
        mirror_fetch_url("https://github.com/o/r", None)
    assert caught.value.kind == "boot-fetch-failed"


def test_url_credentials_are_stripped_from_messages() -> None:
    text = "fatal: unable to access 'https://user:pa55@mirror.svc/o/r.git/' and http://tok@x/"
    assert strip_url_credentials(text) == (
        "fatal: unable to access 'https://mirror.svc/o/r.git/' and http://x/"
    )
    failure = BootFailure("boot-fetch-failed", text)
    assert "pa55" not in failure.json_line()


def test_the_failure_line_is_one_json_line_even_for_multiline_messages() -> None:
    line = BootFailure("boot-fetch-failed", "first\nsecond").json_line()
    assert "\n" not in line
    assert json.loads(line) == {
        "failureKind": "boot-fetch-failed",
        "message": "first\nsecond",
        "detail": {"retryable": True},
    }


def test_the_config_reads_the_contract_env_and_the_boot_knobs(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    config = BootConfig.from_env(
        {
            "AGENTRUN_BOOT_COMMIT": COMMIT,
            "AGENTRUN_RUNNER_TOKEN_FILE": str(token),
            "AGENTRUN_SOURCE_REPO_URL": "https://github.com/o/r",
            "AGENTRUN_GIT_MIRROR_URL": "http://mirror.svc/",
            "AGENTRUN_BOOT_DIR": str(tmp_path / "boot"),
            "AGENTRUN_BOOT_FETCH_TIMEOUT_SECONDS": "7.5",
            "AGENTRUN_BOOT_FETCH_ATTEMPTS": "2",
            "AGENTRUN_BOOT_EXEC": '["/bin/echo", "hi"]',
        }
    )
    assert config.fetch_url == "http://mirror.svc/o/r.git"
    assert config.mirror_base_url == "http://mirror.svc"
    assert config.boot_dir == tmp_path / "boot"
    assert (config.fetch_timeout_seconds, config.fetch_attempts) == (7.5, 2)
    assert config.exec_argv == ("/bin/echo", "hi")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AGENTRUN_BOOT_FETCH_TIMEOUT_SECONDS", "0"),
        ("AGENTRUN_BOOT_FETCH_ATTEMPTS", "many"),
        ("AGENTRUN_BOOT_EXEC", '["relative/python"]'),
        ("AGENTRUN_SOURCE_REPO_URL", ""),
    ],
)
def test_a_malformed_boot_knob_is_a_boot_failure(tmp_path: Path, name: str, value: str) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    env = {
        "AGENTRUN_BOOT_COMMIT": COMMIT,
        "AGENTRUN_RUNNER_TOKEN_FILE": str(token),
        "AGENTRUN_SOURCE_REPO_URL": "http://git.internal/o/r.git",
        name: value,
    }
    with pytest.raises(BootFailure):
        BootConfig.from_env(env)
