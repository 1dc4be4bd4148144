"""The one error type of the fake manager and its §8 wire body.

Every refusal the fake makes is an `ApiError(status, code, message, **extra)`; the app
turns it into `{"error": {"code", "message", **extra}}` (contract §8) in one place.
Codes named by the contract are used verbatim; the ones the contract leaves open are
the fake's own choice and marked so below.

Codes (status → code, source):

    400 invalid-json               body is not a JSON object (§8)
    400 invalid-request            schema violation, unknown field, bad query (preamble, §2-§7, §12)
    400 artifact-invalid{field}    contentBase64/sizeBytes/sha256 not consistent (§12, fake's code)
    400 artifact-missing{field}    terminal patchSha256 names no stored workspace.patch (fake)
    401 unauthorized               missing or wrong bearer token (§1)
    404 not-found / 405 method-not-allowed   no such route
    404 job-not-found              §2
    404 run-not-found, attempt-not-found, command-not-found, artifact-not-found (fake's choice)
    409 already-claimed            §2
    409 seq-conflict, seq-gap{ackedSeq}, lease-lost          §3/§4
    409 attempt-finished           new events or artifacts after the terminal (fake's choice)
    409 artifact-conflict{artifactId}  same attempt and name, another sha256 (§12)
    409 delivery-state-conflict{currentState}   backwards delivery transition (§6, fake's code)
    409 events-missing{ackedSeq}   terminal before events 1..lastSeq are stored (§7, fake's code)
    409 last-seq-mismatch{ackedSeq}  terminal lastSeq below the stored events (fake's choice)
    409 terminal-conflict          §7
    410 job-cancelled, attempt-cancelled                     §2/§3
    413 batch-too-large, event-too-large                     §3 (fake's codes)
    413 artifact-too-large{maxBytes}   decoded artifact over the limit, 8 MiB (§12, fake's code)
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A refusal with an HTTP status and a §8 error body.

    Args:
        status: the HTTP status code (4xx/5xx).
        code: kebab-case machine-readable code.
        message: one human sentence.
        **extra: further members of the `error` object, e.g. `ackedSeq=3`.
    """

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The §8 response body of this error."""
        return error_body(self.code, self.message, **self.extra)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Build `{"error": {"code": code, "message": message, **extra}}` (contract §8).

    Args:
        code: kebab-case machine-readable code.
        message: one human sentence.
        **extra: further members of the `error` object.

    Returns:
        The JSON-able body.
    """
    return {"error": {"code": code, "message": message, **extra}}
