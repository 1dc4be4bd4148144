"""The failure taxonomy matches contract §10 and its generated documentation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contract.failures import FailureKind
from runner.turn.classify import classify_turn_error
from scripts.generate_failure_docs import render

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "contracts" / "manager-runner-api.md"


def test_the_committed_failure_kinds_doc_is_the_rendering_of_the_enum() -> None:
    assert (ROOT / "docs" / "failure-kinds.md").read_text() == render()


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared/ contract not beside the checkout")
def test_every_kind_and_retryable_flag_is_exactly_the_contracts_table() -> None:
    text = CONTRACT.read_text()
    section = text[text.index("## 10. Failure kinds") :]
    rows = re.findall(r"^\| `([a-z-]+)` \| .* \| (yes|no) \|$", section, re.MULTILINE)
    assert {kind: flag == "yes" for kind, flag in rows} == {
        str(k): k.retryable for k in FailureKind
    }


@pytest.mark.parametrize(
    ("info", "message", "kind"),
    [
        ("internalServerError", "", "provider-unavailable"),
        ("serverOverloaded", "", "provider-unavailable"),
        ({"httpConnectionFailed": {"httpStatusCode": 503}}, "", "provider-unavailable"),
        ({"httpConnectionFailed": {"httpStatusCode": 401}}, "", "provider-auth"),
        ({"httpConnectionFailed": {"httpStatusCode": 403}}, "", "provider-auth"),
        ("unauthorized", "", "provider-auth"),
        ({"responseTooManyFailedAttempts": {"httpStatusCode": 429}}, "", "provider-rate-limited"),
        ("rateLimitExceeded", "", "provider-rate-limited"),
        ("usageLimitExceeded", "", "provider-quota"),
        ("sessionBudgetExceeded", "", "provider-quota"),
        ("contextWindowExceeded", "", "context-window-exceeded"),
        ("modelNotFound", "", "provider-bad-request"),
        ("badRequest", "", "provider-bad-request"),
        ({"httpConnectionFailed": {"httpStatusCode": 400}}, "", "provider-bad-request"),
        ({"httpConnectionFailed": {"httpStatusCode": 404}}, "", "provider-bad-request"),
        (
            {"responseStreamDisconnected": {"httpStatusCode": None}},
            "",
            "provider-stream-disconnected",
        ),
        ({"responseStreamConnectionFailed": {}}, "", "provider-stream-disconnected"),
        ("sandboxError", "", "sandbox-error"),
        (
            "other",
            "stream disconnected before completion: stream closed",
            "provider-stream-disconnected",
        ),
        (
            "other",
            "stream disconnected before completion: error sending request",
            "provider-unreachable",
        ),
        ("other", "Incomplete response returned, reason: max_output_tokens", "provider-error"),
        (
            "other",
            '{"error":{"message":"Invalid value","type":"invalid_request_error"}}',
            "provider-bad-request",
        ),
        ("other", "Invalid prompt: flagged.", "provider-bad-request"),
        ("somethingNew", "", "provider-error"),
        ({"brandNew": {"x": 1}}, "", "provider-error"),
        (None, "", "provider-error"),
        (42, "", "provider-error"),
    ],
)
def test_codex_error_info_maps_to_the_contracts_kind(info: object, message: str, kind: str) -> None:
    assert classify_turn_error({"message": message, "codexErrorInfo": info}) == kind
