"""A download's bytes as the server encoded them, back to the wheel's own.

wheelplan asks for the identity encoding, as pip and uv ask; a server may gzip a wheel
anyway, and the lock's hashes are the wheel's, not the gzip stream's. uv decodes such
an answer and checks what it decoded, and so does wheelplan (pip checks the gzip
stream and calls the hash wrong). The header lists the codings in the order the
server applied them (RFC 9110), gzip on gzip too, identity being none: each is undone
in turn. An encoding the standard library cannot decode is refused by name, as is a
body that is not the gzip it is said to be.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

ASKED = "identity"
# The names RFC 9110 gives gzip; `x-gzip` is its old alias, which it says to accept.
_GZIP = frozenset({"gzip", "x-gzip"})
# How a gzip member starts (RFC 1952).
_MAGIC = b"\x1f\x8b"


class Undecodable(Exception):
    """The body is in an encoding wheelplan cannot decode, or is not in the one named."""


def decoded(blocks: Iterable[bytes], encoding: str | None, limit: int) -> Iterator[bytes]:
    """`blocks` decoded as the Content-Encoding `encoding` says (the values of all its
    header fields, joined by commas, as RFC 9110 reads several). An encoding it cannot
    decode is refused here, before a block is read."""
    applied = _codings(encoding)
    if any(coding not in _GZIP for coding in applied):
        raise Undecodable(
            f"the server sent it with Content-Encoding {encoding!r}, which wheelplan does"
            f" not decode (it asked for the {ASKED} encoding)"
        )
    for _ in applied:  # the last applied is undone first; all are gzip
        blocks = _gunzipped(blocks, encoding, limit)
    return iter(blocks)


def as_sent(encoding: str | None) -> bool:
    """Whether a body with the Content-Encoding `encoding` is the wheel's own bytes
    (none, or the identity encoding asked for), its length theirs."""
    return not _codings(encoding)


def _codings(encoding: str | None) -> list[str]:
    """The codings `encoding` lists, in the order applied, less identity's no-op."""
    listed = (coding.strip().lower() for coding in (encoding or "").split(","))
    return [coding for coding in listed if coding and coding != ASKED]


def _gunzipped(blocks: Iterable[bytes], encoding: str | None, limit: int) -> Iterator[bytes]:
    """In blocks of at most `limit` bytes: a small gzip body may inflate to gigabytes,
    which the caller's size check stops a block at a time."""
    inflater = _gunzip()
    trailing = False  # past the last member: what is left is read and passed over
    held = b""  # a member's first byte, alone at a block's end
    try:
        for block in blocks:
            block, held = held + block, b""
            while block and not trailing:
                if inflater.eof:  # another member follows, as gzip allows, or zeros
                    # that pad the stream, which gzip and Python's gzip pass over
                    if not (block := block.lstrip(b"\0")):
                        break
                    if block == _MAGIC[:1]:  # the next block says if a member starts
                        held = block
                        break
                    # Other bytes, as gzip (warning) and uv pass over: the hashes
                    # checked are the decoded wheel's, which they are no part of.
                    if trailing := not block.startswith(_MAGIC):
                        break
                    inflater = _gunzip()
                out = inflater.decompress(block, limit)
                block = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                if out:
                    yield out
    except zlib.error as error:
        raise Undecodable(_not_gzip(encoding, str(error))) from None
    if not inflater.eof:
        raise Undecodable(_not_gzip(encoding, "the gzip stream ends before its end"))


def _gunzip() -> zlib._Decompress:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def _not_gzip(encoding: str | None, why: str) -> str:
    return f"the server sent it with Content-Encoding {encoding!r}, and it is not gzip: {why}"


__all__ = ["ASKED", "Undecodable", "as_sent", "decoded"]
