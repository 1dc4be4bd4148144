"""Prepare `CODEX_HOME` for the backend (contract §1) and the backend's environment.

The provider home (a read-only Secret projection holding `auth.json`, `config.toml`, …)
is copied file by file into the writable runtime home, each copy mode 0600; contents are
never printed. When `AGENTRUN_SESSION_CACHE` is set, `CODEX_HOME/sessions` is a link to
`{cache}/sessions`, so that the rollouts outlive the pod and a later attempt of the same
session can `thread/resume` (a copied home with `config.toml` plus `sessions/` is enough
to resume, codex-app-server.md §10).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from contract.failures import SecretError

PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "RUST_LOG")


@dataclass
class CodexHome:
    """The prepared home.

    Attributes:
        path: the `CODEX_HOME` directory.
        copied: names of the provider files copied in.
        credentials: secret name → value found in `auth.json` (for the masker only).
        sessions_in_cache: whether `sessions/` lives in the session cache.
    """

    path: Path
    copied: list[str] = field(default_factory=list)
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    sessions_in_cache: bool = False


def prepare_codex_home(
    runtime_home: Path, provider_home: Path | None, session_cache: Path | None
) -> CodexHome:
    """Copy the provider files into `runtime_home` (0600) and link the session cache.

    Args:
        runtime_home: `AGENTRUN_RUNTIME_HOME`; becomes `CODEX_HOME`.
        provider_home: `AGENTRUN_PROVIDER_HOME`, or None when the job needs no provider
            files (then Codex runs on its defaults).
        session_cache: `AGENTRUN_SESSION_CACHE`, or None.

    Raises:
        SecretError: the provider home is named but missing or unreadable
            (`secret-missing`).
    """
    runtime_home.mkdir(parents=True, exist_ok=True)
    home = CodexHome(path=runtime_home)
    if provider_home is not None:
        try:
            entries = sorted(provider_home.iterdir())
        except OSError as exc:
            raise SecretError(
                f"provider home {provider_home} is missing or unreadable ({exc.strerror})",
                detail={"name": "AGENTRUN_PROVIDER_HOME"},
            ) from exc
        for entry in entries:
            # Secret projections put files behind `..data` symlinks; follow them, but
            # copy only regular files from the top level.
            if entry.name.startswith("..") or not entry.is_file():
                continue
            target = runtime_home / entry.name
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out, entry.open("rb") as src:
                    shutil.copyfileobj(src, out)
                os.chmod(target, 0o600)
            except OSError as exc:
                raise SecretError(
                    f"provider file {entry.name} could not be copied ({exc.strerror})",
                    detail={"name": entry.name},
                ) from exc
            home.copied.append(entry.name)
        home.credentials = _auth_credentials(runtime_home / "auth.json")
    if session_cache is not None:
        cached = session_cache / "sessions"
        cached.mkdir(parents=True, exist_ok=True)
        link = runtime_home / "sessions"
        if link.is_symlink() or not link.exists():
            if link.is_symlink():
                link.unlink()
            link.symlink_to(cached, target_is_directory=True)
        home.sessions_in_cache = True
    return home


def _auth_credentials(path: Path) -> dict[str, str]:
    """Every string value of `auth.json`, by `auth.json:<key path>` (to be masked)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    found: dict[str, str] = {}

    def walk(value: object, name: str) -> None:
        if isinstance(value, str):
            found[name] = value
        elif isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{name}.{key}")

    walk(data, "auth.json")
    return found


def backend_environment(
    home: CodexHome, transient: dict[str, str], proxy: dict[str, str]
) -> dict[str, str]:
    """The backend's whole environment: a few basics, `CODEX_HOME`, transient, proxy.

    Nothing else of the runner's environment is inherited (not the `AGENTRUN_*`
    variables, not the token file path).
    """
    env = {name: os.environ[name] for name in PASSTHROUGH_ENV if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = str(home.path)
    env["CODEX_HOME"] = str(home.path)
    env.update(proxy)
    env.update(transient)
    return env


def remove_credentials(home: CodexHome, state_dirs: tuple[str, ...] = ()) -> None:
    """Delete the provider files copied in and Codex's per-attempt state, once Codex is gone.

    In a layout several attempts share (the tests' stack, the demo), an earlier attempt's
    runtime home is a plain directory to a later attempt's agent: nothing of it may hold a
    credential then (§13). A runner killed before this leaves them behind.

    Args:
        home: the prepared home.
        state_dirs: directories in it to delete too (Codex's sqlite state and logs).
    """
    for name in home.copied:
        with contextlib.suppress(OSError):
            (home.path / name).unlink()
    for name in state_dirs:
        shutil.rmtree(home.path / name, ignore_errors=True)


def link_workspace_skills(home: CodexHome, workspace: Path) -> list[str]:
    """Make the bundles' skills visible to Codex; returns the linked skill names.

    Bundles put skills at `AGENTRUN_WORKSPACE/.agents/skills/<name>` (the only way
    skills reach the agent), but the backend's cwd is the subject repository, whose git
    root stops Codex 0.169's repository skill discovery above it. Codex also reads user
    skills from `CODEX_HOME/skills/`, so each bundle skill directory is linked there.
    """
    source = workspace / ".agents" / "skills"
    if not source.is_dir():
        return []
    target_root = home.path / "skills"
    target_root.mkdir(exist_ok=True)
    linked: list[str] = []
    for skill in sorted(source.iterdir()):
        if not skill.is_dir() or skill.name.startswith("."):
            continue
        link = target_root / skill.name
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            continue
        link.symlink_to(skill.resolve(), target_is_directory=True)
        linked.append(skill.name)
    return linked
