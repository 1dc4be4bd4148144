"""The arrows between packages run one way (README "Layout", issue 13).

The rules are import-linter contracts in `pyproject.toml` (`[tool.importlinter]`): the
ground (`contract`, `concurrency`) imports no project package, `adapters` and `bundles`
import no `runner`, `boot` nothing of ours, no product package imports `fakes`, and the
packages and the runner's rooms form layers, so there is no cycle. Each rule is shown
to break on a deliberate violation in a copy of the tree, so the check cannot pass
vacuously.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "concurrency", "runner", "adapters", "bundles", "boot", "fakes")
LINT_TIMEOUT_SECONDS = 120


def lint_in(tree: Path, contract_id: str) -> subprocess.CompletedProcess[str]:
    """Run one contract of `tree/pyproject.toml` on the packages of `tree` (a subprocess,
    so `tree`'s packages shadow the checkout's)."""
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, "
        f"limit_to_contracts=({contract_id!r},)))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=LINT_TIMEOUT_SECONDS,
    )


def test_the_checkout_keeps_every_import_contract() -> None:
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


@pytest.mark.parametrize(
    ("module", "violation", "contract_id"),
    [
        ("contract/failures.py", "import runner.attempt", "ground"),
        ("concurrency/taskgroups.py", "from adapters.codex import session", "ground"),
        ("concurrency/streams.py", "import contract.failures", "independent-ground"),
        ("adapters/codex/session.py", "import runner.env", "libraries"),
        ("bundles/job.py", "from runner.manager import retry", "libraries"),
        ("boot/flow.py", "import contract.failures", "boot-self-contained"),
        ("runner/cli.py", "import fakes.demo", "no-fakes"),
        ("adapters/codex/binary.py", "from fakes.model import load_script", "no-fakes"),
        ("bundles/paths.py", "import adapters.codex.binary", "packages"),
        ("contract/job_spec.py", "import bundles.job", "packages"),
        ("runner/eventlog/spool.py", "import runner.manager.client", "runner-rooms"),
        ("runner/safety/masking.py", "from runner.turn import liveness", "runner-rooms"),
        ("runner/turn/items.py", "import adapters.codex.generated.protocol", "schema-off-runtime"),
        (
            "adapters/codex/client.py",
            "from adapters.codex.generated import protocol",
            "schema-off-runtime",
        ),
    ],
)
def test_an_import_against_the_arrows_breaks_its_contract(
    tmp_path: Path, module: str, violation: str, contract_id: str
) -> None:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy2(ROOT / "pyproject.toml", tree / "pyproject.toml")
    assert lint_in(tree, contract_id).returncode == 0, "the copy must keep the contract"

    with (tree / module).open("a") as source:
        source.write(f"\n{violation}\n")

    broken = lint_in(tree, contract_id)
    assert broken.returncode != 0
    assert "BROKEN" in broken.stdout
