"""The masker hides every form of every secret, in whole strings and in streams of deltas.

"Hidden" is checked two ways: the masked text contains no form from `secret_forms`, and,
for base64, no run of base64 characters left in the masked text decodes (at any bit
offset) to bytes that contain the secret.
"""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.safety import masking
from runner.safety.masking import MASK, Masker
from runner.safety.masking_forms import (
    base64_inner_span,
    form_start_at_end_regex,
    longest_form_regex,
    secret_bytes,
    secret_forms,
)

PROPERTY = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Secrets never contain `*`: a form with `*` could be re-created next to a `***`.
SECRET_CHARS = st.characters(exclude_characters="*")
secrets_st = st.text(SECRET_CHARS, min_size=6, max_size=40)
texts = st.text(max_size=60)
LINE_CHARS = string.ascii_letters + string.digits + " -_=+/.:$\"\\'{}"

B64_ALPHABETS: list[Callable[[bytes], bytes]] = [base64.b64encode, base64.urlsafe_b64encode]
_B64_VALUE = {c: i for i, c in enumerate(string.ascii_uppercase + string.ascii_lowercase)}
_B64_VALUE |= {c: 52 + i for i, c in enumerate(string.digits)}
_B64_VALUE |= {"+": 62, "-": 62, "/": 63, "_": 63}


def _forms_left(masker: Masker, secrets: list[str], text: str) -> set[str]:
    masked = masker.mask(text)
    return {form for secret in secrets for form in secret_forms(secret) if form in masked}


def _base64_decodings(text: str) -> Iterator[bytes]:
    """What every run of base64 characters in `text` decodes to, at each bit offset."""
    for run in re.split(r"[^A-Za-z0-9+/_-]+", text):
        bits = "".join(f"{_B64_VALUE[c]:06b}" for c in run)
        for offset in range(8):
            usable = bits[offset:][: (len(bits) - offset) // 8 * 8]
            yield int(usable, 2).to_bytes(len(usable) // 8, "big") if usable else b""


def _streamed(masker: Masker, pieces: list[str]) -> str:
    stream = masker.stream()
    out = []
    for piece in pieces:
        out.append(stream.feed(piece))
        assert stream.held_chars <= max(masker.max_form_chars - 1, 0)
    out.append(stream.flush())
    assert stream.held_chars == 0
    return "".join(out)


@st.composite
def split(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut at arbitrary points (empty pieces included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


# --- whole strings ---------------------------------------------------------------------


def test_a_secret_in_plain_text_becomes_three_stars() -> None:
    masker = Masker({"OPENAI_API_KEY": "sk-proj-abcdef123456"})
    assert masker.mask("key=sk-proj-abcdef123456 ok") == f"key={MASK} ok"
    assert masker.names == ["OPENAI_API_KEY"]


def test_text_without_secrets_is_returned_unchanged() -> None:
    assert Masker().mask("nothing to hide") == "nothing to hide"
    assert Masker({"T": "secret-token"}).mask("nothing to hide") == "nothing to hide"


def test_overlapping_occurrences_become_one_mask_and_touching_ones_two() -> None:
    masker = Masker({"A": "abcdefgh", "B": "efghijkl", "C": "lmnopq"})
    assert masker.mask("<abcdefghijkl>") == f"<{MASK}>"
    assert masker.mask("<abcdefghijklmnopq>") == f"<{MASK}>"
    assert masker.mask("<abcdefghabcdefgh>") == f"<{MASK}{MASK}>"


def test_a_value_given_again_under_another_name_is_listed_under_both() -> None:
    masker = Masker({"A": "same-value", "B": "same-value"})
    masker.add("A", "same-value")
    assert masker.names == ["A", "B"]
    assert masker.mask("same-value") == MASK


@given(name=st.text(min_size=1, max_size=10), value=st.text(min_size=1, max_size=5), text=texts)
@PROPERTY
def test_values_shorter_than_six_characters_are_named_in_too_short_and_never_masked(
    name: str, value: str, text: str
) -> None:
    masker = Masker({name: value})
    assert masker.too_short == [name]
    assert masker.names == []
    assert masker.mask(text + value) == text + value


def test_an_empty_value_is_neither_masked_nor_reported() -> None:
    masker = Masker({"EMPTY": ""})
    assert (masker.names, masker.too_short) == ([], [])


@given(secrets=st.lists(secrets_st, min_size=1, max_size=3), data=st.data())
@PROPERTY
def test_no_form_of_any_secret_survives_masking(secrets: list[str], data: st.DataObject) -> None:
    masker = Masker({f"S{i}": s for i, s in enumerate(secrets)})
    forms = sorted({form for s in secrets for form in secret_forms(s)})
    pieces = data.draw(st.lists(st.one_of(texts, st.sampled_from(forms)), max_size=8))
    assert _forms_left(masker, secrets, "".join(pieces)) == set()


@given(
    secret=st.text(
        st.sampled_from(['"', "\\", "\n", "\t", "\x00", "é", "\u2028", "😀", "a", "Z"]),
        min_size=6,
        max_size=20,
    ),
    before=texts,
    after=texts,
    ensure_ascii=st.booleans(),
)
@PROPERTY
def test_a_json_escaped_secret_with_quotes_backslashes_newlines_and_unicode_is_masked(
    secret: str, before: str, after: str, ensure_ascii: bool
) -> None:
    masker = Masker({"S": secret})
    document = json.dumps({"output": before + secret + after}, ensure_ascii=ensure_ascii)
    masked = masker.mask(document)
    assert json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1] not in masked
    assert secret not in masked


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: quote(s, safe=""),
        quote,
        quote_plus,
        lambda s: quote_plus(s, safe="/"),
    ],
    ids=["quote-safe-none", "quote", "quote_plus", "quote_plus-safe-slash"],
)
@given(secret=secrets_st, before=texts, after=texts)
@PROPERTY
def test_a_url_encoded_secret_inside_a_url_encoded_string_is_masked(
    encode: Callable[[str], str], secret: str, before: str, after: str
) -> None:
    masker = Masker({"S": secret})
    masked = masker.mask("https://h/?q=" + encode(before + secret + after))
    assert encode(secret) not in masked


@pytest.mark.parametrize(("offset", "span"), [(0, (0, 22)), (1, (2, 24)), (2, (3, 25))])
@pytest.mark.parametrize("encode", B64_ALPHABETS, ids=["standard", "urlsafe"])
def test_base64_of_a_secret_at_each_byte_alignment_loses_its_inner_characters(
    offset: int, span: tuple[int, int], encode: Callable[[bytes], bytes]
) -> None:
    secret = "canary-4f1d2c7e9b"  # 17 bytes: 136 bits
    stream = encode(b"x" * offset + secret.encode() + b" trailing").decode()
    start, end = span
    masked = Masker({"CANARY": secret}).mask(stream)
    assert masked == stream[:start] + MASK + stream[end:]


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("n_bytes", [6, 7, 8])
def test_the_base64_inner_span_is_exactly_the_characters_no_neighbour_byte_can_change(
    offset: int, n_bytes: int
) -> None:
    value = bytes(range(0x41, 0x41 + n_bytes))
    start, end = base64_inner_span(offset, n_bytes)
    streams = [
        base64.b64encode(bytes([before]) * offset + value + bytes([after]) * 3).decode()
        for before in (0x00, 0xFF)
        for after in (0x00, 0xFF)
    ]
    assert len({s[start:end] for s in streams}) == 1
    if start > 0:
        assert len({s[start - 1] for s in streams}) > 1
    assert len({s[end] for s in streams}) > 1


@given(
    secret=secrets_st,
    prefix=st.binary(max_size=40),
    suffix=st.binary(max_size=40),
    encode=st.sampled_from(B64_ALPHABETS),
)
@PROPERTY
def test_base64_of_any_blob_containing_a_secret_cannot_be_decoded_back_to_it(
    secret: str, prefix: bytes, suffix: bytes, encode: Callable[[bytes], bytes]
) -> None:
    raw = secret_bytes(secret)
    stream = encode(prefix + raw + suffix).decode()
    start, end = base64_inner_span(len(prefix) % 3, len(raw))
    inner = encode(b"\0" * (len(prefix) % 3) + raw).decode()[start:end]
    masked = Masker({"S": secret}).mask(stream)
    assert inner not in masked
    assert all(raw not in decoded for decoded in _base64_decodings(masked))


@given(secret=secrets_st, before=texts, after=texts, upper=st.booleans())
@PROPERTY
def test_a_hex_encoded_secret_is_masked(secret: str, before: str, after: str, upper: bool) -> None:
    hexed = secret_bytes(secret).hex()
    hexed = hexed.upper() if upper else hexed
    assert hexed not in Masker({"S": secret}).mask(before + hexed + after)


@given(
    lines=st.lists(st.text(LINE_CHARS, min_size=6, max_size=30), min_size=2, max_size=5),
    newline=st.sampled_from(["\n", "\r\n"]),
    data=st.data(),
)
@PROPERTY
def test_each_line_of_a_multi_line_secret_is_masked_on_its_own(
    lines: list[str], newline: str, data: st.DataObject
) -> None:
    secret = newline.join(lines)
    masker = Masker({"PEM": secret})
    line = data.draw(st.sampled_from(lines))
    assert line not in masker.mask(f"line {line} shown alone")
    assert masker.mask(secret) == MASK


def test_lines_shorter_than_six_characters_are_not_masked_on_their_own() -> None:
    masker = Masker({"PEM": "-----BEGIN KEY-----\nabc\nMIIEvQIBADANBg\n-----END KEY-----"})
    assert masker.mask("abc MIIEvQIBADANBg") == f"abc {MASK}"


def test_a_secret_from_undecodable_env_bytes_is_masked_as_those_bytes_in_base64() -> None:
    raw = b"\xff\xfe-secret-\x80"
    secret = raw.decode("utf-8", "surrogateescape")  # as os.environ gives it
    masker = Masker({"S": secret})
    assert masker.mask(secret) == MASK
    assert masker.mask(base64.b64encode(raw).decode()).count(MASK) == 1


@given(
    blob=st.binary(max_size=200),
    decode=st.sampled_from(
        [
            lambda b: b.decode("latin-1"),
            lambda b: b.decode("utf-8", "replace"),
            lambda b: b.decode("utf-8", "surrogateescape"),
        ]
    ),
    secret=st.binary(min_size=6, max_size=12),
)
@PROPERTY
def test_arbitrary_decoded_bytes_never_crash_the_masker(
    blob: bytes, decode: Callable[[bytes], str], secret: bytes
) -> None:
    text = decode(blob + secret + blob)
    masker = Masker({"S": decode(secret), "T": "fixed-secret"})
    masked = masker.mask(text)
    assert isinstance(masked, str)
    assert _streamed(masker, [text[: len(text) // 2], text[len(text) // 2 :]]) == masked


# --- JSON-like data --------------------------------------------------------------------


def test_mask_data_masks_every_string_in_nested_data_keys_included() -> None:
    masker = Masker({"T": "tok-123456"})
    data = {
        "tok-123456": [1, None, True, 2.5, ("x tok-123456", {"k": "tok-123456"})],
        "n": {"deep": ["tok-123456"]},
        3: "plain",
    }
    assert masker.mask_data(data) == {
        MASK: [1, None, True, 2.5, [f"x {MASK}", {"k": MASK}]],
        "n": {"deep": [MASK]},
        "3": "plain",
    }


# --- streams of deltas -----------------------------------------------------------------


def test_a_secret_split_across_two_deltas_is_masked_and_never_emitted_in_part() -> None:
    stream = Masker({"T": "sk-abcdef123456"}).stream()
    first = stream.feed("token: sk-abc")
    assert first == "token: "
    assert stream.feed("def123456 done") + stream.flush() == f"{MASK} done"


def test_a_partial_secret_at_the_end_of_the_stream_is_emitted_by_flush() -> None:
    stream = Masker({"T": "sk-abcdef123456"}).stream()
    assert stream.feed("ends with sk-abc") == "ends with "
    assert stream.flush() == "sk-abc"


def test_a_stream_holds_back_only_a_tail_that_can_still_become_a_secret() -> None:
    secret = "tok_" + "0123456789" * 5
    stream = Masker({"T": secret}).stream()
    assert stream.feed("see " + secret[:30]) == "see "
    assert stream.held_chars == 30
    assert stream.feed("!") == secret[:30] + "!"
    assert stream.held_chars == 0


def test_a_stream_without_secrets_holds_nothing_back() -> None:
    stream = Masker({"PIN": "1234"}).stream()
    assert stream.feed("1234 and more") == "1234 and more"
    assert stream.held_chars == 0


def test_an_endless_run_of_overlapping_secrets_is_one_mask_with_bounded_memory() -> None:
    masker = Masker({"A": "aaaaaa"})
    stream = masker.stream()
    out = [stream.feed("x")] + [stream.feed("a" * 97) for _ in range(1000)]
    assert max(0, stream.held_chars) < masker.max_form_chars
    assert "".join(out) + stream.flush() == f"x{MASK}"


@given(
    secrets=st.lists(
        st.one_of(secrets_st, st.text("ab\n", min_size=6, max_size=10)), min_size=1, max_size=3
    ),
    data=st.data(),
)
@PROPERTY
def test_streaming_any_split_of_any_text_equals_masking_the_whole_text(
    secrets: list[str], data: st.DataObject
) -> None:
    masker = Masker({f"S{i}": s for i, s in enumerate(secrets)})
    forms = sorted({form for s in secrets for form in secret_forms(s)})
    filler = st.one_of(texts, st.text("ab\n", max_size=12))
    text = "".join(data.draw(st.lists(st.one_of(filler, st.sampled_from(forms)), max_size=8)))
    pieces = data.draw(split(text))
    streamed = _streamed(masker, pieces)
    assert streamed == masker.mask(text)
    assert _forms_left(masker, secrets, streamed) == set()


@given(secret=secrets_st, prefix=st.binary(max_size=30), data=st.data())
@PROPERTY
def test_base64_of_a_secret_streamed_one_character_at_a_time_is_masked(
    secret: str, prefix: bytes, data: st.DataObject
) -> None:
    masker = Masker({"S": secret})
    text = base64.b64encode(prefix + secret_bytes(secret) + b"tail").decode()
    pieces = data.draw(split(text))
    assert _streamed(masker, pieces) == masker.mask(text)
    assert _streamed(masker, list(text)) == masker.mask(text)


def test_a_secret_longer_than_the_trie_head_split_anywhere_is_masked() -> None:
    secret = "eyJhbGciOiJSUzI1NiJ9." + "x" * 300 + ".signature"
    masker = Masker({"ID_TOKEN": secret})
    text = f'{{"id_token": "{secret}"}} and {secret[:200]} only half'
    whole = masker.mask(text)
    assert secret not in whole
    for cut in range(0, len(text), 7):
        assert _streamed(masker, [text[:cut], text[cut:]]) == whole


@given(
    secrets=st.lists(st.text("ab\n", min_size=6, max_size=24), min_size=1, max_size=6),
    data=st.data(),
)
@PROPERTY
def test_the_flat_fallback_regexes_find_what_the_trie_regexes_find(
    secrets: list[str], data: st.DataObject
) -> None:
    forms = {form for secret in secrets for form in secret_forms(secret)}
    text = data.draw(st.text("ab\n6", max_size=80))
    pairs = [
        (longest_form_regex(forms), longest_form_regex(forms, trie=False)),
        (form_start_at_end_regex(forms), form_start_at_end_regex(forms, trie=False)),
    ]
    for trie, flat in pairs:
        for pos in range(len(text) + 1):
            by_trie, by_flat = (re.compile(p).search(text, pos) for p in (trie, flat))
            assert (by_trie and by_trie.span()) == (by_flat and by_flat.span())


def test_a_masker_whose_trie_is_too_deep_for_the_regex_compiler_falls_back_to_flat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def too_deep(forms: Iterable[str], *, trie: bool = True) -> str:
        if trie:
            raise RecursionError
        return longest_form_regex(forms, trie=False)

    monkeypatch.setattr(masking, "longest_form_regex", too_deep)
    masker = Masker({f"S{i}": "a" * i for i in range(6, 40)})
    text = "x" + "a" * 100 + "y" + "a" * 7 + "z"
    assert masker.mask(text) == f"x{MASK}y{MASK}z"
    assert _streamed(masker, [text[i : i + 9] for i in range(0, len(text), 9)]) == (
        masker.mask(text)
    )
