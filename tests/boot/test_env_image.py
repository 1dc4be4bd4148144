"""The env image: the Containerfile's shape, and its install script into a fresh prefix.

Fast and without a container engine: the Containerfile is checked statically, and the
install steps it runs (`scripts/install-env`) are run for real into a temporary prefix
from a source directory holding only the env inputs (no runner source at all). The image
itself is built and run as the Job runs it by `scripts/test-image`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from boot.env_identity import compute_env_identity, describe_env_identity
from tests.boot.source_repo import PROJECT_ROOT
from tests.boot.test_env_identity import ENV_INPUT_FILES

INSTALL_TIMEOUT_SECONDS = 120.0
CODEX_NODE_MODULES = PROJECT_ROOT / "node_modules"
CODEX_PACKAGE = "@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl"
"""The npm platform package's native tree (x86_64), as install-env copies it."""
PINNED_CODEX = json.loads((PROJECT_ROOT / "package.json").read_text())["dependencies"][
    "@openai/codex"
]


def instructions(containerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Containerfile, continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", containerfile.read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


CONTAINERFILE = instructions(PROJECT_ROOT / "Containerfile")


def test_the_base_image_is_a_slim_python_3_11_pinned_by_exact_tag_or_digest() -> None:
    base = describe_env_identity(PROJECT_ROOT).base_image
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    froms = [args for keyword, args in CONTAINERFILE if keyword == "FROM"]
    assert froms[-1] == "${BASE_IMAGE}"


def test_the_image_copies_only_the_env_inputs_and_no_runner_source() -> None:
    copied: set[str] = set()
    for keyword, args in CONTAINERFILE:
        if keyword == "COPY" and "--from=" not in args:
            copied.update(part.rstrip("/") for part in shlex.split(args)[:-1])
    assert copied == {*ENV_INPUT_FILES, "boot"}
    dockerignore = (PROJECT_ROOT / ".dockerignore").read_text()
    for name in (*ENV_INPUT_FILES, "boot/**/*.py"):
        assert f"!{name}\n" in dockerignore


def test_the_image_runs_boot_under_tini_as_a_non_root_user_with_the_pinned_codex() -> None:
    final = CONTAINERFILE[max(i for i, (k, _) in enumerate(CONTAINERFILE) if k == "FROM") :]
    entrypoint = json.loads(next(args for keyword, args in final if keyword == "ENTRYPOINT"))
    assert entrypoint == ["/usr/bin/tini", "--", "/opt/agentrun/bin/agentrun-boot"]
    user = next(args for keyword, args in final if keyword == "USER")
    assert user.split(":")[0] not in ("0", "root")
    runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert re.search(r"apt-get install .*\bgit\b.*\btini\b", runs)
    env = " ".join(args for keyword, args in final if keyword == "ENV")
    assert "AGENTRUN_CODEX_BIN=/opt/agentrun/bin/codex" in env
    installs = [
        args for keyword, args in CONTAINERFILE if keyword == "RUN" and "install-env" in args
    ]
    assert installs
    assert "--codex-from" in installs[0]


def stage_env_inputs(destination: Path) -> Path:
    """A source dir holding only what the Containerfile copies into its install stage."""
    for name in ENV_INPUT_FILES:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, destination / name)
    shutil.copytree(
        PROJECT_ROOT / "boot", destination / "boot", ignore=shutil.ignore_patterns("__pycache__")
    )
    return destination


def test_the_install_script_installs_a_working_env_into_a_fresh_prefix(tmp_path: Path) -> None:
    assert CODEX_NODE_MODULES.is_dir(), "run scripts/bootstrap (npm ci) first"
    source = stage_env_inputs(tmp_path / "src")
    prefix = tmp_path / "prefix"

    subprocess.run(
        [
            str(source / "scripts" / "install-env"),
            str(prefix),
            "--codex-from",
            str(CODEX_NODE_MODULES),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )

    boot = prefix / "bin" / "agentrun-boot"
    helped = subprocess.run([str(boot), "--help"], capture_output=True, cwd=tmp_path, timeout=60)
    assert helped.returncode == 0
    assert b"agentrun-boot" in helped.stdout
    codex = subprocess.run(
        [str(prefix / "bin" / "codex"), "--version"], capture_output=True, timeout=60
    )
    assert codex.stdout.decode().strip() == f"codex-cli {PINNED_CODEX}"
    python = prefix / "venv" / "bin" / "python"
    imports = "import anyio, httpx, pydantic, tenacity, psutil, git, orjson, boot.cli"
    subprocess.run([str(python), "-I", "-c", imports], check=True, timeout=60)
    for only_for_the_fakes in ("starlette", "uvicorn", "rich"):
        absent = subprocess.run(
            [str(python), "-I", "-c", f"import {only_for_the_fakes}"],
            capture_output=True,
            timeout=60,
        )
        assert absent.returncode != 0, f"{only_for_the_fakes} is in the runtime env"
    no_runner = subprocess.run(
        [str(python), "-I", "-c", "import runner"], capture_output=True, timeout=60
    )
    assert no_runner.returncode != 0
    no_dev = subprocess.run(
        [str(python), "-I", "-c", "import pytest"], capture_output=True, timeout=60
    )
    assert no_dev.returncode != 0
    record = json.loads((prefix / "venv" / "agentrun-env-identity.json").read_text())
    assert record["envIdentity"] == compute_env_identity(PROJECT_ROOT)
    failed = subprocess.run(
        [str(boot)], capture_output=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=60
    )
    assert failed.returncode != 0
    assert json.loads(failed.stderr)["failureKind"] == "boot-commit-invalid"


def install(source: Path, prefix: Path, node_modules: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(source / "scripts" / "install-env"), str(prefix), "--codex-from", str(node_modules)],
        capture_output=True,
        cwd=source.parent,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )


def test_the_install_script_installs_codexs_whole_native_package_and_a_sandboxed_command_finds_rg(
    tmp_path: Path,
) -> None:
    source = stage_env_inputs(tmp_path / "src")
    prefix = tmp_path / "prefix"

    installed = install(source, prefix, CODEX_NODE_MODULES)

    assert installed.returncode == 0, installed.stderr.decode()[-2000:]
    package = prefix / "lib" / "codex"
    assert (prefix / "bin" / "codex").resolve() == (package / "bin" / "codex").resolve()
    npm_tree = CODEX_NODE_MODULES / CODEX_PACKAGE
    assert sorted(p.relative_to(package) for p in package.rglob("*")) == sorted(
        p.relative_to(npm_tree) for p in npm_tree.rglob("*")
    )
    manifest = json.loads((package / "codex-package.json").read_text())
    assert manifest["version"] == PINNED_CODEX
    assert (manifest["entrypoint"], manifest["resourcesDir"], manifest["pathDir"]) == (
        "bin/codex",
        "codex-resources",
        "codex-path",
    )
    for tool in ("codex-resources/bwrap", "codex-path/rg"):
        assert os.access(package / tool, os.X_OK), tool
    home = tmp_path / "codex-home"
    home.mkdir()
    sandboxed = subprocess.run(
        [str(prefix / "bin" / "codex"), "sandbox", "--", "sh", "-c", "command -v rg"],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "CODEX_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert sandboxed.returncode == 0, sandboxed.stderr.decode()[-2000:]
    assert sandboxed.stdout.decode().strip() == str(package / "codex-path" / "rg")


def test_the_install_script_fails_loudly_on_a_codex_package_without_its_bundled_bubblewrap(
    tmp_path: Path,
) -> None:
    source = stage_env_inputs(tmp_path / "src")
    broken = tmp_path / "node_modules"
    npm_tree = CODEX_NODE_MODULES / CODEX_PACKAGE
    for item in npm_tree.rglob("*"):
        target = broken / CODEX_PACKAGE / item.relative_to(npm_tree)
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif item.name != "bwrap":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(item)

    installed = install(source, tmp_path / "prefix", broken)

    assert installed.returncode == 1
    assert b"codex-resources/bwrap" in installed.stderr
    assert not (tmp_path / "prefix" / "bin" / "codex").exists()


@pytest.mark.parametrize("args", [[], ["/tmp/x", "--codex-from"], ["/tmp/x", "--bogus"]])
def test_the_install_script_refuses_bad_usage(args: list[str]) -> None:
    result = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "install-env"), *args], capture_output=True, timeout=60
    )
    assert result.returncode == 2
