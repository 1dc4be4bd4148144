"""Secret masking of every string that leaves the runner (contract §9, issue 6 item 7).

A `Masker` knows the secret values by name, expands each into all the forms that reveal
it (`runner.safety.masking_forms`) and compiles them into one trie-shaped regex; every maximal
run of overlapping form occurrences becomes one `***`. `StreamMasker` applies exactly
the same masking to text that arrives in pieces (deltas), holding back only the tail that
could still grow into a secret form (shorter than the longest form).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from runner.safety.masking_forms import (
    HEAD_CHARS,
    MIN_SECRET_CHARS,
    form_start_at_end_regex,
    longest_form_regex,
    secret_forms,
)

__all__ = ["MASK", "MIN_SECRET_CHARS", "Masker", "StreamMasker"]

MASK = "***"


class _Compiled:
    """The forms of all secrets, compiled: one matcher for masking, one for holding back."""

    def __init__(self, forms: set[str]) -> None:
        try:
            self.longest = re.compile(longest_form_regex(forms))
            self.start_at_end = re.compile(form_start_at_end_regex(forms))
        except RecursionError:  # hundreds of forms nested in each other: no trie
            self.longest = re.compile(longest_form_regex(forms, trie=False))
            self.start_at_end = re.compile(form_start_at_end_regex(forms, trie=False))
        self.max_form_chars = max(map(len, forms))
        self.by_head: dict[str, list[str]] = {}
        for form in forms:
            if len(form) > HEAD_CHARS:
                self.by_head.setdefault(form[:HEAD_CHARS], []).append(form)

    def runs(self, text: str, first: re.Match[str] | None) -> Iterator[tuple[int, int]]:
        """Maximal runs `(start, end)` of overlapping form occurrences, left to right.

        Args:
            text: the text searched.
            first: `self.longest.search(text, pos)`; runs are found from its start on.

        Every occurrence of every form lies inside exactly one run; two occurrences that
        share a character are in the same run, touching ones are not.
        """
        match = first
        while match is not None:
            start, end = match.span()
            match = self.longest.search(text, start + 1)
            while match is not None and match.start() < end:
                end = max(end, match.end())
                match = self.longest.search(text, match.start() + 1)
            yield start, end

    def held_start(self, text: str) -> int:
        """Where the longest suffix of `text` that is a proper prefix of a form begins."""
        pos = max(0, len(text) - (self.max_form_chars - 1))
        while True:
            match = self.start_at_end.search(text, pos)
            assert match is not None  # the pattern matches the empty string at the end
            start = match.start()
            rest = len(text) - start
            if rest < HEAD_CHARS or any(
                len(form) > rest and form.startswith(text[start:])
                for form in self.by_head.get(text[start : start + HEAD_CHARS], ())
            ):
                return start
            pos = start + 1


class Masker:
    """Replaces known secret values, in all their forms, in strings and JSON-like data.

    Contract: for secrets added with `add`, `mask(text)` contains no form of any of them
    (`runner.safety.masking_forms.secret_forms`) unless the form itself contains `*` and is
    re-created by a `***` placed next to other text. In particular any base64 encoding of
    a blob that contains a secret loses every character that encodes only secret bits
    (at most 4 bits of the secret survive at either edge). Values shorter than
    `MIN_SECRET_CHARS` are never masked; their names are listed in `too_short`. Only
    names ever appear in anything the masker reports.

    Args:
        secrets: secret name → value (e.g. `{"OPENAI_API_KEY": "sk-…"}`).

    Attributes:
        names: the names of the secrets that are masked, in the order added.
        too_short: names whose non-empty values are too short to mask safely.
    """

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self.names: list[str] = []
        self.too_short: list[str] = []
        self._forms: set[str] = set()
        self._compiled: _Compiled | None = None
        for name, value in (secrets or {}).items():
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Mask `value` (in all its forms) from now on.

        Args:
            name: the secret's name, the only thing ever reported about it.
            value: the secret; an empty one is ignored, one shorter than
                `MIN_SECRET_CHARS` characters only puts `name` into `too_short`.

        The pattern is rebuilt (compiled on the next `mask`) only if `value` brings new
        forms, so adding many secrets in a row compiles once.
        """
        if len(value) < MIN_SECRET_CHARS:
            if value and name not in self.too_short:
                self.too_short.append(name)
            return
        if name not in self.names:
            self.names.append(name)
        forms = secret_forms(value)
        if not forms <= self._forms:
            self._forms |= forms
            self._compiled = None

    def _matcher(self) -> _Compiled | None:
        if self._compiled is None and self._forms:
            self._compiled = _Compiled(self._forms)
        return self._compiled

    @property
    def max_form_chars(self) -> int:
        """Length of the longest form; a `StreamMasker` holds back fewer characters."""
        compiled = self._matcher()
        return compiled.max_form_chars if compiled else 0

    def mask(self, text: str) -> str:
        """`text` with every maximal run of overlapping secret forms replaced by `***`.

        Args:
            text: any string (lone surrogates included).

        Returns:
            The masked text; `text` itself when no secret form occurs in it.
        """
        compiled = self._matcher()
        if compiled is None or not text:
            return text
        first = compiled.longest.search(text)
        if first is None:
            return text
        out: list[str] = []
        pos = 0
        for start, end in compiled.runs(text, first):
            out += (text[pos:start], MASK)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def mask_data(self, value: Any) -> Any:
        """A copy of JSON-like `value` with every string masked, dict keys included.

        Args:
            value: nested dicts, lists, tuples (returned as lists) and scalars.

        Returns:
            The same shape; non-string keys are turned into strings, other scalars are
            returned as they are.
        """
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask(str(k)): self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value]
        return value

    def stream(self) -> StreamMasker:
        """A `StreamMasker` for one stream of pieces (e.g. one item's deltas)."""
        return StreamMasker(self)


class StreamMasker:
    """Masks text that arrives in pieces, such as the deltas of one item.

    Contract: if no secret is added to the masker while the stream runs, the
    concatenation of everything `feed` and `flush` return equals `masker.mask` of the
    concatenated input, however the input is split; so a secret split across pieces is
    masked like any other. `feed` returns what is already final and holds back only the
    longest suffix that is a proper prefix of some form: `held_chars` is at most
    `masker.max_form_chars - 1`. A run that started inside already-returned text
    (its `***` already returned) is remembered as a count, not as text.

    Args:
        masker: the masker whose secrets (as of each call) are masked.
    """

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._held = ""
        self._covered = 0  # leading characters of `_held` inside an already-masked run

    @property
    def held_chars(self) -> int:
        """How many input characters are held back, waiting for more input."""
        return len(self._held)

    def feed(self, chunk: str) -> str:
        """Take the next piece of input.

        Args:
            chunk: the next piece; any string, possibly empty.

        Returns:
            Masked text that no later input can change (possibly empty).
        """
        return self._advance(self._held + chunk, final=False)

    def flush(self) -> str:
        """End the stream: the masked rest of the input. The stream can then be reused."""
        return self._advance(self._held, final=True)

    def _advance(self, text: str, *, final: bool) -> str:
        compiled = self._masker._matcher()
        if compiled is None:  # no secret yet, so nothing was or is held back
            return text
        cut = len(text) if final else compiled.held_start(text)
        out: list[str] = []
        pos = 0
        match = compiled.longest.search(text)
        if self._covered:
            # The run whose `***` was already returned goes on over `text[:end]`.
            end = self._covered
            while match is not None and match.start() < end:
                end = max(end, match.end())
                match = compiled.longest.search(text, match.start() + 1)
            if end > cut:
                return self._hold(text, cut, end - cut, out)
            pos = end
        if match is not None and match.start() < cut:
            for start, end in compiled.runs(text, match):
                if start >= cut:
                    break
                out += (text[pos:start], MASK)
                if end > cut:
                    return self._hold(text, cut, end - cut, out)
                pos = end
        out.append(text[pos:cut])
        return self._hold(text, cut, 0, out)

    def _hold(self, text: str, cut: int, covered: int, out: list[str]) -> str:
        self._held = text[cut:]
        self._covered = covered
        return "".join(out)
