"""A zip archive's central directory, read in one pass over the archive's bytes.

`zipfile` builds a ZipInfo object per member, with a date, a name index and file
reads the planner has no use for, and the planner reads 17,000 members per plan.
This reads the same records with one struct call each, makes the checks zipfile
makes while opening an archive and refuses in zipfile's words, so a damaged wheel
is refused as before. The checks a wheel's members need (paths, methods, local
headers) are `planner.archive`'s.
"""

from __future__ import annotations

import mmap
import stat
import struct
from typing import NamedTuple

# The records, as APPNOTE.TXT lays them out; `x` skips what is not read (made-by
# version, reserved byte, time and date, disk number and internal attributes).
_CENTRAL = struct.Struct("<4sxBBxHH4x3L3H4x2L")
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_END64 = struct.Struct("<4sQ2H2L4Q")
_END64_SIGNATURE = b"PK\x06\x06"
_EXTRA_HEADER = struct.Struct("<HH")
_ZIP64_EXTRA = 0x0001
_ZIP64_VALUE = struct.Struct("<Q")
# The archive comment that may follow the end record is at most this long.
_MAX_COMMENT = 0xFFFF
# The newest "version needed to extract" zipfile reads (6.3).
_MAX_EXTRACT_VERSION = 63
_UNIX = 3
_UTF8_FLAG = 0x800

NOT_A_ZIP = "not a zip archive (the file is damaged, cut short, or not a wheel)"

Buffer = bytes | mmap.mmap


class Unreadable(Exception):
    """The archive cannot be read at all; the message is the whole problem."""


def _invalid(why: str) -> Unreadable:
    return Unreadable(f"not a valid zip archive ({why})")


class Entry(NamedTuple):
    """One central directory record, with ZIP64 values in place of the 32-bit ones.

    A named tuple, not an attrs class: a plan makes one per member, 17,000 of them,
    and a tuple is made in half the time.
    """

    name: str
    # The name as stored, which the member's local header must repeat.
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    # Where the member's local header starts.
    offset: int
    # The stored st_mode; 0 when none was stored.
    unix_mode: int


def read_entries(data: Buffer) -> tuple[list[Entry], int]:
    """Every central directory record in order, and where the directory starts."""
    start, size, shift = _central_span(data)
    central = data[start : start + size]
    entries = []
    unpack = _CENTRAL.unpack_from
    position = 0
    try:
        while position < size:
            # Short names or fields at the end are read short, as zipfile reads them.
            if len(central) - position < _CENTRAL.size:
                raise _invalid("Truncated central directory")
            (
                signature,
                system,
                version,
                flags,
                method,
                crc,
                compressed,
                length,
                name_length,
                extra_length,
                comment_length,
                attributes,
                offset,
            ) = unpack(central, position)
            if signature != _CENTRAL_SIGNATURE:
                raise _invalid("Bad magic number for central directory")
            position += _CENTRAL.size
            raw_name = central[position : position + name_length]
            # ASCII reads the same either way, and its decoder is the fastest.
            utf8 = flags & _UTF8_FLAG or raw_name.isascii()
            name = raw_name.decode("utf-8" if utf8 else "cp437")
            if version > _MAX_EXTRACT_VERSION:
                raise _invalid(f"zip file version {version / 10:.1f}")
            position += name_length
            if extra_length:
                extra = central[position : position + extra_length]
                length, compressed, offset = _zip64_values(extra, length, compressed, offset)
            position += extra_length + comment_length
            mode = attributes >> 16
            if system != _UNIX and not stat.S_ISREG(mode):
                # Another system's attributes; a regular file's mode there is a unix
                # one (as Info-ZIP and 7-Zip write it), which pip and installer keep.
                mode = 0
            entries.append(
                Entry(name, raw_name, flags, method, crc, compressed, length, offset + shift, mode)
            )
    except UnicodeDecodeError:
        raise _invalid("a member name is not valid UTF-8") from None
    return entries, start


def _central_span(data: Buffer) -> tuple[int, int, int]:
    """The central directory's start and size, and how far the archive is shifted in
    the file (by bytes prepended to it, which zipfile allows for)."""
    end = _end_record(data)
    size, offset = _END.unpack_from(data, end)[5:7]
    shift = end - size - offset
    zip64 = _zip64_span(data, end)
    if zip64 is not None:
        size, offset = zip64
        shift = end - size - offset - _END64.size - _END64_LOCATOR.size
    start = offset + shift
    if start < 0:
        raise _invalid("Bad offset for central directory")
    return start, size, shift


def _end_record(data: Buffer) -> int:
    """Where the end of central directory record starts: at the very end of the file,
    or else the last one within a comment's length of it."""
    end = len(data) - _END.size
    if end < 0:
        raise Unreadable(NOT_A_ZIP)
    if data[end : end + 4] == _END_SIGNATURE and data[-2:] == b"\0\0":
        return end
    end = data.rfind(_END_SIGNATURE, max(end - _MAX_COMMENT - 1, 0))
    if end < 0 or len(data) - end < _END.size:
        raise Unreadable(NOT_A_ZIP)
    return end


def _zip64_span(data: Buffer, end: int) -> tuple[int, int] | None:
    """The directory's size and offset from a ZIP64 end record, when there is one."""
    locator = end - _END64_LOCATOR.size
    if locator < 0:
        return None
    signature, disk, _, disks = _END64_LOCATOR.unpack_from(data, locator)
    if signature != _END64_LOCATOR_SIGNATURE:
        return None
    if disk != 0 or disks > 1:
        raise _invalid("zipfiles that span multiple disks are not supported")
    record = locator - _END64.size
    if record < 0:
        raise Unreadable(NOT_A_ZIP)
    fields = _END64.unpack_from(data, record)
    if fields[0] != _END64_SIGNATURE:
        return None
    return fields[8], fields[9]


def _zip64_values(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """The size, compressed size and offset, each taken from a ZIP64 extra field when
    its 32-bit field says so; every extra field's length is checked."""
    while len(extra) >= _EXTRA_HEADER.size:
        kind, length = _EXTRA_HEADER.unpack_from(extra)
        if length + _EXTRA_HEADER.size > len(extra):
            raise _invalid(f"Corrupt extra field {kind:04x} (size={length})")
        if kind == _ZIP64_EXTRA:
            values = extra[_EXTRA_HEADER.size : _EXTRA_HEADER.size + length]
            if size in (0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF):
                size, values = _zip64_value(values, "File size")
            if compressed == 0xFFFF_FFFF:
                compressed, values = _zip64_value(values, "Compress size")
            if offset == 0xFFFF_FFFF:
                offset, values = _zip64_value(values, "Header offset")
        extra = extra[_EXTRA_HEADER.size + length :]
    return size, compressed, offset


def _zip64_value(values: bytes, field: str) -> tuple[int, bytes]:
    if len(values) < _ZIP64_VALUE.size:
        raise _invalid(f"Corrupt zip64 extra field. {field} not found.")
    return _ZIP64_VALUE.unpack_from(values)[0], values[_ZIP64_VALUE.size :]
