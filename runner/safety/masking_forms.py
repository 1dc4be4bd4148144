"""The forms a secret can take in text, and the two regexes the masker is compiled to.

`secret_forms` expands one secret value into every string that must not leave the runner
(the value, its JSON-escaped, URL-encoded, hex and base64 forms, and the same for each
line). `longest_form_regex` and `form_start_at_end_regex` turn a set of forms into
trie-shaped regexes (shared prefixes factored out, so the engine tests one alternative
per distinct next character instead of every form).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from itertools import groupby
from urllib.parse import quote_from_bytes, quote_plus

MIN_SECRET_CHARS = 6
"""Values (and lines of multi-line values) shorter than this are not masked."""

_BASE64_ENCODERS: tuple[Callable[[bytes], bytes], ...] = (
    base64.b64encode,
    base64.urlsafe_b64encode,
)


def secret_bytes(value: str) -> bytes:
    """The bytes a program would see for `value`.

    Env values that were not UTF-8 reach Python with `surrogateescape` surrogates; those
    are turned back into their original bytes. Other lone surrogates are encoded as
    `surrogatepass` does, so no `str` makes this raise.
    """
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def base64_inner_span(offset: int, n_bytes: int) -> tuple[int, int]:
    """The characters of a base64 stream that encode only bytes of one embedded value.

    Args:
        offset: the value's first byte's offset in the stream modulo 3 (0, 1 or 2).
        n_bytes: the value's length in bytes.

    Returns:
        `(start, end)` character indexes into `b64encode(b"\\0" * offset + value)`:
        character `j` carries bits `6j … 6j+5` of the stream, so the characters whose six
        bits all belong to the value are `ceil(8·offset/6) ≤ j < floor(8·(offset+n)/6)`.
        Whatever precedes or follows the value in a larger blob changes only characters
        outside this span, and at most 4 bits of the value sit outside it on either side.
    """
    return -(-8 * offset // 6), 8 * (offset + n_bytes) // 6


def base64_inner_forms(data: bytes) -> set[str]:
    """The stable inner text of `data` in any base64 stream (standard and URL-safe).

    Returns:
        Three strings per alphabet, one per alignment: any base64 encoding of a blob
        `prefix + data + suffix` contains the one for `len(prefix) % 3` verbatim.
    """
    forms: set[str] = set()
    for offset in range(3):
        start, end = base64_inner_span(offset, len(data))
        for encode in _BASE64_ENCODERS:
            forms.add(encode(b"\0" * offset + data)[start:end].decode("ascii"))
    return forms


def _text_forms(text: str) -> set[str]:
    raw = secret_bytes(text)
    return {
        text,
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        quote_from_bytes(raw, safe=""),
        quote_from_bytes(raw),
        quote_plus(raw),
        raw.hex(),
        raw.hex().upper(),
        *base64_inner_forms(raw),
    }


def secret_forms(value: str) -> set[str]:
    """Every string that reveals `value` and so must be masked.

    Args:
        value: a secret of at least `MIN_SECRET_CHARS` characters.

    Returns:
        For the value and for each of its lines of at least `MIN_SECRET_CHARS`
        characters: the text itself; its JSON string escapes (`\\uXXXX` and raw non-ASCII);
        its URL encodings (`quote` with `safe=""` and `safe="/"`, and `quote_plus`); its
        hex (lower and upper case); and its base64 inner forms (standard and URL-safe,
        three alignments). Forms shorter than `MIN_SECRET_CHARS` are dropped.
    """
    texts = {value, *(line for line in value.splitlines() if len(line) >= MIN_SECRET_CHARS)}
    forms: set[str] = set()
    for text in texts:
        forms |= _text_forms(text)
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


def _common_prefix(strings: list[str]) -> str:
    """The longest common prefix of sorted `strings` (that of the first and the last)."""
    first, last = strings[0], strings[-1]
    if first == last:
        return first
    size = 0
    for a, b in zip(first, last, strict=False):
        if a != b:
            break
        size += 1
    return first[:size]


def longest_form_regex(forms: Iterable[str], *, trie: bool = True) -> str:
    """A regex that matches any of `forms`, the longest one where several start.

    Shaped as a trie: at every node the alternatives begin with distinct characters, so
    the greedy `(?:…)?` after a form that is also a prefix of others tries the longer
    forms first. Chains without a branch are plain literals. With `trie=False` it is a
    flat alternation, longest first (slower, but nesting depth 1 whatever the forms).
    """
    if not trie:
        return "|".join(re.escape(f) for f in sorted(set(forms), key=lambda f: (-len(f), f)))
    return _trie(sorted(set(forms)), root=True)


def _trie(strings: list[str], *, root: bool = False) -> str:
    optional = strings[0] == ""
    parts = []
    for _, grouped in groupby(strings[1:] if optional else strings, key=lambda s: s[0]):
        group = list(grouped)
        common = _common_prefix(group)
        rest = [s[len(common) :] for s in group]
        parts.append(re.escape(common) + ("" if rest == [""] else _trie(rest)))
    body = "|".join(parts)
    if optional:
        return f"(?:{body})?"
    return body if root or len(parts) == 1 else f"(?:{body})"


HEAD_CHARS = 16
"""`form_start_at_end_regex` spells out this many leading characters of each form."""


def form_start_at_end_regex(forms: Iterable[str], *, trie: bool = True) -> str:
    """A regex that finds where a proper prefix of one of `forms` may run to the end.

    `search(text, pos)` returns the leftmost `s ≥ pos` such that `text[s:]` is a proper
    prefix of a form, or it starts with the first `HEAD_CHARS` characters of a longer
    form (then the caller checks the rest: a candidate, not yet a prefix). It always
    matches, at worst the empty string at the end. Chains of the trie are written flat,
    `a(?:b|\\Z)(?:c|\\Z)`, correct because once `\\Z` has matched every later group
    matches it too; so the nesting depth is the number of branches, and the size is at
    most `HEAD_CHARS` per form. With `trie=False`, one flat chain per form.
    """
    heads: dict[str, bool] = {}
    for form in forms:
        head = form[:HEAD_CHARS]
        heads[head] = heads.get(head, False) or len(form) > HEAD_CHARS
    items = sorted(heads.items())
    return _starts(items) if trie else "|".join(_starts([item]) for item in items)


def _starts(items: list[tuple[str, bool]]) -> str:
    """Items are `(head, open)`: `open` heads stand for longer forms."""
    parts = [r"\Z"]
    for _, grouped in groupby((item for item in items if item[0]), key=lambda item: item[0][0]):
        group = list(grouped)
        common = _common_prefix([head for head, _ in group])
        rest = [(head[len(common) :], open_) for head, open_ in group]
        if rest == [("", True)]:
            chain, tail = common, r"(?s:.*)\Z"
        elif rest == [("", False)]:
            # A chain that ends a form: every proper prefix, never the whole chain.
            if len(common) == 1:
                continue
            chain, tail = common[:-1], r"\Z"
        else:
            chain, tail = common, _starts(rest)
        parts.append(
            re.escape(chain[0]) + "".join(f"(?:{re.escape(c)}|\\Z)" for c in chain[1:]) + tail
        )
    return f"(?:{'|'.join(parts)})"
