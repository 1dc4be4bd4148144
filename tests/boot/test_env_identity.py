"""The env identity changes with the env image's inputs and with nothing else."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from boot.env_identity import (
    EnvIdentityError,
    compute_env_identity,
    describe_env_identity,
    installed_env_identity,
)
from tests.boot.source_repo import PROJECT_ROOT

ENV_INPUT_FILES = (
    "Containerfile",
    "scripts/install-env",
    "pyproject.toml",
    "uv.lock",
    "package.json",
    "package-lock.json",
)


def copy_env_inputs(destination: Path) -> Path:
    """Copy the env inputs of this project, plus some runner source, to `destination`."""
    for name in ENV_INPUT_FILES:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, destination / name)
    shutil.copytree(
        PROJECT_ROOT / "boot", destination / "boot", ignore=shutil.ignore_patterns("__pycache__")
    )
    for source in ("runner/__init__.py", "adapters/__init__.py"):
        (destination / source).parent.mkdir(parents=True, exist_ok=True)
        (destination / source).write_text('"""source"""\n')
    return destination


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copy_env_inputs(tmp_path / "tree")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def change_version(tree: Path) -> None:
    edit(tree / "pyproject.toml", 'version = "0.1.0"', 'version = "0.2.0"')
    edit(
        tree / "uv.lock",
        'name = "agentrun-runner"\nversion = "0.1.0"',
        'name = "agentrun-runner"\nversion = "0.2.0"',
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_env_identity_is_stable_across_runs_and_copies(tree: Path) -> None:
    first = compute_env_identity(tree)
    assert first == compute_env_identity(tree)
    assert first == compute_env_identity(PROJECT_ROOT)
    assert len(first) == 64
    assert int(first, 16) >= 0


IRRELEVANT: dict[str, Callable[[Path], object]] = {
    "runner source": lambda t: (t / "runner" / "__init__.py").write_text("x = 1\n"),
    "new runner module": lambda t: (t / "runner" / "loop.py").write_text("y = 2\n"),
    "adapters source": lambda t: (t / "adapters" / "__init__.py").write_text("z = 3\n"),
    "tests": lambda t: write(t / "tests" / "test_x.py", ""),
    "ruff config": lambda t: edit(t / "pyproject.toml", "line-length = 100", "line-length = 99"),
    "project version": change_version,
}


@pytest.mark.parametrize("change", list(IRRELEVANT), ids=list(IRRELEVANT))
def test_source_and_tool_config_changes_do_not_change_the_env_identity(
    tree: Path, change: str
) -> None:
    before = compute_env_identity(tree)
    IRRELEVANT[change](tree)
    assert compute_env_identity(tree) == before


RELEVANT: dict[str, Callable[[Path], object]] = {
    "a new dependency": lambda t: edit(
        t / "pyproject.toml", '"anyio>=4.4",', '"anyio>=4.4",\n    "attrs>=23",'
    ),
    "a locked version": lambda t: edit(
        t / "uv.lock", 'name = "anyio"\nversion = "', 'name = "anyio"\nversion = "0'
    ),
    "the Codex pin": lambda t: edit(t / "package.json", '"0.171.0"', '"0.170.0"'),
    "the Codex lock": lambda t: edit(t / "package-lock.json", '"0.171.0"', '"0.170.0"'),
    "the base image": lambda t: edit(t / "Containerfile", "ARG BASE_IMAGE=", "ARG BASE_IMAGE=x"),
    "the install script": lambda t: edit(t / "scripts/install-env", "set -euo pipefail", "set -eu"),
    "the boot package": lambda t: (t / "boot" / "extra.py").write_text(""),
}


@pytest.mark.parametrize("change", list(RELEVANT), ids=list(RELEVANT))
def test_env_input_changes_change_the_env_identity(tree: Path, change: str) -> None:
    before = compute_env_identity(tree)
    RELEVANT[change](tree)
    assert compute_env_identity(tree) != before


def test_a_tree_without_env_inputs_has_no_identity(tmp_path: Path) -> None:
    with pytest.raises(EnvIdentityError):
        compute_env_identity(tmp_path)


def test_the_cli_prints_the_identity_and_with_json_its_inputs(tree: Path) -> None:
    boot = [sys.executable, "-m", "boot", "env-identity", "--root", str(tree)]
    plain = subprocess.run(boot, capture_output=True, check=True, timeout=60)
    as_json = subprocess.run([*boot, "--json"], capture_output=True, check=True, timeout=60)
    identity = compute_env_identity(tree)
    assert plain.stdout.decode().strip() == identity
    document = json.loads(as_json.stdout)
    assert document["envIdentity"] == identity
    assert document["codexVersion"] == "0.171.0"
    assert document["baseImage"] == describe_env_identity(tree).base_image
    names = {entry["name"] for entry in document["inputs"]}
    assert {*ENV_INPUT_FILES, "base-image", "boot/cli.py"} <= names
    assert not any(name.startswith(("runner/", "adapters/")) for name in names)


def test_the_installed_identity_is_read_from_the_venv_record(tmp_path: Path) -> None:
    assert installed_env_identity(tmp_path) is None
    (tmp_path / "agentrun-env-identity.json").write_text('{"envIdentity": "abc"}')
    assert installed_env_identity(tmp_path) == "abc"
