"""The env identity: one stable digest of everything the env image is built from.

CI compares it with the identities of the images it already has to decide "build or
reuse"; the runner reports it as `capabilities.envIdentity` in its claim (contract §2).
Inputs (paths relative to the project root), each reduced to a digest first:

- `Containerfile`, `scripts/install-env` and every `boot/**/*.py`: raw bytes;
- `pyproject.toml`: only what the install reads (`project.requires-python`,
  `project.dependencies`, `project.optional-dependencies`, `tool.uv`), so editing the
  ruff, mypy or pytest tables does not count;
- `uv.lock`: parsed, with the version of the project itself dropped (a version bump of
  the runner is a source change); any dependency change counts;
- `package.json` (its `dependencies`, i.e. the Codex pin) and `package-lock.json`;
- the base image reference (`ARG BASE_IMAGE=...` in the Containerfile).

Nothing under `runner/`, `adapters/`, `bundles/`, `fakes/` or `tests/` is read.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

IDENTITY_SCHEME: Final = "agentrun-env-identity/v1"
INSTALLED_IDENTITY_FILE: Final = "agentrun-env-identity.json"
"""Written by `scripts/install-env` into the installed venv (`sys.prefix`)."""
RAW_INPUTS: Final = ("Containerfile", "scripts/install-env")
_BASE_IMAGE = re.compile(r"^\s*ARG\s+BASE_IMAGE=(?P<ref>\S+)\s*$", re.MULTILINE)


class EnvIdentityError(Exception):
    """An env input is missing or cannot be parsed."""


@dataclass(frozen=True)
class EnvInput:
    """One input of the env identity.

    Attributes:
        name: the input's name, a project-relative path or `base-image`.
        digest: sha256 hex of its (normalized) content.
    """

    name: str
    digest: str


@dataclass(frozen=True)
class EnvIdentity:
    """The env identity with its inputs.

    Attributes:
        identity: sha256 hex over the inputs (64 characters).
        inputs: every input, sorted by name.
        base_image: the base image reference from the Containerfile.
        codex_version: the pinned `@openai/codex` version from `package.json`.
    """

    identity: str
    inputs: tuple[EnvInput, ...]
    base_image: str
    codex_version: str

    def as_json(self) -> dict[str, Any]:
        """The `env-identity --json` document (camelCase keys)."""
        return {
            "envIdentity": self.identity,
            "scheme": IDENTITY_SCHEME,
            "baseImage": self.base_image,
            "codexVersion": self.codex_version,
            "inputs": [{"name": i.name, "digest": i.digest} for i in self.inputs],
        }


def compute_env_identity(root: Path) -> str:
    """The env identity of the project at `root` (see `describe_env_identity`).

    Cheap: reads about a dozen files (~0.1 MB) and parses two TOML and two JSON files,
    a few tens of milliseconds; no subprocess, no network. Call it once per process.

    Args:
        root: the project root (a checkout or the source tree).

    Returns:
        The identity, 64 lowercase hex characters.

    Raises:
        EnvIdentityError: an input is missing or malformed.
    """
    return describe_env_identity(root).identity


def describe_env_identity(root: Path) -> EnvIdentity:
    """The env identity of the project at `root` with each input's digest.

    Args:
        root: the project root.

    Returns:
        The identity and its inputs.

    Raises:
        EnvIdentityError: an input is missing or malformed.
    """
    try:
        containerfile = (root / "Containerfile").read_text(encoding="utf-8")
        inputs = [EnvInput(name, _sha256((root / name).read_bytes())) for name in RAW_INPUTS]
        boot_files = sorted(p for p in (root / "boot").rglob("*.py") if p.is_file())
        if not boot_files:
            raise EnvIdentityError(f"no boot/*.py under {root}")
        inputs += [
            EnvInput(p.relative_to(root).as_posix(), _sha256(p.read_bytes())) for p in boot_files
        ]
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        lock = tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))
        package_json = json.loads((root / "package.json").read_text(encoding="utf-8"))
        package_lock = (root / "package-lock.json").read_bytes()
    except (OSError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise EnvIdentityError(f"cannot read the env inputs under {root}: {exc}") from exc
    match = _BASE_IMAGE.search(containerfile)
    if match is None:
        raise EnvIdentityError("the Containerfile has no `ARG BASE_IMAGE=<ref>` line")
    codex = package_json.get("dependencies", {}).get("@openai/codex")
    if not isinstance(codex, str):
        raise EnvIdentityError("package.json does not pin @openai/codex")
    project = pyproject.get("project", {})
    inputs += [
        EnvInput(
            "pyproject.toml",
            _canonical(
                {
                    "requires-python": project.get("requires-python"),
                    "dependencies": project.get("dependencies", []),
                    "optional-dependencies": project.get("optional-dependencies", {}),
                    "tool.uv": pyproject.get("tool", {}).get("uv"),
                }
            ),
        ),
        EnvInput("uv.lock", _canonical(_lock_without_own_version(lock, project.get("name")))),
        EnvInput("package.json", _canonical({"dependencies": package_json["dependencies"]})),
        EnvInput("package-lock.json", _sha256(package_lock)),
        EnvInput("base-image", _sha256(match["ref"].encode())),
    ]
    ordered = tuple(sorted(inputs, key=lambda i: i.name))
    summary = "".join(f"{i.name}\0{i.digest}\n" for i in ordered)
    identity = _sha256(f"{IDENTITY_SCHEME}\n{summary}".encode())
    return EnvIdentity(identity, ordered, match["ref"], codex)


def installed_env_identity(prefix: Path | None = None) -> str | None:
    """The identity recorded by `scripts/install-env` in the running env, if any.

    Args:
        prefix: the venv prefix; default `sys.prefix` (the interpreter running this).

    Returns:
        The identity the image was built from, or None outside an installed env image.
    """
    path = (prefix or Path(sys.prefix)) / INSTALLED_IDENTITY_FILE
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("envIdentity")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _lock_without_own_version(lock: dict[str, Any], own_name: object) -> dict[str, Any]:
    packages = []
    for package in lock.get("package", []):
        if package.get("name") == own_name:
            package = {k: v for k, v in package.items() if k != "version"}
        packages.append(package)
    return {**lock, "package": packages}


def _canonical(value: Any) -> str:
    return _sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
