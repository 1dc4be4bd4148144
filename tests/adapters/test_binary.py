"""The default Codex is the runner's installed environment's, then the npm pin, then PyPI."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from adapters.codex import binary
from adapters.codex.binary import resolve_codex_binary
from contract.failures import BackendError, FailureKind
from tests.real_codex import REAL_CODEX


@pytest.fixture(autouse=True)
def _x86_64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")


def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    return path


def _npm(root: Path) -> Path:
    return _file(
        root / "node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
    )


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """An install-env prefix with its venv, a source checkout and a dev checkout."""
    prefix = tmp_path / "opt-agentrun"
    return {
        "venv": prefix / "venv",
        "prefix_bin": prefix / "bin" / "codex",
        "venv_bin": prefix / "venv" / "bin" / "codex",
        "root": tmp_path / "checkout",
    }


def test_an_explicit_path_wins_even_when_it_does_not_exist(layout: dict[str, Path]) -> None:
    _file(layout["prefix_bin"])
    found = resolve_codex_binary("/nowhere/codex", prefix=layout["venv"], root=layout["root"])
    assert (found.path, found.origin) == (Path("/nowhere/codex"), "env")


def test_the_install_env_prefix_comes_before_the_venv_and_the_npm_pin(
    layout: dict[str, Path],
) -> None:
    expected = _file(layout["prefix_bin"])
    _file(layout["venv_bin"])
    _npm(layout["root"])
    found = resolve_codex_binary(None, prefix=layout["venv"], root=layout["root"])
    assert (found.path, found.origin) == (expected, "installed")


def test_the_venvs_own_codex_comes_before_the_npm_pin(layout: dict[str, Path]) -> None:
    expected = _file(layout["venv_bin"])
    _npm(layout["root"])
    found = resolve_codex_binary(None, prefix=layout["venv"], root=layout["root"])
    assert (found.path, found.origin) == (expected, "installed")


def test_without_an_installed_codex_the_source_trees_npm_pin_is_used(
    layout: dict[str, Path],
) -> None:
    expected = _npm(layout["root"])
    _npm(layout["venv"].parent)
    found = resolve_codex_binary(None, prefix=layout["venv"], root=layout["root"])
    assert (found.path, found.origin) == (expected, "npm")


def test_a_fresh_boot_checkout_finds_the_npm_pin_of_the_checkout_that_owns_the_venv(
    layout: dict[str, Path],
) -> None:
    layout["root"].mkdir(parents=True)
    expected = _npm(layout["venv"].parent)
    found = resolve_codex_binary(None, prefix=layout["venv"], root=layout["root"])
    assert (found.path, found.origin) == (expected, "npm")


def test_with_nothing_else_installed_the_pypi_wheel_is_the_fallback(
    layout: dict[str, Path],
) -> None:
    found = resolve_codex_binary(None, prefix=layout["venv"], root=layout["root"])
    assert found.origin == "pypi"
    assert found.path == REAL_CODEX["codex-0.163-pypi"]()


def test_with_no_codex_anywhere_resolution_is_backend_spawn_failed(
    layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binary, "pypi_native_binary", lambda: None)
    with pytest.raises(BackendError) as caught:
        resolve_codex_binary(None, prefix=layout["venv"], root=layout["root"])
    assert caught.value.kind is FailureKind.BACKEND_SPAWN_FAILED


def test_in_this_checkout_the_default_is_the_npm_pin_0_171() -> None:
    found = resolve_codex_binary(None)
    assert found.origin == "npm"
    assert binary.codex_version(found.path) == "0.171.0"


@pytest.mark.parametrize("build", list(REAL_CODEX))
def test_every_verified_build_is_installed_with_its_version(build: str) -> None:
    path = REAL_CODEX[build]()
    assert path is not None
    assert binary.codex_version(path) == build.split("-")[1] + ".0"
