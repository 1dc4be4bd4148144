"""Time for the fake manager: one shiftable wall clock and the contract's time format.

Leases expire on the fake's own clock, which tests can move forward (`Clock.advance`)
instead of sleeping. Times on the wire are RFC 3339 UTC strings with exactly three
fractional digits (contract "Field names …" preamble); `format_time` writes them and
`parse_time` is the one strict reader every request timestamp goes through.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339_MS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})(Z|\+00:00)$",
)


class Clock:
    """The fake manager's notion of "now": the system UTC clock plus a test offset.

    Attributes:
        offset_seconds: seconds added to the system clock; grows with `advance`.
    """

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> datetime:
        """The current fake time, a timezone-aware UTC datetime."""
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def advance(self, seconds: float) -> None:
        """Move the fake time forward, e.g. past a lease's `expiresAt`.

        Args:
            seconds: how far to move, >= 0.

        Raises:
            ValueError: `seconds` is negative (time never goes backwards).
        """
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        self.offset_seconds += seconds


def format_time(moment: datetime) -> str:
    """Format a datetime as the contract writes times: `2025-01-02T03:04:05.678Z`.

    Args:
        moment: a timezone-aware datetime (any zone; converted to UTC).

    Returns:
        RFC 3339 UTC with exactly millisecond precision and a `Z` suffix.
    """
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Parse a request timestamp, strictly as the contract defines times.

    Accepted: `YYYY-MM-DDTHH:MM:SS.mmmZ` (or `+00:00` instead of `Z`): UTC, exactly
    three fractional digits. Python's default `isoformat()` (microseconds, or no
    fraction at all) is refused on purpose: it is a likely client mistake.

    Args:
        text: the string from the request body.

    Returns:
        The timezone-aware UTC datetime.

    Raises:
        ValueError: not in that form, or not a real calendar time.
    """
    match = _RFC3339_MS.match(text)
    if match is None:
        raise ValueError(
            "must be an RFC 3339 UTC time with milliseconds, e.g. 2025-01-02T03:04:05.678Z"
        )
    year, month, day, hour, minute, second, millis = (int(g) for g in match.groups()[:7])
    try:
        return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"not a valid calendar time: {exc}") from exc
