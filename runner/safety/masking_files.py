"""Masking of file contents (contract §12: no secret value leaves the pod in a result).

A changed file of the workspace may hold a secret the agent wrote into it. Its bytes
are masked with the same `Masker` as every event, as text: the bytes are decoded as
UTF-8 with `surrogateescape`, so invalid sequences (binary data) survive the round trip
byte for byte and the secret's own bytes, wherever they sit, are found like in text.
The file is streamed in chunks through a `StreamMasker`, so memory stays bounded by the
chunk size and the longest secret form, whatever the file's size.
"""

from __future__ import annotations

import codecs
import hashlib
from typing import BinaryIO

from runner.safety.masking import Masker

__all__ = ["CHUNK_BYTES", "mask_stream"]

CHUNK_BYTES = 1 << 20
"""Bytes read per step (1 MiB)."""


def mask_stream(source: BinaryIO, target: BinaryIO, masker: Masker) -> bool:
    """Copy `source` to `target` with every secret form replaced by `***`.

    Args:
        source: readable binary stream (read to its end).
        target: writable binary stream; receives the masked bytes.
        masker: the attempt's masker.

    Returns:
        Whether anything was masked (the copy differs from the source).
    """
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    stream = masker.stream()
    digest_in, digest_out = hashlib.sha256(), hashlib.sha256()

    def write(text: str) -> None:
        if text:
            data = text.encode("utf-8", "surrogateescape")
            digest_out.update(data)
            target.write(data)

    while chunk := source.read(CHUNK_BYTES):
        digest_in.update(chunk)
        write(stream.feed(decoder.decode(chunk)))
    write(stream.feed(decoder.decode(b"", final=True)))
    write(stream.flush())
    return digest_in.digest() != digest_out.digest()
