"""Bounded decompression of a response body (``bot.fetch``).

A body is undone coding by coding, each step producing at most ``CHUNK`` bytes, so that
the fetcher can stop at its size limit counted in *decompressed* bytes: a 10 kB gzip
bomb must never become 10 GB of memory. Only gzip and deflate are accepted (the
encodings that decompress incrementally with a bound on the output).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from .errors import FetchError

CHUNK = 64 * 1024  # most bytes one decompression step may produce
# Content codings undone per response. Real servers apply one; a thousand nested gzip
# layers is an attack (each layer is a decoder, and a deep stack once meant recursion).
MAX_CODINGS = 4


class Inflater:
    """Incremental gzip/deflate decoding whose every step yields at most ``CHUNK`` bytes."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        # 32+ accepts both gzip and zlib headers; "deflate" is sometimes sent raw (no
        # zlib header), which we detect on the first failure, as browsers do.
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)
        self._started = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._obj.decompress(data, CHUNK)
            except zlib.error:
                if self.encoding == "deflate" and not self._started:
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                raise
            self._started = True
            if out:
                yield out
            if self._obj.eof:
                # A gzip stream may hold several members; the rest is the next one.
                rest = self._obj.unused_data
                self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)
                data = rest
            else:
                data = self._obj.unconsumed_tail


def decoders_for(content_encoding: str, host: str) -> list[Inflater]:
    decoders = []
    codings = [c.strip() for c in content_encoding.lower().split(",")]
    codings = [c for c in codings if c not in {"", "identity"}]
    if len(codings) > MAX_CODINGS:
        raise FetchError(
            f"{host} sent a body in {len(codings)} layers of encoding "
            f"(at most {MAX_CODINGS} are undone)"
        )
    for coding in codings:
        if coding in {"gzip", "x-gzip", "deflate"}:
            decoders.append(Inflater("deflate" if coding == "deflate" else "gzip"))
        else:
            raise FetchError(f"{host} sent a body in an unsupported encoding ({coding[:40]})")
    return decoders[::-1]  # codings are listed in the order they were applied


def decode(data: bytes, decoders: list[Inflater]) -> Iterator[bytes]:
    """``data`` through every decoder in turn, each step bounded (iterative: the depth
    of the decoder stack costs no recursion)."""
    if not decoders:
        if data:
            yield data
        return
    # One pending-input stack per level: level i holds chunks still to feed decoder i.
    stack: list[Iterator[bytes]] = [decoders[0].decode(data)]
    while stack:
        chunk = next(stack[-1], None)
        if chunk is None:
            stack.pop()
            continue
        level = len(stack)
        if level == len(decoders):
            yield chunk
        else:
            stack.append(decoders[level].decode(chunk))


__all__ = ["CHUNK", "MAX_CODINGS", "Inflater", "decode", "decoders_for"]
