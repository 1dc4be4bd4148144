"""`<fake> sandbox -P PROFILE -C DIR -- CMD…`: the fake's stand-in for `codex sandbox`.

Runs CMD unsandboxed in DIR and exits with its status, or, when the scenario says
`"sandbox": "unavailable"`, fails as Codex 0.171 does without a usable bubblewrap: the
launcher's panic on stderr, exit 101 (seen on the real binary copied alone into a
directory with no `bwrap` on `PATH`).
"""

from __future__ import annotations

import subprocess
import sys

from fakes.app_server.scenario import Scenario

BWRAP_PANIC = (
    "\nthread 'main' (2) panicked at linux-sandbox/src/launcher.rs:68:13:\n"
    "bubblewrap is unavailable: no system bwrap was found on PATH and no bundled "
    "codex-resources/bwrap binary was found next to the Codex executable\n"
    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
)
"""What the real launcher prints (0.171.0) when it finds no bubblewrap."""
PANIC_EXIT_CODE = 101


def run_sandbox(argv: list[str], scenario: Scenario) -> int:
    """Play `codex sandbox` for `argv` (the arguments after `sandbox`); returns the exit code."""
    if scenario.sandbox == "unavailable":
        sys.stderr.write(BWRAP_PANIC)
        return PANIC_EXIT_CODE
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("error: the following required arguments were not provided: <COMMAND>...")
        return 2
    cwd = argv[argv.index("-C") + 1] if "-C" in argv else None
    command = argv[argv.index("--") + 1 :]
    return subprocess.run(command, cwd=cwd, check=False).returncode
