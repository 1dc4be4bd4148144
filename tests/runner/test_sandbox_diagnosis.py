"""A failed sandbox preflight names its cause and the deployment's remedy (contract §10)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import anyio
import pytest

from contract.failures import BackendError, FailureKind
from fakes.app_server import LAUNCHER
from runner.turn.sandbox_diagnosis import (
    Cause,
    ProcReadings,
    diagnose,
    find_cause,
    probe_unshare,
    read_proc,
    seccomp_mode,
)
from runner.turn.sandbox_preflight import preflight_sandbox

pytestmark = pytest.mark.anyio

CODEX_GUESS = (
    "Codex's sandbox cannot start: bwrap: No permissions to create new namespace, likely "
    "because the kernel does not allow non-privileged user namespaces. On e.g. debian "
    "this can be enabled with 'sysctl kernel.unprivileged_userns_clone=1'."
)
RUNTIME_DEFAULT = ProcReadings(
    seccomp_mode=2,
    max_user_namespaces=63000,
    unshare_none_errno=errno.EPERM,
    unshare_userns_errno=errno.EPERM,
)
"""Docker's / containerd's default profile on a kernel that allows user namespaces."""


def fake_proc(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


async def test_runtime_default_seccomp_is_the_cause_not_codexs_sysctl_guess() -> None:
    error = await diagnose(CODEX_GUESS, {"profile": ":workspace"}, readings=RUNTIME_DEFAULT)

    assert error.kind is FailureKind.SANDBOX_ERROR
    assert error.detail["cause"] == "seccomp"
    assert error.detail["codexMessage"] == CODEX_GUESS
    assert error.detail["profile"] == ":workspace"
    assert error.detail["readings"]["seccompMode"] == 2
    assert "agentrun-bwrap" in error.message
    assert "AGENTRUN_SANDBOX_ENFORCER=pod" in error.message
    assert "unprivileged_userns_clone=1" not in error.message


@pytest.mark.parametrize(
    ("readings", "cause"),
    [
        (RUNTIME_DEFAULT, Cause.SECCOMP),
        # A profile that allows unshare but filters the CLONE_NEWUSER flag.
        (ProcReadings(seccomp_mode=2, unshare_none_errno=0, unshare_userns_errno=1), Cause.SECCOMP),
        (
            ProcReadings(
                seccomp_mode=2,
                unprivileged_userns_clone=0,
                unshare_none_errno=0,
                unshare_userns_errno=errno.EPERM,
            ),
            Cause.USERNS_DISABLED,
        ),
        (
            ProcReadings(
                seccomp_mode=0,
                max_user_namespaces=0,
                unshare_none_errno=0,
                unshare_userns_errno=errno.ENOSPC,
            ),
            Cause.USERNS_DISABLED,
        ),
        (
            ProcReadings(
                seccomp_mode=2,
                apparmor_restrict=1,
                unshare_none_errno=0,
                unshare_userns_errno=0,
                apparmor_label="cri-containerd.apparmor.d (enforce)",
            ),
            Cause.APPARMOR,
        ),
        (ProcReadings(seccomp_mode=2, unshare_none_errno=0, unshare_userns_errno=0), Cause.OTHER),
        (ProcReadings(), Cause.OTHER),
    ],
    ids=[
        "runtime-default",
        "flag-filter",
        "debian-switch",
        "max-zero",
        "ubuntu-apparmor",
        "all-allowed",
        "nothing-readable",
    ],
)
def test_each_set_of_readings_has_its_cause(readings: ProcReadings, cause: Cause) -> None:
    assert find_cause(readings, CODEX_GUESS) is cause


def test_codexs_missing_bubblewrap_panic_is_bwrap_missing() -> None:
    text = "thread 'main' panicked: bubblewrap is unavailable: no bwrap on PATH"
    assert find_cause(RUNTIME_DEFAULT, text) is Cause.BWRAP_MISSING


@pytest.mark.parametrize("cause", list(Cause))
async def test_every_message_names_a_remedy_and_never_quotes_codex(cause: Cause) -> None:
    readings = {
        Cause.SECCOMP: RUNTIME_DEFAULT,
        Cause.APPARMOR: ProcReadings(apparmor_restrict=1, apparmor_label="unconfined"),
        Cause.USERNS_DISABLED: ProcReadings(unprivileged_userns_clone=0),
        Cause.BWRAP_MISSING: ProcReadings(),
        Cause.OTHER: ProcReadings(),
    }[cause]
    text = "bubblewrap is unavailable" if cause is Cause.BWRAP_MISSING else CODEX_GUESS
    error = await diagnose(text, {}, readings=readings)
    assert error.detail["cause"] == cause
    assert "Remedy:" in error.message
    assert text not in error.message


def test_proc_readings_come_from_status_sysctls_and_the_apparmor_label(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        {
            "self/status": "Name:\tpython\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n",
            "sys/kernel/unprivileged_userns_clone": "1\n",
            "sys/user/max_user_namespaces": "63000\n",
            "sys/kernel/apparmor_restrict_unprivileged_userns": "1\n",
            "self/attr/current": "cri-containerd.apparmor.d (enforce)\n",
        },
    )
    assert read_proc(proc) == ProcReadings(
        seccomp_mode=2,
        unprivileged_userns_clone=1,
        max_user_namespaces=63000,
        apparmor_restrict=1,
        apparmor_label="cri-containerd.apparmor.d (enforce)",
    )


def test_absent_proc_files_are_absent_readings(tmp_path: Path) -> None:
    assert read_proc(fake_proc(tmp_path, {"self/status": "Name:\tx\n"})) == ProcReadings()
    assert seccomp_mode("Seccomp:\tbogus\n") is None


async def test_the_probe_child_reports_the_unshare_results_of_this_machine() -> None:
    with anyio.fail_after(30):
        none_errno, userns_errno = await probe_unshare()
    assert none_errno == 0  # unshare(0) checks nothing: only a seccomp filter refuses it
    assert userns_errno is not None


async def test_a_probe_that_cannot_run_reads_as_unknown(tmp_path: Path) -> None:
    with anyio.fail_after(30):
        assert await probe_unshare(str(tmp_path / "no-python")) == (None, None)


async def test_the_preflights_failure_carries_the_diagnosis(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    home.mkdir()
    scenario = {"sandbox": "unavailable", "turns": [{"steps": []}]}
    (home / "fake-codex-scenario.json").write_text(json.dumps(scenario))
    env = {"PATH": os.environ.get("PATH", ""), "CODEX_HOME": str(home)}
    with anyio.fail_after(60), pytest.raises(BackendError) as caught:
        await preflight_sandbox(LAUNCHER, "workspace-write", env, tmp_path)
    assert caught.value.detail["cause"] in {str(cause) for cause in Cause}
    assert caught.value.detail["codexMessage"]
    assert caught.value.detail["exitCode"] != 0
