"""What the agent's commands may reach (contract §13): the Codex permission profile.

Under the `codex` enforcer and a sandboxed `backend.sandbox` (`workspace-write`,
`read-only`), every command runs in Codex's bubblewrap sandbox under a named permission
profile, `agentrun`, given to `codex app-server` (and to the preflight's `codex sandbox`)
as `-c` overrides, the level every thread of the process shares, sub-agents included:

    default_permissions = "agentrun"
    [permissions.agentrun]            extends = ":workspace" | ":read-only"
    [permissions.agentrun.filesystem] "/real/path" = "none" | "read"

Facts of Codex 0.171 (checked the same on 0.169 and 0.163 with `codex sandbox -P`): a
`"none"` path is unreadable and unwritable even nested under a writable root (`/tmp`);
`"read"` makes a path read-only under a writable root; a `"read"` entry nested under a
`"none"` one does not re-open it; a `"none"` path that does not exist is a placeholder
bubblewrap creates (under a writable parent) or a failure of every command (under a
read-only one), so each path listed exists before the spawn; a `"none"` path that is a
symlink under a writable root is a fatal error, so every path is resolved first; and
`sandbox_mode` cannot be combined with `default_permissions`, so threads then send no
`sandbox` (`runner.turn.backend_run`).

Denied (`"none"`): the runner token file (its whole directory for a Secret projection
with `..data`), `AGENTRUN_PROVIDER_HOME`, every provider file copied into `CODEX_HOME`,
the runner's spool (`{runtime}/.agentrun`: events, the workspace capture's scratch repo,
git scratch), Codex's own state (its sqlite databases and logs, moved by `sqlite_home`
and `log_dir` into `{runtime}/.agentrun-codex-state`), the rollouts (`sessions/`, the
session cache's real path). Read-only (`"read"`): `CODEX_HOME` itself (commands need its
`tmp/arg0-linux` helpers; nothing in it may be forged), the boot checkout and the
runner's own source and Python prefix. Shell snapshots (`CODEX_HOME/shell_snapshots`) stay
readable: commands source them (they carry `PATH` with Codex's `codex-path`), and they hold
only the backend's environment (`backend_environment`: no token, no provider key; the
transient env, which is meant for the commands). Under the `pod`
enforcer there is no profile: Codex runs with `externalSandbox` (the pod is the only
boundary, §13).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.failures import FailureKind, RunnerError
from runner.eventlog.spool import SPOOL_DIRNAME

PROFILE_NAME = "agentrun"
"""Our permission profile's id in Codex's config (`[permissions.agentrun]`)."""
BUILTIN_PROFILES = {"workspace-write": ":workspace", "read-only": ":read-only"}
"""`backend.sandbox` → the built-in profile ours `extends` (Codex 0.171)."""
ENFORCERS = ("codex", "pod")
"""`AGENTRUN_SANDBOX_ENFORCER` values (§1); `codex` is the default."""
CODEX_STATE_DIRNAME = ".agentrun-codex-state"
"""Codex's sqlite databases and logs (`sqlite_home`, `log_dir`), out of `CODEX_HOME`'s top."""
SESSIONS_DIRNAME = "sessions"
BROAD_PATHS = ("/", "/tmp", "/var", "/var/tmp", "/run", "/home", "/root", "/usr", "/opt", "/etc")
"""Directories never masked as a whole (masking one would break every command)."""


class SandboxLayoutError(RunnerError):
    """The layout puts the runner's private state where no mask can hold (§13)."""

    def __init__(self, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(FailureKind.RUNNER_ENV_INVALID, message, detail=detail or {})


@dataclass(frozen=True)
class Masks:
    """Resolved paths of the profile: `none` (no access) and `read` (read-only)."""

    none: tuple[Path, ...] = ()
    read: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SandboxPolicy:
    """How the job's commands are confined.

    Attributes:
        mode: the job's `backend.sandbox` (`workspace-write`, `read-only`,
            `danger-full-access`).
        enforcer: `codex` or `pod` (§1 `AGENTRUN_SANDBOX_ENFORCER`).
        config_args: `-c key=value` arguments for `codex app-server` and `codex sandbox`
            (empty when no profile is used).
        masks: the profile's filesystem entries.
    """

    mode: str
    enforcer: str
    config_args: tuple[str, ...] = ()
    masks: Masks = field(default_factory=Masks)

    @property
    def profile(self) -> str | None:
        """The permission profile's name, when the commands run under one."""
        return PROFILE_NAME if self.config_args else None

    @property
    def preflight(self) -> bool:
        """Whether Codex's own sandbox must be checked before the model is called."""
        return self.enforcer == "codex" and self.mode in BUILTIN_PROFILES

    def report(self) -> dict[str, Any]:
        """`runner.started.sandbox` / `backend.started.sandbox` (§9)."""
        return sandbox_report(self.mode, self.enforcer)

    def thread_fields(self) -> dict[str, Any]:
        """What `thread/start` / `thread/resume` say about the sandbox.

        With our profile, nothing (`sandbox` cannot be combined with
        `default_permissions`); under `pod`, nothing either (`turn_fields` carries it);
        otherwise the mode itself.
        """
        if self.profile is not None or self.enforcer == "pod":
            return {}
        return {"sandbox": self.mode}

    def turn_fields(self, config_overrides: Mapping[str, Any]) -> dict[str, Any]:
        """`turn/start` fields: `sandboxPolicy` `externalSandbox` under the `pod` enforcer.

        `networkAccess` (Codex 0.171 `ExternalSandboxSandboxPolicy`, `restricted` or
        `enabled`) is what the mode implies: `enabled` only for `danger-full-access` or a
        job that turns `sandbox_workspace_write.network_access` on.
        """
        if self.enforcer != "pod":
            return {}
        network = self.mode == "danger-full-access" or (
            self.mode == "workspace-write"
            and config_overrides.get("sandbox_workspace_write.network_access") is True
        )
        return {
            "sandboxPolicy": {
                "type": "externalSandbox",
                "networkAccess": "enabled" if network else "restricted",
            }
        }


def sandbox_report(mode: str | None, enforcer: str) -> dict[str, Any]:
    """`{mode, enforcer, mechanism, denyRead}` (§9 `runner.started.sandbox`).

    `mechanism` is `bubblewrap` for the `codex` enforcer and `pod` otherwise; `none` when
    the mode runs no sandbox at all (`danger-full-access`). `denyRead` says whether the
    runner's secrets and state are masked from the agent's commands (§13).
    """
    sandboxed = mode in BUILTIN_PROFILES
    if enforcer == "pod":
        mechanism = "pod"
    else:
        mechanism = "bubblewrap" if sandboxed or mode is None else "none"
    return {
        "mode": mode,
        "enforcer": enforcer,
        "mechanism": mechanism,
        "denyRead": enforcer == "codex" and (sandboxed or mode is None),
    }


def parse_enforcer(value: str | None) -> str:
    """`AGENTRUN_SANDBOX_ENFORCER` (§1): `codex` when unset.

    Raises:
        ValueError: any other value than `codex` or `pod`.
    """
    enforcer = (value or "").strip() or "codex"
    if enforcer not in ENFORCERS:
        raise ValueError(f"AGENTRUN_SANDBOX_ENFORCER must be codex or pod, not {enforcer!r}")
    return enforcer


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for these characters)."""
    return json.dumps(value, ensure_ascii=False)


def profile_config_args(mode: str, masks: Masks, runtime_home: Path) -> tuple[str, ...]:
    """The `-c` overrides defining and selecting our profile for `mode`.

    Args:
        mode: `workspace-write` or `read-only`.
        masks: resolved, existing paths.
        runtime_home: `CODEX_HOME` (Codex's state goes to `CODEX_STATE_DIRNAME` in it).
    """
    entries = {str(p): "read" for p in masks.read} | {str(p): "none" for p in masks.none}
    table = ",".join(f"{toml_string(path)}={toml_string(m)}" for path, m in entries.items())
    state = runtime_home / CODEX_STATE_DIRNAME
    args = [
        f"default_permissions={toml_string(PROFILE_NAME)}",
        f"permissions.{PROFILE_NAME}.extends={toml_string(BUILTIN_PROFILES[mode])}",
        f"permissions.{PROFILE_NAME}.filesystem={{{table}}}",
        f"sqlite_home={toml_string(str(state))}",
        f"log_dir={toml_string(str(state / 'log'))}",
    ]
    return tuple(arg for pair in (("-c", a) for a in args) for arg in pair)


def is_broad(path: Path, keep: Iterable[Path] = ()) -> bool:
    """Whether masking `path` would mask a root the agent works in (or the whole system).

    Broad: `BROAD_PATHS`, the temp dir, `$HOME`, and any ancestor of (or equal to) one of
    `keep` (the workspace, the runtime home).
    """
    resolved = path.resolve()
    broad = {Path(p) for p in BROAD_PATHS} | {Path(tempfile.gettempdir()).resolve()}
    with_home = broad | {Path.home().resolve()}
    if resolved in with_home:
        return True
    return any(k.resolve() == resolved or resolved in k.resolve().parents for k in keep)


def _inside(path: Path, root: Path) -> bool:
    p, r = path.resolve(), root.resolve()
    return p == r or r in p.parents


def check_layout(
    *,
    runtime_home: Path,
    workspace: Path,
    token_file: Path,
    provider_home: Path | None,
    session_cache: Path | None,
) -> None:
    """Refuse, before the claim, a layout whose private state no mask can keep (§13).

    Refused: the runtime home and the workspace inside one another; the token file,
    the provider home or the session cache inside the workspace (the agent's own root,
    which the workspace capture reads too) or the workspace inside them; a runtime home,
    provider home or session cache that is a broad directory (`is_broad`: masking it
    would mask `/tmp` or `/`).

    Raises:
        SandboxLayoutError: `runner-env-invalid`, naming the variables.
    """

    def refuse(message: str, *names: str) -> SandboxLayoutError:
        return SandboxLayoutError(
            f"{message}: the runner's private state would be within the agent's reach (§13)",
            detail={"names": list(names)},
        )

    if _inside(runtime_home, workspace) or _inside(workspace, runtime_home):
        raise refuse(
            "AGENTRUN_RUNTIME_HOME and AGENTRUN_WORKSPACE overlap",
            "AGENTRUN_RUNTIME_HOME",
            "AGENTRUN_WORKSPACE",
        )
    named = [("AGENTRUN_RUNNER_TOKEN_FILE", token_file)]
    named += [("AGENTRUN_PROVIDER_HOME", provider_home)] if provider_home else []
    named += [("AGENTRUN_SESSION_CACHE", session_cache)] if session_cache else []
    for name, path in named:
        if _inside(path, workspace) or _inside(workspace, path):
            raise refuse(f"{name} and AGENTRUN_WORKSPACE overlap", name, "AGENTRUN_WORKSPACE")
    for name, path in [("AGENTRUN_RUNTIME_HOME", runtime_home), *named[1:]]:
        if is_broad(path):
            raise refuse(f"{name} is a system or temporary root ({path})", name)


def _token_mask(token_file: Path, keep: Iterable[Path]) -> Path:
    """The token file, or its directory for a Secret projection (`..data`) unless broad."""
    parent = token_file.parent
    if (parent / "..data").exists() and not is_broad(parent, keep):
        return parent.resolve()
    return token_file.resolve()


def own_code_paths() -> list[Path]:
    """The runner's source checkout and its Python prefix (kept read-only)."""
    source = Path(__file__).resolve().parents[2]
    return [source, Path(sys.prefix).resolve()]


def private_masks(
    *,
    runtime_home: Path,
    workspace: Path,
    token_file: Path,
    provider_home: Path | None,
    session_cache: Path | None,
    copied: Iterable[str] = (),
    boot_checkout: Path | None = None,
) -> Masks:
    """The profile's entries for this layout; creates the directories it must list.

    Args:
        runtime_home: `CODEX_HOME` (after `prepare_codex_home`).
        workspace: `AGENTRUN_WORKSPACE` (never masked, nor any ancestor of it).
        token_file, provider_home, session_cache: §1 paths.
        copied: names of the provider files copied into `CODEX_HOME`.
        boot_checkout: `AGENTRUN_BOOT_CHECKOUT`, the runner's own source when booted.

    Returns:
        Resolved paths that exist; symlinks are never listed (their targets are).
    """
    keep = (workspace, runtime_home)
    for name in (SPOOL_DIRNAME, CODEX_STATE_DIRNAME, SESSIONS_DIRNAME):
        (runtime_home / name).mkdir(parents=True, exist_ok=True)
    none: list[Path] = [_token_mask(token_file, keep)]
    if provider_home is not None:
        none.append(provider_home.resolve())
    none += [runtime_home / name for name in copied]
    none += [runtime_home / SPOOL_DIRNAME, runtime_home / CODEX_STATE_DIRNAME]
    none.append((runtime_home / SESSIONS_DIRNAME).resolve())
    if session_cache is not None:
        none.append(session_cache.resolve())
    kept = [k.resolve() for k in keep]

    def holds_a_kept_root(path: Path) -> bool:
        return any(path == k or path in k.parents for k in kept)

    denied = _outermost(
        p.resolve() for p in none if p.resolve().exists() and not is_broad(p.resolve(), keep)
    )
    read = [p.resolve() for p in [*own_code_paths(), boot_checkout] if p is not None]
    read = [p for p in read if p.exists() and not holds_a_kept_root(p)]
    read = _unique([runtime_home.resolve(), *read])
    return Masks(none=tuple(denied), read=tuple(p for p in read if p not in denied))


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """`paths` without duplicates and without any path inside another one."""
    unique = _unique(paths)
    return [p for p in unique if not any(o in p.parents for o in unique)]


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(path, None)
    return list(seen)


def build_policy(mode: str, enforcer: str, masks: Masks, runtime_home: Path) -> SandboxPolicy:
    """The job's policy: our profile for a sandboxed mode under `codex`, else none."""
    if enforcer == "codex" and mode in BUILTIN_PROFILES:
        return SandboxPolicy(mode, enforcer, profile_config_args(mode, masks, runtime_home), masks)
    return SandboxPolicy(mode, enforcer)
