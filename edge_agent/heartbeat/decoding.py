"""A reply's Content-Encoding undone piece by piece, never inflating past what may still be kept.

The body cap counts bytes after decompression: 10 KB of gzip can hold 10 MB of zeros.
Each piece is inflated with ``max_length`` one byte past the room left under the cap, so
a bomb stops at the cap plus one byte, in memory too, and the caller refuses the reply.
``gzip`` and ``deflate`` (zlib-wrapped or raw, as servers send both) are read, as
advertised in ``Accept-Encoding``; ``identity`` is no encoding. Anything else (a second
encoding on top, ``br`` nobody asked for) is a :class:`DecodingError`: handed on still
compressed, it would only fail later as "not JSON", without saying why.
"""

from __future__ import annotations

import zlib
from typing import Optional

ACCEPT_ENCODING = "gzip, deflate"


class DecodingError(Exception):
    """The body cannot be decoded: an encoding not supported, or compressed data that is broken."""


class Decoder:
    """Undoes one Content-Encoding; :meth:`decode` returns at most ``room + 1`` bytes per piece."""

    def __init__(self, content_encoding: str) -> None:
        codings = [part.strip().lower() for part in content_encoding.split(",")]
        codings = [coding for coding in codings if coding not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "deflate")):
            raise DecodingError(f"unsupported Content-Encoding {content_encoding!r}")
        self._coding = codings[0] if codings else None
        self._inflater: Optional[zlib._Decompress] = None
        if self._coding == "gzip":
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self._coding == "deflate":
            self._inflater = zlib.decompressobj()
        self._first = True

    def decode(self, data: bytes, room: int) -> bytes:
        """The decoded bytes of ``data``; more than ``room`` of them means the reply is too large."""
        if self._inflater is None:
            return data
        first, self._first = self._first, False
        try:
            return self._inflater.decompress(data, room + 1)
        except zlib.error as exc:
            if first and self._coding == "deflate":  # raw deflate, without the zlib header
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data, room)
            raise DecodingError(str(exc)) from exc

    def flush(self) -> bytes:
        """What the inflater still holds at the end of the body (nothing, once all input was taken)."""
        if self._inflater is None:
            return b""
        try:
            return self._inflater.flush()
        except zlib.error as exc:
            raise DecodingError(str(exc)) from exc
