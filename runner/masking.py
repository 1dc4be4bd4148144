"""Secret masking of every string that leaves the runner (contract §9).

A `Masker` knows the secret values (transient env values, the runner token, provider
credentials) by name and replaces each value, and its JSON-escaped form, with `***`.
Values shorter than `MIN_SECRET_CHARS` are not masked (they would shred ordinary text)
and are reported by name in `too_short`. Only names ever appear in anything printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
MIN_SECRET_CHARS = 6


class Masker:
    """Replaces known secret values in strings and in JSON-like data.

    Args:
        secrets: secret name → value (e.g. `{"OPENAI_API_KEY": "sk-…"}`).

    Attributes:
        names: the names of the secrets that are masked.
        too_short: names whose values are too short to mask safely.
    """

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self.names: list[str] = []
        self.too_short: list[str] = []
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for name, value in (secrets or {}).items():
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Mask `value` from now on (and its JSON-escaped form)."""
        if len(value) < MIN_SECRET_CHARS:
            if value and name not in self.too_short:
                self.too_short.append(name)
            return
        if name not in self.names:
            self.names.append(name)
        forms = {value, json.dumps(value)[1:-1]}
        forms |= {line for line in value.splitlines() if len(line) >= MIN_SECRET_CHARS}
        self._values |= forms
        alternatives = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))

    def mask(self, text: str) -> str:
        """`text` with every known secret value replaced by `***`."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_data(self, value: Any) -> Any:
        """A copy of JSON-like `value` with every string (keys too) masked."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask(str(k)): self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value]
        return value
