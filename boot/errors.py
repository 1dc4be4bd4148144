"""The failures `agentrun-boot` can end with, and the one JSON line that reports them.

Boot runs before the runner's source exists in the pod, so it cannot import
`contract.failures`; it carries the few contract §10 kinds it needs, with the same values
and `retryable` flags (a test pins them to `contract.failures.FailureKind`). Before the
runner can talk to the manager, a failure is reported as exactly one JSON line on stderr::

    {"failureKind": "boot-fetch-failed", "message": "...", "detail": {"retryable": true, ...}}

Messages never hold secret values, and every URL in them has its credentials stripped.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, Literal

BootFailureKind = Literal[
    "boot-commit-invalid",
    "boot-fetch-failed",
    "boot-commit-not-found",
    "secret-missing",
    "runner-internal-error",
]
"""The contract §10 kinds boot reports (the first three are boot's own)."""

RETRYABLE: Final[dict[BootFailureKind, bool]] = {
    "boot-commit-invalid": False,
    "boot-fetch-failed": True,
    "boot-commit-not-found": False,
    "secret-missing": False,
    "runner-internal-error": False,
}
"""`retryable` of each kind, as contract §10 states it."""

_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")
_MAX_MESSAGE_CHARS: Final = 2000


def strip_url_credentials(text: str) -> str:
    """Remove the `user:password@` part of every URL in `text`.

    Args:
        text: any text, e.g. a URL or git's stderr.

    Returns:
        The text with `scheme://user:pass@host` turned into `scheme://host`.
    """
    return _URL_USERINFO.sub(r"\g<scheme>", text)


class BootFailure(Exception):
    """A boot failure with its contract §10 kind.

    Args:
        kind: the failure kind reported in the JSON line.
        message: one human sentence; URL credentials are stripped here, and it must
            not hold secret values otherwise (names only).
        detail: small JSON-able facts (e.g. `{"reason": "timeout"}`), names and codes
            only; printed in the line's `detail` with `retryable`.
    """

    def __init__(
        self, kind: BootFailureKind, message: str, *, detail: dict[str, Any] | None = None
    ) -> None:
        clean = strip_url_credentials(message)
        if len(clean) > _MAX_MESSAGE_CHARS:
            clean = clean[: _MAX_MESSAGE_CHARS - 3] + "..."
        super().__init__(clean)
        self.kind: BootFailureKind = kind
        self.message = clean
        self.detail: dict[str, Any] = detail or {}

    @property
    def retryable(self) -> bool:
        """Whether a new attempt may succeed unchanged (contract §10)."""
        return RETRYABLE[self.kind]

    def json_line(self) -> str:
        """The one stderr line (contract §1): `{"failureKind", "message", "detail"}`, where
        `detail` holds this failure's facts and `retryable`; no newline."""
        return json.dumps(
            {
                "failureKind": self.kind,
                "message": self.message,
                "detail": {**self.detail, "retryable": self.retryable},
            },
            ensure_ascii=False,
        )

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
