"""Classify Codex turn errors and JSON-RPC refusals into contract failure kinds.

The one place that maps Codex 0.169 `turn/completed.turn.error.codexErrorInfo` (a string
or a one-key object; parsed defensively) to a `FailureKind`, exactly as contract §10's
mapping paragraph says, with the message as the fallback for `other` and for unknown
variants; and the few message-level rules for JSON-RPC errors of `thread/start`.
"""

from __future__ import annotations

import json
from typing import Any

from contract.failures import FailureKind

_K = FailureKind

_BY_STRING: dict[str, FailureKind] = {
    "internalServerError": _K.PROVIDER_UNAVAILABLE,
    "serverOverloaded": _K.PROVIDER_UNAVAILABLE,
    "unauthorized": _K.PROVIDER_AUTH,
    "rateLimitExceeded": _K.PROVIDER_RATE_LIMITED,
    "usageLimitExceeded": _K.PROVIDER_QUOTA,
    "sessionBudgetExceeded": _K.PROVIDER_QUOTA,
    "contextWindowExceeded": _K.CONTEXT_WINDOW_EXCEEDED,
    "modelNotFound": _K.PROVIDER_BAD_REQUEST,
    "badRequest": _K.PROVIDER_BAD_REQUEST,
    "sandboxError": _K.SANDBOX_ERROR,
}


def _by_http_status(status: Any) -> FailureKind | None:
    if not isinstance(status, int):
        return None
    if status >= 500:
        return _K.PROVIDER_UNAVAILABLE
    if status in (401, 403):
        return _K.PROVIDER_AUTH
    if status == 429:
        return _K.PROVIDER_RATE_LIMITED
    if status in (400, 404):
        return _K.PROVIDER_BAD_REQUEST
    return None


def _is_rejected_request(message: str) -> bool:
    """A provider 400 that Codex 0.169 passes on as `other` with the raw error body.

    §10's table calls HTTP 400 and a rejected prompt `provider-bad-request`, but Codex
    0.169 reports a generic 400 as `codexErrorInfo: "other"` whose message is the raw
    OpenAI error body (`{"error": {"type": "invalid_request_error", …}}`), and a rejected
    prompt (`response.failed` `invalid_prompt`) as `other` with `Invalid prompt: …`
    (codex-app-server.md §8). Those two shapes are recognized here.
    """
    if message.startswith("Invalid prompt"):
        return True
    try:
        body = json.loads(message)
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("type") == "invalid_request_error"


def _by_message(message: str) -> FailureKind:
    if _is_rejected_request(message):
        return _K.PROVIDER_BAD_REQUEST
    text = message.lower()
    if "stream disconnected before completion" in text:
        if "error sending request" in text:
            return _K.PROVIDER_UNREACHABLE
        return _K.PROVIDER_STREAM_DISCONNECTED
    if "error sending request" in text:
        return _K.PROVIDER_UNREACHABLE
    return _K.PROVIDER_ERROR


def classify_turn_error(error: Any) -> FailureKind:
    """The failure kind of a failed turn's `error` (`TurnError`: message, codexErrorInfo).

    Args:
        error: `turn.error` of `turn/completed` (or an `error` notification's `error`), as
            Codex 0.169 sends it; anything else yields `provider-error`.
    """
    if not isinstance(error, dict):
        return _K.PROVIDER_ERROR
    message = str(error.get("message") or "")
    info = error.get("codexErrorInfo")
    if isinstance(info, str):
        if info in _BY_STRING:
            return _BY_STRING[info]
        return _by_message(message)
    if isinstance(info, dict) and len(info) >= 1:
        variant, body = next(iter(info.items()))
        status = body.get("httpStatusCode") if isinstance(body, dict) else None
        if variant == "httpConnectionFailed":
            return _by_http_status(status) or _by_message(message)
        if variant == "responseTooManyFailedAttempts":
            return _by_http_status(status) or _K.PROVIDER_UNAVAILABLE
        if variant in ("responseStreamDisconnected", "responseStreamConnectionFailed"):
            return _K.PROVIDER_STREAM_DISCONNECTED
        return _by_message(message)
    return _by_message(message)


def is_config_error(message: str) -> bool:
    """True when a `thread/start`/`thread/resume` refusal is Codex rejecting its config.

    Codex 0.169 answers `-32600 "failed to load configuration: …"` for a broken
    `config.toml` or an unknown model provider (codex-app-server.md §3).
    """
    return "failed to load configuration" in message or "CODEX_HOME" in message
