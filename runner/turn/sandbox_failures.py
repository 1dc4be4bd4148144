"""Recognize a command that failed because Codex's sandbox could not start or denied it.

Codex does not fail the turn when a tool's sandbox breaks: the text goes back to the model
as the tool output (`rawResponseItem/completed` `function_call_output`, with
`experimentalRawEvents`) or as a `commandExecution` item's `aggregatedOutput`, and the
turn completes. `SandboxWatch` finds Codex's own sandbox-failure texts there (one report
per call id) so the runner can emit a non-terminal `failure` `sandbox-error` and end the
attempt `failed` / `sandbox-error` (contract §10). A command that the sandbox merely
confines (e.g. `Read-only file system` under `read-only`) is the sandbox working, not
failing, and is not reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from contract.failures import FailureKind
from runner.eventlog.events import failure_data

MAX_MESSAGE_CHARS = 2000

SANDBOX_FAILURE = re.compile(
    r"bubblewrap is unavailable"  # linux-sandbox launcher panic, exit 101 (0.169, 0.171)
    r"|failed in sandbox \w+ with execution error"  # exec tool: `SandboxErr` of the sandbox
    r"|sandbox denied exec error, exit code"  # `SandboxErr::Denied` (codex-rs core error.rs)
    r"|Command denied by sandbox: "  # 0.171
    r"|Landlock was not able to fully enforce all sandbox rules"  # `SandboxErr::LandlockRestrict`
    r"|seccomp (?:setup|backend) error"  # `SandboxErr::SeccompInstall` / `SeccompBackend`
    r"|^bwrap: .+",  # bubblewrap itself cannot set up (no user namespaces, uid map, …)
    re.MULTILINE,
)
"""Codex's texts for a sandbox that cannot start or denied the command (0.163–0.171)."""


def sandbox_failure_line(output: str) -> str | None:
    """The line of a tool output that says the sandbox failed, or None.

    Args:
        output: a `function_call_output` text or a `commandExecution` aggregated output.
    """
    match = SANDBOX_FAILURE.search(output)
    if match is None:
        return None
    start = output.rfind("\n", 0, match.start()) + 1
    end = output.find("\n", match.end())
    return output[start : end if end >= 0 else len(output)].strip()[:MAX_MESSAGE_CHARS]


@dataclass
class SandboxWatch:
    """Sandbox failures seen in one turn.

    Attributes:
        failures: how many distinct calls failed in the sandbox.
        last_message: Codex's line for the latest one (unmasked; events mask it).
    """

    failures: int = 0
    last_message: str | None = None
    _seen: set[str] = field(default_factory=set)

    def check(self, call_id: Any, output: str, via: str) -> dict[str, Any] | None:
        """The `failure` event data if `output` shows a sandbox failure not yet reported.

        Args:
            call_id: the tool call's id (`call_id` of the raw item, `id` of the item);
                a call reported once is not reported again through the other channel.
            output: the tool's output text.
            via: where it was seen (`rawResponseItem` or `commandExecution`), for `detail`.
        """
        line = sandbox_failure_line(output)
        key = str(call_id) if call_id is not None else None
        if line is None or (key is not None and key in self._seen):
            return None
        if key is not None:
            self._seen.add(key)
        self.failures += 1
        self.last_message = f"a command failed in Codex's sandbox: {line}"
        return failure_data(
            FailureKind.SANDBOX_ERROR,
            self.last_message,
            source="backend",
            detail={"callId": call_id, "via": via},
            terminal=False,
        )
