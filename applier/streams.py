"""Stream one planned file to disk, checking its bytes against RECORD as they pass.

A wheel member is read straight from the archive with `os.pread` at the offset the
plan carries (no zipfile object per member). With 17,000 small files the cost is
per file, not per byte, so a small member takes one `pread` (local header, name and
data together), one bounded inflate, one hash that is checked *before* the file is
created, and one `os.write`. A large member is inflated in bounded chunks so memory
stays flat, and checked when its last byte has passed. Any mismatch raises before
the apply can commit.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator

from applier import faults, inflate
from applier.modes import create
from planner.errors import name_the_file
from planner.hashing import encode_hash
from planner.localheader import (
    LOCAL_HEADER,
    LOCAL_LENGTHS,
    LOCAL_LENGTHS_AT,
    LOCAL_SIGNATURE,
    data_start,
)
from planner.plan import Source
from planner.shebang import rewritten

# Compressed bytes read per `pread` when streaming, and fed to the inflater per call:
# 64 KiB of input keeps the inflater's window and output in the CPU cache.
CHUNK = 1024 * 1024
FEED = 64 * 1024
# Inflated bytes returned per inflater call: bounds memory against a zip bomb.
OUTPUT = 1024 * 1024
# Members up to this size (compressed and uncompressed) are read and inflated at once.
SMALL = 4 * 1024 * 1024
# Deflated members at least this big are hashed by a second thread (see `_ReadBack`).
# Measured on the bench sets: the nvidia set's 58 MiB libnvrtc.so is 0.03 s faster with
# it (the other worker is soon idle); 24-29 MiB members in busy units were no faster.
READ_BACK = 32 * 1024 * 1024
# What that thread reads back at most at once: when it lags behind the writer (on a
# busy machine), this much more memory is in use for a moment.
READ_BACK_BLOCK = 8 * CHUNK
# A guess at a local header's extra field, read along with a small member so that one
# `pread` usually gets everything; a longer one costs a second read.
_EXTRA_GUESS = 64
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_READ_BACK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class StreamError(Exception):
    """The bytes on disk do not match what the plan and RECORD promise.

    `wheel` names the wheel file the bytes came from, so the error line can name it.
    """

    def __init__(self, message: str, wheel: str | None = None) -> None:
        super().__init__(message)
        self.wheel = wheel


def _hasher(algorithm: str) -> Callable[..., hashlib._Hash]:
    """The constructor for a RECORD hash name (validated by the planner and the applier)."""
    if algorithm == "sha256":
        return hashlib.sha256
    return lambda *data: hashlib.new(algorithm, *data)


def _mismatch(source: Source, destination: str) -> StreamError:
    return StreamError(
        f"{source.member or destination!r} does not match its RECORD hash or size"
        " (the wheel is corrupt or was changed)",
        source.wheel,
    )


def _check_name(raw: bytes, source: Source) -> None:
    assert source.member is not None
    if raw == source.member.encode("utf-8", "surrogateescape"):
        return
    if raw.decode("utf-8", "replace") != source.member and raw.decode("cp437") != source.member:
        raise StreamError(f"member {source.member!r}: the archive has {raw!r} at that offset")


def _no_header(source: Source) -> StreamError:
    return StreamError(f"member {source.member!r}: no local header at offset {source.offset}")


def _data_start(wheel_fd: int, source: Source) -> int:
    assert source.offset is not None and source.member is not None
    found = data_start(wheel_fd, source.offset)
    if found is None:
        raise _no_header(source)
    start, name = found
    _check_name(name, source)
    return start


def _small_member(wheel_fd: int, source: Source) -> bytes | memoryview:
    """A small member's uncompressed bytes, usually from a single `pread`."""
    assert source.offset is not None and source.member is not None
    compressed = source.compressed_size or 0
    head = LOCAL_HEADER.size + len(source.member.encode("utf-8", "surrogateescape"))
    buffer = os.pread(wheel_fd, head + _EXTRA_GUESS + compressed, source.offset)
    if len(buffer) < LOCAL_HEADER.size or buffer[:4] != LOCAL_SIGNATURE:
        raise _no_header(source)
    name_length, extra_length = LOCAL_LENGTHS.unpack_from(buffer, LOCAL_LENGTHS_AT)
    _check_name(buffer[LOCAL_HEADER.size : LOCAL_HEADER.size + name_length], source)
    start = LOCAL_HEADER.size + name_length + extra_length
    raw: bytes | memoryview
    if start + compressed <= len(buffer):
        raw = memoryview(buffer)[start : start + compressed]
    else:
        raw = os.pread(wheel_fd, compressed, source.offset + start)
    if len(raw) != compressed:
        raise StreamError(f"member {source.member!r} is truncated")
    if source.compression == 0:
        return raw
    try:
        # One byte more than RECORD promises is enough to see that it lied.
        return inflate.inflater().decompress(raw, source.size + 1)
    except inflate.ERRORS as error:
        raise StreamError(f"member {source.member!r} does not inflate: {error}") from None


def _stored_blocks(wheel_fd: int, source: Source) -> Iterator[bytes]:
    """The member's bytes as stored in the archive, read in bounded blocks."""
    start = _data_start(wheel_fd, source)
    remaining = source.compressed_size or 0
    while remaining:
        block = os.pread(wheel_fd, min(CHUNK, remaining), start)
        if not block:
            raise StreamError(f"member {source.member!r} is truncated")
        start += len(block)
        remaining -= len(block)
        yield block


def _chunks(wheel_fd: int, source: Source) -> Iterator[bytes | memoryview]:
    """Yield a large member's uncompressed bytes in bounded chunks."""
    if source.compression == 0:
        yield from _stored_blocks(wheel_fd, source)
        return
    inflater = inflate.inflater()
    for block in _stored_blocks(wheel_fd, source):
        view = memoryview(block)
        for at in range(0, len(view), FEED):
            pending: bytes | memoryview = view[at : at + FEED]
            while True:
                try:
                    out = inflater.decompress(pending, OUTPUT)
                except inflate.ERRORS as error:
                    raise StreamError(
                        f"member {source.member!r} does not inflate: {error}"
                    ) from None
                pending = inflater.unconsumed_tail
                if out:
                    yield out
                if inflater.eof:
                    return
                # A full output may leave more held inside with all input taken: ask again.
                if not pending and len(out) < OUTPUT:
                    break


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _plain_sha256(source: Source) -> bool:
    """A member whose RECORD hash is sha256 and whose bytes are written as they are."""
    return source.hash.startswith("sha256=") and not source.rewrite_shebang


def _finish(fd: int, fsync: bool, mtime: int | None) -> None:
    if mtime is not None:
        os.utime(fd, (mtime, mtime))
    if fsync:
        os.fsync(fd)


def _write_whole(
    destination: str,
    source: Source,
    data: bytes | memoryview,
    shebang: bytes,
    umask: int,
    fsync: bool,
    mtime: int | None,
) -> tuple[str, int]:
    """Check a file's bytes against RECORD, then create it: a bad member is never written."""
    algorithm = source.hash.partition("=")[0]
    if len(data) != source.size:
        raise _mismatch(source, destination)
    if encode_hash(algorithm, _hasher(algorithm)(data).digest()) != source.hash:
        raise _mismatch(source, destination)
    output = rewritten(data, shebang) if source.rewrite_shebang else data
    faults.checkpoint("create")
    fd = create(destination, _OPEN_FLAGS, source.mode, umask)
    try:
        if output:
            _write_all(fd, output)
        _finish(fd, fsync, mtime)
    finally:
        os.close(fd)
    if output is data:
        return source.hash, source.size
    return encode_hash("sha256", hashlib.sha256(output).digest()), len(output)


def _write_streamed(
    destination: str,
    source: Source,
    wheel_fd: int,
    shebang: bytes,
    umask: int,
    fsync: bool,
    mtime: int | None,
) -> tuple[str, int]:
    """Inflate, hash and write a large member chunk by chunk; check it at the end."""
    algorithm = source.hash.partition("=")[0]
    check = _hasher(algorithm)()
    # Only a rewritten script needs a second hash, of what is written.
    output = hashlib.sha256() if source.rewrite_shebang else None
    kept = True  # what is written is the member's bytes as they are
    size = 0
    output_size = 0
    blocks = _chunks(wheel_fd, source)
    faults.checkpoint("create")
    fd = create(destination, _OPEN_FLAGS, source.mode, umask)
    try:
        for block in blocks:
            if not block:
                continue
            check.update(block)
            size += len(block)
            if size > source.size:
                raise StreamError(f"{source.member or destination!r} is larger than RECORD says")
            out = block
            if source.rewrite_shebang and not output_size:
                out = rewritten(block, shebang)
                kept = out is block
            if output is not None:
                output.update(out)
            output_size += len(out)
            _write_all(fd, out)
        _finish(fd, fsync, mtime)
    finally:
        os.close(fd)
    if size != source.size or encode_hash(algorithm, check.digest()) != source.hash:
        raise _mismatch(source, destination)
    if output is None or kept:
        return source.hash, source.size
    return encode_hash("sha256", output.digest()), output_size


class _ReadBack:
    """Hashes a file from a second thread, reading back what the writer has written.

    For one huge member (torch's 434 MB `libtorch_cpu.so`) the worker's thread would
    inflate, hash and write one after the other; inflating holds no interpreter lock,
    and neither do `pread` and hashing, so a second thread hashes the bytes already on
    disk while the first inflates the next ones. The two share one file and two plain
    values (bytes written, and whether the writer is done), each written by one thread
    only: no lock, no queue.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0
        self.done = False
        self.digest = hashlib.sha256()
        self.error: OSError | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        position = 0
        try:
            while True:
                written = self.written
                if position < written:
                    block = os.pread(self.fd, min(written - position, READ_BACK_BLOCK), position)
                    if not block:
                        raise OSError(errno.EIO, "the file being written got shorter")
                    self.digest.update(block)
                    position += len(block)
                elif self.done:
                    return
                else:
                    time.sleep(0.001)
        except OSError as error:
            self.error = error

    def finish(self) -> str:
        """Wait for the hash of everything written (call once the writer has stopped)."""
        self.done = True
        self.thread.join()
        if self.error is not None:
            raise self.error
        return encode_hash("sha256", self.digest.digest())


def _write_read_back(
    destination: str, source: Source, wheel_fd: int, umask: int, fsync: bool, mtime: int | None
) -> tuple[str, int]:
    """A huge sha256 member: inflated and written here, hashed by `_ReadBack` meanwhile."""
    size = 0
    blocks = _chunks(wheel_fd, source)
    faults.checkpoint("create")
    fd = create(destination, _READ_BACK_FLAGS, source.mode, umask)
    hashing = _ReadBack(fd)
    try:
        try:
            for block in blocks:
                size += len(block)
                if size > source.size:
                    raise StreamError(
                        f"{source.member or destination!r} is larger than RECORD says"
                    )
                _write_all(fd, block)
                hashing.written = size
        finally:
            digest = hashing.finish()
        _finish(fd, fsync, mtime)
    finally:
        os.close(fd)
    if size != source.size or digest != source.hash:
        raise _mismatch(source, destination)
    return source.hash, source.size


def source_digests(
    wheel_fd: int | None, source: Source, algorithms: Collection[str]
) -> dict[str, str] | None:
    """A planned file's bytes as its source holds them (before a `#!python` line is
    rewritten) hashed by each of `algorithms`, in RECORD's form; None unless they are
    what its own RECORD hash and size say (writing it then refuses them, naming the
    wheel). Read as the file is written: a small member at once, a large one in chunks.
    """
    own = source.hash.partition("=")[0]
    hashers = {name: _hasher(name)() for name in {own, *algorithms}}
    size = 0
    try:
        for block in _source_blocks(wheel_fd, source):
            size += len(block)
            if size > source.size:
                return None
            for hasher in hashers.values():
                hasher.update(block)
    except StreamError:
        return None
    digests = {name: encode_hash(name, hasher.digest()) for name, hasher in hashers.items()}
    return digests if size == source.size and digests[own] == source.hash else None


def written_digest(
    wheel_fd: int | None, source: Source, shebang: bytes, algorithm: str
) -> str | None:
    """A planned file's bytes as they are written (a `#!python` line rewritten, as
    `write_file` rewrites it) hashed by `algorithm`, in RECORD's form; None unless its
    source's bytes are what its own RECORD hash and size say."""
    own = source.hash.partition("=")[0]
    check, output = _hasher(own)(), _hasher(algorithm)()
    size = 0
    try:
        for block in _source_blocks(wheel_fd, source):
            check.update(block)
            output.update(
                rewritten(block, shebang) if source.rewrite_shebang and not size else block
            )
            size += len(block)
            if size > source.size:
                return None
    except StreamError:
        return None
    if size != source.size or encode_hash(own, check.digest()) != source.hash:
        return None
    return encode_hash(algorithm, output.digest())


def _source_blocks(wheel_fd: int | None, source: Source) -> Iterable[bytes | memoryview]:
    """A source's bytes, read as the file is written: a small member at once, a large
    one in chunks."""
    if source.kind == "inline":
        return [(source.content or "").encode("utf-8")]
    assert wheel_fd is not None
    if (source.compressed_size or 0) > SMALL or source.size > SMALL:
        return _chunks(wheel_fd, source)
    return [_small_member(wheel_fd, source)]


def write_file(
    destination: str,
    source: Source,
    wheel_fd: int | None,
    shebang: bytes,
    *,
    umask: int,
    fsync: bool = False,
    mtime: int | None = None,
) -> tuple[str, int]:
    """Create `destination` (which must not exist) and return its RECORD hash and size:
    the source's own, whatever its algorithm, as pip and uv keep a wheel's; the sha256 of
    what is written for a script whose `#!python` line is rewritten.

    Its mode is `modes.file_mode` under `umask`. An `OSError` that names no file (a
    failed `write` says only why) names `destination`.
    """
    try:
        if source.kind == "inline":
            assert source.content is not None
            data: bytes | memoryview = source.content.encode("utf-8")
        else:
            assert wheel_fd is not None
            if source.size >= READ_BACK and source.compression != 0 and _plain_sha256(source):
                return _write_read_back(destination, source, wheel_fd, umask, fsync, mtime)
            if (source.compressed_size or 0) > SMALL or source.size > SMALL:
                return _write_streamed(destination, source, wheel_fd, shebang, umask, fsync, mtime)
            data = _small_member(wheel_fd, source)
        return _write_whole(destination, source, data, shebang, umask, fsync, mtime)
    except StreamError as error:
        error.wheel = error.wheel or source.wheel
        raise
    except OSError as error:
        name_the_file(error, destination)
        raise


__all__ = ["StreamError", "source_digests", "write_file"]
