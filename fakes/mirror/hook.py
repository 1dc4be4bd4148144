"""The write side's `pre-receive` hook: the cluster mirror's ref rules, as a `sh` script.

`install_hooks()` writes the hook into a fresh directory that the write side's `git
http-backend` uses as `core.hooksPath`. The hook reads which rules are on from the
environment of each request (`hook_env`), so a knob flipped between two pushes applies
to the second. It prints one `remote:` line per refused update naming the rule, exits
non-zero, and git then refuses every update of that push and reports each as
`! [remote rejected] REF (pre-receive hook declined)`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

__all__ = [
    "ENV_CREATE_ONLY",
    "ENV_REJECT_OUTSIDE_AGENTRUN",
    "hook_env",
    "install_hooks",
    "remove_hooks",
]

ENV_REJECT_OUTSIDE_AGENTRUN = "FAKE_MIRROR_REJECT_OUTSIDE_AGENTRUN"
"""`1`: refuse an update of a ref outside `refs/agentrun/`."""
ENV_CREATE_ONLY = "FAKE_MIRROR_CREATE_ONLY"
"""`1`: refuse an update of an existing ref (forced or not) and a deletion."""

# stdin: one `OLD NEW REF` line per update (ids are all zeros for "none"). A rule
# message names the knob of `GitMirror` that refused the update.
_PRE_RECEIVE = r"""#!/bin/sh
# pre-receive hook of the fake git mirror (fakes/mirror/hook.py).
refused=0
refuse() {
  printf 'fake-mirror: %s refused by %s: %s\n' "$1" "$2" "$3" >&2
  refused=1
}
while read -r old new ref; do
  if [ "$FAKE_MIRROR_REJECT_OUTSIDE_AGENTRUN" = 1 ]; then
    case "$ref" in
      refs/agentrun/?*) ;;
      *) refuse "$ref" reject_outside_agentrun "only refs/agentrun/** may be pushed" ;;
    esac
  fi
  if [ "$FAKE_MIRROR_CREATE_ONLY" = 1 ]; then
    case "$new" in
      *[!0]*) ;;
      *) refuse "$ref" create_only "a ref is never deleted" ;;
    esac
    case "$old" in
      *[!0]*) refuse "$ref" create_only "it exists; a ref is never updated or forced" ;;
    esac
  fi
done
exit "$refused"
"""


def install_hooks() -> Path:
    """Write the `pre-receive` hook into a new temporary directory.

    Returns:
        The directory, to be used as `core.hooksPath`; `remove_hooks` deletes it.
    """
    hooks_dir = Path(tempfile.mkdtemp(prefix="fake-mirror-hooks-"))
    hook = hooks_dir / "pre-receive"
    hook.write_text(_PRE_RECEIVE)
    hook.chmod(0o755)
    return hooks_dir


def remove_hooks(hooks_dir: Path) -> None:
    """Delete a directory made by `install_hooks` (best effort)."""
    shutil.rmtree(hooks_dir, ignore_errors=True)


def hook_env(*, reject_outside_agentrun: bool, create_only: bool) -> dict[str, str]:
    """The environment entries that tell the hook which rules are on for one request."""
    return {
        ENV_REJECT_OUTSIDE_AGENTRUN: "1" if reject_outside_agentrun else "0",
        ENV_CREATE_ONLY: "1" if create_only else "0",
    }
