"""Fault-injection knobs of the fake manager's transport: fail, reset, slow down.

Knobs act before authentication and routing, like a proxy or a crashing manager
would: a matching request is answered with an error status, or its connection is
closed abruptly, after an optional added latency. Rules match an HTTP method
(`"*"` for any) and a path glob (`fnmatch`, where `*` also crosses `/`), and fault
rules are consumed one request at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal


@dataclass
class FaultRule:
    """Answer the next `remaining` matching requests with a fault.

    Attributes:
        method: HTTP method or "*".
        path_pattern: glob over the URL path, e.g. "/api/v1/runs/*/events".
        remaining: how many more requests this rule will fault.
        kind: "status" (answer `status` with a §8 body), "reset" (abrupt close) or
            "body" (answer `status` with the raw `body`: a manager that misbehaves).
        status: the HTTP status for kind "status" (e.g. 500, 503, 429).
        retry_after_seconds: value of `Retry-After` (sent with every 429, and with
            other statuses when set).
        hits: how many requests this rule has faulted so far.
    """

    method: str
    path_pattern: str
    remaining: int
    kind: Literal["status", "reset", "body"]
    status: int = 503
    retry_after_seconds: int | None = None
    hits: int = 0
    body: bytes = b""
    """For kind "body": the raw bytes answered with `status` (e.g. 200 and not JSON)."""

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request (ignores `remaining`)."""
        return (self.method in ("*", method.upper())) and fnmatchcase(path, self.path_pattern)


@dataclass
class LatencyRule:
    """Delay every matching request by `seconds` before it is handled."""

    method: str
    path_pattern: str
    seconds: float

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        return (self.method in ("*", method.upper())) and fnmatchcase(path, self.path_pattern)


class Knobs:
    """The transport knobs of one fake manager; change them at any time."""

    def __init__(self) -> None:
        self.faults: list[FaultRule] = []
        self.latencies: list[LatencyRule] = []

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 503,
        count: int = 1,
        retry_after_seconds: int | None = None,
    ) -> FaultRule:
        """Answer the next `count` matching requests with `status` and a §8 body.

        The body's code is `injected-fault`. A 429 always carries `Retry-After`
        (§8): `retry_after_seconds`, or 1 when not given.

        Args:
            method: "POST", "GET" or "*".
            path_pattern: glob over the URL path.
            status: an error status, e.g. 500, 503 or 429.
            count: how many requests to fail, >= 1.
            retry_after_seconds: `Retry-After` in whole seconds, >= 0.

        Returns:
            The rule; its `hits`/`remaining` show how far it got.
        """
        if count < 1 or status < 400:
            raise ValueError("fail_next needs count >= 1 and an error status")
        if status == 429 and retry_after_seconds is None:
            retry_after_seconds = 1
        rule = FaultRule(method.upper(), path_pattern, count, "status", status, retry_after_seconds)
        self.faults.append(rule)
        return rule

    def answer_next(
        self,
        method: str,
        path_pattern: str,
        body: bytes,
        *,
        status: int = 200,
        count: int = 1,
    ) -> FaultRule:
        """Answer the next `count` matching requests with `status` and the raw `body`.

        For a manager that answers garbage: `answer_next("GET", "/api/v1/runs/*/commands",
        b"<html>")` is a 200 whose body is not JSON; `b'{"commands": "x"}'` is JSON of
        the wrong shape. The request is *not* processed.
        """
        if count < 1:
            raise ValueError("answer_next needs count >= 1")
        rule = FaultRule(method.upper(), path_pattern, count, "body", status, body=body)
        self.faults.append(rule)
        return rule

    def reset_next(self, method: str, path_pattern: str, *, count: int = 1) -> FaultRule:
        """Close the connection of the next `count` matching requests without answering.

        The request body has been read; the client sees the connection reset or
        closed before any response byte (httpx: `RemoteProtocolError`/`ReadError`).
        The request was *not* processed.

        Args:
            method: "POST", "GET" or "*".
            path_pattern: glob over the URL path.
            count: how many requests to reset, >= 1.
        """
        if count < 1:
            raise ValueError("reset_next needs count >= 1")
        rule = FaultRule(method.upper(), path_pattern, count, "reset")
        self.faults.append(rule)
        return rule

    def add_latency(
        self, seconds: float, *, method: str = "*", path_pattern: str = "*"
    ) -> LatencyRule:
        """Delay matching requests by `seconds` (rules add up) before handling them."""
        if seconds < 0:
            raise ValueError("latency must be >= 0 seconds")
        rule = LatencyRule(method.upper(), path_pattern, seconds)
        self.latencies.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        self.faults.clear()
        self.latencies.clear()

    def latency_for(self, method: str, path: str) -> float:
        """Total added latency in seconds for a request."""
        return sum(rule.seconds for rule in self.latencies if rule.matches(method, path))

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        """Consume one use of the first live fault rule matching a request, if any."""
        for rule in self.faults:
            if rule.remaining > 0 and rule.matches(method, path):
                rule.remaining -= 1
                rule.hits += 1
                return rule
        return None
