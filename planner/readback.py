"""A member's bytes read again from its wheel, for the few decisions the planner
cannot make from RECORD alone (a script compared with an installed one, a file
another RECORD hashes with another algorithm)."""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable, Iterator

from planner.hashing import encode_hash, open_regular
from planner.localheader import data_start
from planner.wheels import Member

# The largest member read back whole to compare it with an installed file (a script).
MAX_READ_BACK = 16 * 1024 * 1024
# Stored bytes read, and inflated bytes made, at a time when a member is read back.
_READ_BACK_BLOCK = 1024 * 1024


def member_bytes(wheel_path: str, member: Member) -> bytes | None:
    """A member's bytes read again from its wheel, when they are what its RECORD hash
    says and no larger than MAX_READ_BACK; None otherwise (no reason is needed: the
    caller then takes them for other bytes, and the applier checks what it writes).
    """
    if member.size > MAX_READ_BACK or member.compressed_size > MAX_READ_BACK:
        return None
    blocks: list[bytes] = []
    return b"".join(blocks) if _read_back(wheel_path, member, blocks.append) else None


def member_digest(wheel_path: str, member: Member, algorithm: str) -> str | None:
    """A member's hash by `algorithm` (one of ACCEPTED_HASHES), in RECORD's form, read
    again from its wheel, of any size: to tell whether it is the file a RECORD hashing
    with another algorithm lists (pip and uv keep each wheel's own). None when its
    bytes are not what its own RECORD hash says, or cannot be read (see `member_bytes`).
    """
    digest = hashlib.new(algorithm)
    return (
        encode_hash(algorithm, digest.digest())
        if _read_back(wheel_path, member, digest.update)
        else None
    )


def _read_back(wheel_path: str, member: Member, sink: Callable[[bytes], object]) -> bool:
    """Give `sink` a member's bytes, read again from its wheel in bounded blocks (a
    member may be gigabytes); whether they were all of it, and what its RECORD hash
    and size say."""
    algorithm = member.hash.partition("=")[0]
    size = 0
    try:
        check = hashlib.new(algorithm)
        fd = open_regular(wheel_path)
        try:
            found = data_start(fd, member.offset)
            if found is None:
                return False
            position, end = found[0], found[0] + member.compressed_size
            inflater = None
            if member.compression == zlib.DEFLATED:
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            while position < end:
                stored = os.pread(fd, min(_READ_BACK_BLOCK, end - position), position)
                if not stored:
                    return False
                position += len(stored)
                for block in [stored] if inflater is None else _inflated(inflater, stored):
                    size += len(block)
                    if size > member.size:
                        return False
                    check.update(block)
                    sink(block)
        finally:
            os.close(fd)
    except (OSError, zlib.error, ValueError):
        return False
    return size == member.size and encode_hash(algorithm, check.digest()) == member.hash


def _inflated(inflater: zlib._Decompress, stored: bytes) -> Iterator[bytes]:
    """What `stored` inflates to, in blocks of at most _READ_BACK_BLOCK bytes."""
    pending = stored
    while True:
        block = inflater.decompress(pending, _READ_BACK_BLOCK)
        pending = inflater.unconsumed_tail
        yield block
        # A full block may leave more held inside with all input taken: ask again.
        if not pending and len(block) < _READ_BACK_BLOCK:
            return
