"""Hashes as RECORD writes them, and a wheel file's sha256.

The standard library only: the applier checks every member and wheel with these, and
must not import what reading wheels takes (installer, packaging, email).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import mmap
import os
import re
import stat
import threading

# Hash names RECORD may use: sha256 or stronger (the spec forbids md5 and sha1).
ACCEPTED_HASHES = frozenset(
    {"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b"}
)


def encode_hash(algorithm: str, digest: bytes) -> str:
    """A digest in RECORD's form: `name=` and unpadded urlsafe base64."""
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


# sha256 as RECORD should spell it: 32 bytes in unpadded urlsafe base64, whose last
# character carries 4 bits (its other 2 are zero).
_CANONICAL_SHA256 = re.compile(r"sha256=[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def canonical_hash(hash_text: str) -> str | None:
    """`name=value` with `value` as RECORD should spell it; None unless `value` encodes a
    digest of the size `name` makes.

    Some build tools wrote the padded or standard base64 alphabet (pantsbuild.pants) or
    hex (early flit); pip and uv do not check hashes, so such wheels install there.
    Reading them as the digests they spell checks the same bytes against the same digest.
    """
    if _CANONICAL_SHA256.fullmatch(hash_text):  # nearly every row: no decoding
        return hash_text
    algorithm, _, value = hash_text.partition("=")
    try:
        size = hashlib.new(algorithm).digest_size
    except ValueError:
        return None
    unpadded = value.rstrip("=")
    try:
        # Either alphabet: "-_" are read as "+/", which stay valid.
        digest = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), b"-_", validate=True)
    except ValueError:
        digest = b""
    if len(digest) != size and len(value) == 2 * size:
        try:
            digest = bytes.fromhex(value)
        except ValueError:
            digest = b""
    return encode_hash(algorithm, digest) if len(digest) == size else None


def record_hash(data: bytes) -> str:
    return encode_hash("sha256", hashlib.sha256(data).digest())


def open_regular(path: str) -> int:
    """A read-only descriptor on `path`, refused (OSError) unless it is a regular file.

    Opened without blocking and checked with fstat, so a FIFO or a device given as a
    wheel is refused instead of hanging the read, and what is checked is what is read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            kind = "it is a folder, not a file"
        elif stat.S_ISFIFO(mode):
            kind = "it is a named pipe (FIFO), not a file"
        else:
            kind = "it is a device or socket, not a regular file"
        raise OSError(errno.EINVAL, kind, path)
    return fd


def file_sha256(path: str) -> str:
    fd = open_regular(path)
    try:
        return mapped_sha256(fd)
    finally:
        os.close(fd)


def file_stamp(info: os.stat_result) -> list[int]:
    """What must not change for a hash taken earlier to still describe the file."""
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


# Bytes hashed per call when the file is mapped: each call releases the interpreter lock
# for its whole slice, and each slice is unmapped from memory once hashed.
_HASH_SLICE = 64 * 1024 * 1024


def mapped_sha256(fd: int, stop: threading.Event | None = None) -> str:
    """The sha256 of an open file, a large one hashed from a mapping in a few large calls.

    A thread hashing in 1 MiB reads would wait for the interpreter lock after every
    read (up to the 5 ms switch interval while the other thread parses); a mapped file
    needs the lock once per 64 MiB slice, and its bytes are not copied. (The applier's
    two hashing threads over 101 wheels, beside a busy main thread: 0.16 s with reads,
    0.12 s mapped.)
    """
    return file_digest(fd, "sha256", stop).hex()


# Files up to this size are read in one call: mapping one costs three system calls.
_READ_WHOLE = 1024 * 1024


class Abandoned(Exception):
    """A hash given up part way: whoever wanted it no longer does."""


def file_digest(fd: int, algorithm: str, stop: threading.Event | None = None) -> bytes:
    """The `algorithm` digest of an open regular file, from its first byte wherever the
    descriptor stands (see `mapped_sha256`).

    Raises ValueError for an algorithm hashlib does not have, and Abandoned once `stop`
    is set (checked between slices: a file given as a wheel may be a sparse terabyte).
    """
    digest = hashlib.new(algorithm)
    if not digest.digest_size:  # shake_128 and shake_256 want a length; no RECORD gives one
        raise ValueError(f"{algorithm} has no digest size")
    size = os.fstat(fd).st_size
    if size <= _READ_WHOLE:
        # Never past one byte more than its size: a file that says it is empty and reads
        # on (/proc/self/pagemap, 256 GiB) is hashed as what it says, and so refused.
        offset = 0
        while offset <= size and (chunk := os.pread(fd, size + 1 - offset, offset)):
            digest.update(chunk)
            offset += len(chunk)
    else:
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as view, memoryview(view) as data:
            for start in range(0, size, _HASH_SLICE):
                if stop is not None and stop.is_set():
                    raise Abandoned
                digest.update(data[start : start + _HASH_SLICE])
                if hasattr(mmap, "MADV_DONTNEED"):
                    view.madvise(mmap.MADV_DONTNEED, start, min(_HASH_SLICE, size - start))
    return digest.digest()
