"""Throughput of `runner.safety.masking`: `mask` on 1 MB and `StreamMasker` over small deltas.

Run: `uv run --frozen python bench/bench_masking.py`. Prints MB/s; asserts nothing about
time (timing belongs here, not in tests).
"""

from __future__ import annotations

import base64
import random
import string
import time

from runner.safety.masking import Masker

TEXT_BYTES = 1_000_000
N_SECRETS = 20


def _secrets(rng: random.Random, chars: int) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits + "-_"
    return {
        f"SECRET_{i}": "".join(rng.choice(alphabet) for _ in range(chars)) for i in range(N_SECRETS)
    }


def _text(rng: random.Random, secrets: list[str]) -> str:
    """About 1 MB of log-like lines, a few with a secret in plain or base64 form."""
    words = ["build", "ok", "error:", "src/main.py", "42", "0x7f", "--flag", '{"k": 1}']
    lines: list[str] = []
    size = 0
    while size < TEXT_BYTES:
        line = " ".join(rng.choice(words) for _ in range(8))
        line += " " + base64.b64encode(rng.randbytes(24)).decode()
        if rng.random() < 0.01:
            secret = rng.choice(secrets)
            line += " " + (
                secret if rng.random() < 0.5 else base64.b64encode(b"x" + secret.encode()).decode()
            )
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def _rate(label: str, seconds: float, chars: int) -> None:
    print(f"{label:<52} {chars / seconds / 1e6:8.1f} MB/s  ({seconds * 1e3:7.1f} ms)")


def main() -> None:
    rng = random.Random(6)
    for secret_chars in (40, 1500):
        secrets = _secrets(rng, secret_chars)
        text = _text(rng, list(secrets.values()))
        started = time.perf_counter()
        masker = Masker(secrets)
        longest = masker.max_form_chars  # compiles
        compile_seconds = time.perf_counter() - started
        print(
            f"{N_SECRETS} secrets of {secret_chars} chars: compile {compile_seconds * 1e3:.0f} ms,"
            f" longest form {longest} chars"
        )
        started = time.perf_counter()
        masked = masker.mask(text)
        _rate(f"  mask() on {len(text) / 1e6:.1f} MB", time.perf_counter() - started, len(text))
        print(f"  ({masked.count('***')} masks)")
        for delta_chars in (16, 4096):
            stream = masker.stream()
            started = time.perf_counter()
            pieces = [
                stream.feed(text[i : i + delta_chars]) for i in range(0, len(text), delta_chars)
            ]
            pieces.append(stream.flush())
            seconds = time.perf_counter() - started
            assert "".join(pieces) == masked
            _rate(f"  StreamMasker.feed() in {delta_chars}-char deltas", seconds, len(text))


if __name__ == "__main__":
    main()
