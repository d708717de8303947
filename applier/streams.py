"""Stream one planned file to disk, checking its bytes against RECORD as they pass.

A wheel member is read straight from the archive with `os.pread` at the offset the
plan carries (no zipfile object per member), inflated in bounded chunks so memory
stays flat, hashed, and written with `os.write`. Any mismatch raises before the
apply can commit.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib
from collections.abc import Iterator

from applier import faults
from planner.plan import Source

CHUNK = 1024 * 1024
# Members up to this size are inflated in one call; larger ones are streamed.
SMALL = 4 * 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class StreamError(Exception):
    """The bytes on disk do not match what the plan and RECORD promise."""


def _encode(algorithm: str, digest: bytes) -> str:
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _data_start(wheel_fd: int, source: Source) -> int:
    assert source.offset is not None and source.member is not None
    header = os.pread(wheel_fd, _LOCAL_HEADER.size, source.offset)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise StreamError(f"member {source.member!r}: no local header at offset {source.offset}")
    fields = _LOCAL_HEADER.unpack(header)
    name_length, extra_length = int(fields[10]), int(fields[11])
    name = os.pread(wheel_fd, name_length, source.offset + _LOCAL_HEADER.size)
    if name.decode("utf-8", "replace") != source.member and name.decode("cp437") != source.member:
        raise StreamError(f"member {source.member!r}: the archive has {name!r} at that offset")
    return source.offset + _LOCAL_HEADER.size + name_length + extra_length


def _chunks(wheel_fd: int, source: Source) -> Iterator[bytes]:
    """Yield the member's uncompressed bytes in bounded chunks."""
    start = _data_start(wheel_fd, source)
    remaining = source.compressed_size or 0
    if source.compression == 0:
        while remaining:
            block = os.pread(wheel_fd, min(CHUNK, remaining), start)
            if not block:
                raise StreamError(f"member {source.member!r} is truncated")
            start += len(block)
            remaining -= len(block)
            yield block
        return
    inflater = zlib.decompressobj(-15)
    limit = source.size + 1
    if remaining <= SMALL and source.size <= SMALL:
        try:
            block = inflater.decompress(os.pread(wheel_fd, remaining, start), limit)
        except zlib.error as error:
            raise StreamError(f"member {source.member!r} does not inflate: {error}") from None
        yield block
        return
    pending = b""
    while True:
        if not pending and remaining:
            pending = os.pread(wheel_fd, min(CHUNK, remaining), start)
            if not pending:
                raise StreamError(f"member {source.member!r} is truncated")
            start += len(pending)
            remaining -= len(pending)
        try:
            block = inflater.decompress(pending, CHUNK)
        except zlib.error as error:
            raise StreamError(f"member {source.member!r} does not inflate: {error}") from None
        pending = inflater.unconsumed_tail
        if block:
            yield block
        if inflater.eof or (not pending and not remaining and not block):
            return


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_file(
    destination: str,
    source: Source,
    wheel_fd: int | None,
    shebang: bytes,
    *,
    fsync: bool = False,
    mtime: int | None = None,
) -> tuple[str, int]:
    """Create `destination` (which must not exist) and return its sha256 RECORD hash and size."""
    algorithm = source.hash.partition("=")[0] if source.kind == "member" else "sha256"
    check = hashlib.new(algorithm)
    output = hashlib.sha256()
    size = 0
    if source.kind == "inline":
        assert source.content is not None
        blocks: Iterator[bytes] = iter([source.content.encode("utf-8")])
    else:
        assert wheel_fd is not None
        blocks = _chunks(wheel_fd, source)
    faults.checkpoint()
    fd = os.open(destination, _OPEN_FLAGS, source.mode)
    try:
        first = True
        for block in blocks:
            check.update(block)
            size += len(block)
            if size > source.size:
                raise StreamError(f"{source.member or destination!r} is larger than RECORD says")
            if first and source.rewrite_shebang and block.startswith(b"#!python"):
                newline = block.find(b"\n")
                rest = block[newline + 1 :] if newline >= 0 else b""
                block = shebang + b"\n" + rest
            first = False
            output.update(block)
            _write_all(fd, block)
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    expected = source.hash
    if size != source.size or _encode(algorithm, check.digest()) != expected:
        raise StreamError(
            f"{source.member or destination!r} does not match its RECORD hash or size"
            " (the wheel is corrupt or was changed)"
        )
    return _encode("sha256", output.digest()), size


__all__ = ["StreamError", "write_file"]
