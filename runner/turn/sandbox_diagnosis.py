"""Why Codex's sandbox cannot start, and what the deployment must change (contract §10).

When the sandbox preflight fails, Codex's own text guesses ("the kernel does not allow
non-privileged user namespaces") and is often wrong: on containerd's `RuntimeDefault` the
kernel allows them and the seccomp profile refuses them. `diagnose` reads the facts
itself: the `Seccomp:` line of `/proc/self/status`, the user-namespace sysctls, the
AppArmor restriction and label, and what a short-lived child process gets from
`unshare(0)` (refused only by a seccomp filter: the kernel checks nothing for no flags)
and `unshare(CLONE_NEWUSER)`. It names one `Cause` and the remedy; Codex's text goes to
`detail.codexMessage`, never the headline. Readings are injectable (`ProcReadings`) so
every cause is tested without the node that produces it.
"""

from __future__ import annotations

import dataclasses
import errno
import subprocess
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import anyio

from contract.failures import BackendError, FailureKind

DOC: Final = "docs/boot.md"
SECCOMP_PROFILE: Final = "deploy/seccomp/agentrun-bwrap-<arch>.json"
POD_ENFORCER: Final = (
    "AGENTRUN_SANDBOX_ENFORCER=pod (contract §13: the pod is then the only boundary)"
)
CLONE_NEWUSER: Final = 0x10000000
PROBE_TIMEOUT_SECONDS: Final = 10.0
PROBE_SOURCE: Final = (
    "import ctypes, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for flags in (0, int(sys.argv[1])):\n"
    "    print(0 if libc.unshare(flags) == 0 else ctypes.get_errno())\n"
)
"""The child's program: one line per `unshare` call, 0 or its errno. Run in a child so
the runner never changes its own namespaces (Python 3.11 has no `os.unshare`)."""


class Cause(StrEnum):
    """`detail.cause` of a `sandbox-error` (contract §10, v1.2)."""

    SECCOMP = "seccomp"
    APPARMOR = "apparmor"
    USERNS_DISABLED = "userns-disabled"
    BWRAP_MISSING = "bwrap-missing"
    OTHER = "other"


@dataclass(frozen=True)
class ProcReadings:
    """What the node lets this process do, read from /proc and a probe child.

    Attributes:
        seccomp_mode: the `Seccomp:` field of /proc/self/status (0 off, 1 strict,
            2 filter), None if unreadable.
        unprivileged_userns_clone: `kernel.unprivileged_userns_clone` (Debian's and
            Ubuntu's switch), None where the kernel has no such sysctl.
        max_user_namespaces: `user.max_user_namespaces`, None if unreadable.
        apparmor_restrict: `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu ≥ 23.10),
            None where absent.
        apparmor_label: /proc/self/attr/current (e.g. `unconfined`,
            `cri-containerd.apparmor.d (enforce)`), None without AppArmor.
        unshare_none_errno: errno of the child's `unshare(0)`, 0 when it worked, None when
            the probe could not run.
        unshare_userns_errno: errno of the child's `unshare(CLONE_NEWUSER)`, likewise.
    """

    seccomp_mode: int | None = None
    unprivileged_userns_clone: int | None = None
    max_user_namespaces: int | None = None
    apparmor_restrict: int | None = None
    apparmor_label: str | None = None
    unshare_none_errno: int | None = None
    unshare_userns_errno: int | None = None

    def as_detail(self) -> dict[str, Any]:
        """The readings for `detail.readings`, camelCase, absent ones left out."""
        names = {
            "seccomp_mode": "seccompMode",
            "unprivileged_userns_clone": "unprivilegedUsernsClone",
            "max_user_namespaces": "maxUserNamespaces",
            "apparmor_restrict": "apparmorRestrictUnprivilegedUserns",
            "apparmor_label": "apparmorLabel",
            "unshare_none_errno": "unshareNoFlagsErrno",
            "unshare_userns_errno": "unshareNewUserErrno",
        }
        return {
            camel: getattr(self, field)
            for field, camel in names.items()
            if getattr(self, field) is not None
        }


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def seccomp_mode(status_text: str) -> int | None:
    """The `Seccomp:` field of a /proc/PID/status text, or None."""
    for line in status_text.splitlines():
        key, _, value = line.partition(":")
        if key == "Seccomp" and value.strip().isdigit():
            return int(value.strip())
    return None


def read_proc(proc: Path = Path("/proc")) -> ProcReadings:
    """The /proc readings (no probe child): see `ProcReadings`."""
    status = _read(proc / "self" / "status")
    return ProcReadings(
        seccomp_mode=seccomp_mode(status) if status is not None else None,
        unprivileged_userns_clone=_read_int(proc / "sys/kernel/unprivileged_userns_clone"),
        max_user_namespaces=_read_int(proc / "sys/user/max_user_namespaces"),
        apparmor_restrict=_read_int(proc / "sys/kernel/apparmor_restrict_unprivileged_userns"),
        apparmor_label=_read(proc / "self/attr/current"),
    )


async def probe_unshare(python: str = sys.executable) -> tuple[int | None, int | None]:
    """`(errno of unshare(0), errno of unshare(CLONE_NEWUSER))` in a child; 0 = it worked.

    Returns `(None, None)` when the child cannot run or says nothing parseable.
    """
    try:
        with anyio.fail_after(PROBE_TIMEOUT_SECONDS):
            result = await anyio.run_process(
                [python, "-I", "-c", PROBE_SOURCE, str(CLONE_NEWUSER)],
                check=False,
                stdin=subprocess.DEVNULL,
            )
        first, second = result.stdout.decode().split()
        return int(first), int(second)
    except (OSError, TimeoutError, ValueError):
        return None, None


def find_cause(readings: ProcReadings, codex_text: str) -> Cause:
    """The cause, from the readings first and Codex's text only for a missing bubblewrap.

    Order: bubblewrap missing (Codex's panic); a seccomp filter refusing even
    `unshare(0)` (Docker's/containerd's default: `unshare` needs `CAP_SYS_ADMIN`); the
    kernel's switches off; AppArmor's restriction; a filter refusing only the
    `CLONE_NEWUSER` flag; else `other`.
    """
    if "bubblewrap is unavailable" in codex_text or "bwrap: No such file" in codex_text:
        return Cause.BWRAP_MISSING
    filtered = readings.seccomp_mode == 2
    if filtered and readings.unshare_none_errno == errno.EPERM:
        return Cause.SECCOMP
    if readings.unprivileged_userns_clone == 0 or readings.max_user_namespaces == 0:
        return Cause.USERNS_DISABLED
    if readings.apparmor_restrict == 1:
        return Cause.APPARMOR
    if filtered and readings.unshare_userns_errno == errno.EPERM:
        return Cause.SECCOMP
    if readings.unshare_userns_errno == errno.ENOSPC:
        return Cause.USERNS_DISABLED  # user.max_user_namespaces reached
    return Cause.OTHER


def headline(cause: Cause, readings: ProcReadings) -> str:
    """The `sandbox-error` message: the cause and the deployment's remedy."""
    if cause is Cause.SECCOMP:
        return (
            "Codex's sandbox cannot start: the pod's seccomp profile refuses the user "
            "namespaces bubblewrap creates (unshare gets EPERM under a seccomp filter; "
            "the kernel allows them). Remedy: run the pod with the shipped Localhost "
            f"profile {SECCOMP_PROFILE} (JobParams.seccomp_localhost_profile; {DOC}, "
            f'"Codex\'s sandbox in the pod"), or set {POD_ENFORCER}'
        )
    if cause is Cause.APPARMOR:
        return (
            "Codex's sandbox cannot start: an AppArmor policy refuses unprivileged user "
            "namespaces (kernel.apparmor_restrict_unprivileged_userns=1, label "
            f"{readings.apparmor_label or 'unknown'}). Remedy: give the pod an AppArmor "
            "profile that allows them (JobParams.apparmor_profile, e.g. a Localhost "
            f"profile with `userns,` like Ubuntu's bwrap-userns-restrict; {DOC}, "
            f'"AppArmor nodes"), or set {POD_ENFORCER}'
        )
    if cause is Cause.USERNS_DISABLED:
        return (
            "Codex's sandbox cannot start: the node's kernel has unprivileged user "
            f"namespaces off (kernel.unprivileged_userns_clone="
            f"{_shown(readings.unprivileged_userns_clone)}, user.max_user_namespaces="
            f"{_shown(readings.max_user_namespaces)}). Remedy: enable them on the node "
            "(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), "
            f"or set {POD_ENFORCER}"
        )
    if cause is Cause.BWRAP_MISSING:
        return (
            "Codex's sandbox cannot start: bubblewrap is missing (no codex-resources/bwrap "
            "beside the Codex binary and no bwrap on PATH). Remedy: run the env image's "
            "Codex (/opt/agentrun/bin/codex, or AGENTRUN_CODEX_BIN naming a whole Codex "
            "package)"
        )
    return (
        "Codex's sandbox cannot start, and neither seccomp, AppArmor nor the kernel's "
        f"user-namespace switches explain it (Codex's text is in detail.codexMessage; {DOC}, "
        f'"Codex\'s sandbox in the pod"). Remedy: fix the node, or set {POD_ENFORCER}'
    )


def _shown(value: int | None) -> str:
    return "absent" if value is None else str(value)


async def diagnose(
    codex_text: str,
    detail: dict[str, Any],
    *,
    readings: ProcReadings | None = None,
) -> BackendError:
    """The `sandbox-error` for a failed preflight, with its cause and remedy.

    Args:
        codex_text: Codex's own account (stderr of `codex sandbox`), unmasked: the event
            log masks `detail` like every field.
        detail: the preflight's detail (`profile`, `check`, `exitCode`), kept.
        readings: injected readings (tests); default: `read_proc()` plus `probe_unshare()`.

    Returns:
        `BackendError(sandbox-error)`: message `headline(cause)`, `detail.cause`,
        `detail.codexMessage`, `detail.readings`.
    """
    if readings is None:
        none_errno, userns_errno = await probe_unshare()
        readings = dataclasses.replace(
            read_proc(), unshare_none_errno=none_errno, unshare_userns_errno=userns_errno
        )
    cause = find_cause(readings, codex_text)
    return BackendError(
        FailureKind.SANDBOX_ERROR,
        headline(cause, readings),
        detail=detail
        | {"cause": str(cause), "codexMessage": codex_text, "readings": readings.as_detail()},
    )
