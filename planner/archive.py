"""A wheel's zip archive, checked as an archive before any file in it is read.

zipfile reads much that no wheel builder writes, and that a hostile wheel uses to cost
time or memory or to show the planner other bytes than the applier reads: members past
the limits, a local header that disagrees with the central directory
(`planner.centraldir`), bytes that no member accounts for. These checks are apart from
what the wheel's dist-info says, which is read only from the members they passed.
A change to what they refuse or warn of bumps READER_VERSION (planner.wheelreader).
"""

from __future__ import annotations

import itertools
import mmap
import stat
import zlib

import attrs

from planner.centraldir import NOT_A_ZIP, Buffer, Entry, Unreadable, read_entries
from planner.errors import Collector
from planner.limits import Limits
from planner.localheader import (
    LOCAL_HEADER,
    LOCAL_LENGTHS,
    LOCAL_LENGTHS_AT,
    LOCAL_SIGNATURE,
)
from planner.paths import path_problem
from planner.wheels import FileMode

_ENCRYPTED_FLAG = 0x1
_DATA_DESCRIPTOR_FLAG = 0x8
# Flags zipfile refuses to read a member with, as the planner does for dist-info files.
_UNREADABLE_FLAGS = {
    0x20: "compressed patched data (flag bit 5)",
    0x40: "strong encryption (flag bit 6)",
}
_STORED, _DEFLATED = 0, 8
_STREAMABLE = (_STORED, _DEFLATED)


@attrs.frozen
class Archive:
    """One wheel's mapped bytes and what the checks made of its entries."""

    data: Buffer
    entries: list[Entry]
    # The entries that passed the member checks, in archive order.
    members: list[Entry]
    # Those of `members` whose local header agrees, by name.
    verified: dict[str, Entry]


def read_archive(data: Buffer, limits: Limits, errors: Collector) -> Archive:
    """The archive's entries and the members that pass the checks, each problem given to
    `errors`; raises Unreadable when there is no archive to check, Refused when the
    checks can go no further."""
    entries, central_start = read_entries(data)
    members = _checked_members(entries, limits, errors)
    verified = _check_local_headers(data, entries, members, central_start, errors)
    return Archive(data, entries, members, verified)


def map_file(fd: int) -> mmap.mmap:
    """The whole file, mapped rather than read: the planner touches only the pages that
    hold the archive's structure and its dist-info files."""
    try:
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except ValueError:  # an empty file
        raise Unreadable(NOT_A_ZIP) from None


def _most_compressed(size: int) -> int:
    """The most bytes a member of `size` bytes takes in a wheel: deflate stores what it
    cannot shrink (5 bytes for each 64 KiB block), an encoder that never stores spends at
    most 9 bits on a byte, and 1 KiB more is ample for a tiny member. Bytes past that are
    ones the member does not need, which the wheel's hash reads and no limit bounds."""
    return size + size // 8 + 1024


def _checked_members(entries: list[Entry], limits: Limits, errors: Collector) -> list[Entry]:
    """Regular, safe file members; directory entries and __pycache__ are passed over."""
    if len(entries) > limits.max_entries:
        errors.error(
            f"the archive has {len(entries)} entries, more than the limit of {limits.max_entries}"
            " (see --max-entries)"
        )
        errors.raise_if_any()
    members = []
    seen: set[str] = set()
    total = 0
    skipped_cache = False
    for entry in entries:
        name = entry.name
        if name in seen:
            errors.error(f"member {name!r} appears twice in the archive")
            continue
        seen.add(name)
        problem = path_problem(name[:-1] if name.endswith("/") else name)
        if problem:
            errors.error(f"member {name!r}: path {problem}")
            errors.refused.add(name)
            errors.refused.add(name.replace("\\", "/"))
            continue
        if name.endswith("/"):
            continue
        if entry.flags & _ENCRYPTED_FLAG:
            errors.error(f"member {name!r} is encrypted")
            errors.refused.add(name)
            continue
        if entry.method not in _STREAMABLE:
            errors.error(
                f"member {name!r} uses compression method {entry.method}"
                " (only stored and deflate are supported)"
            )
            errors.refused.add(name)
            continue
        size = entry.size
        total += size
        if entry.compressed_size > _most_compressed(size):
            errors.error(
                f"member {name!r} takes {entry.compressed_size} bytes in the archive for"
                f" {size} bytes, more than compression ever adds (the archive is damaged"
                " or was tampered with)"
            )
            errors.refused.add(name)
            continue
        if size > limits.ratio_floor and size > limits.max_ratio * max(entry.compressed_size, 1):
            errors.error(
                f"member {name!r} expands {size // max(entry.compressed_size, 1)} times"
                f" ({entry.compressed_size} bytes to {size}; the limit is"
                f" {limits.max_ratio} times, see --max-ratio): refusing a likely zip bomb"
            )
            errors.refused.add(name)
            continue
        if "__pycache__" in name and "__pycache__" in name.split("/"):
            skipped_cache = True
            continue
        members.append(entry)
    if total > limits.max_total_size:
        errors.error(
            f"unpacks to {total} bytes, more than the limit of {limits.max_total_size} bytes"
            " (see --max-total-size)"
        )
    if skipped_cache:
        errors.warn("__pycache__ members skipped (bytecode is compiled on the target, not copied)")
    return members


def _check_local_headers(
    data: Buffer,
    entries: list[Entry],
    members: list[Entry],
    central_start: int,
    errors: Collector,
) -> dict[str, Entry]:
    """Check each member's local header against the central directory, and how the
    members' spans fill the archive.

    Returns the members whose local header agrees, by name: the plan carries each
    one's offset so the applier can read it without parsing the archive again.
    """
    verified: dict[str, Entry] = {}
    spans: list[tuple[int, int, str]] = []
    last_header = len(data) - LOCAL_HEADER.size
    unpack = LOCAL_HEADER.unpack_from
    for entry in members:
        at = entry.offset
        if not 0 <= at < central_start:
            # Negative when the central directory lies about where the archive starts.
            errors.error(f"member {entry.name!r}: its local header is outside the archive")
            continue
        if at > last_header:
            errors.error(f"member {entry.name!r}: its local header is cut off")
            continue
        signature, _, _, flags, method, _, _, _, compressed_size, size, name_length, extra = unpack(
            data, at
        )
        name_at = at + LOCAL_HEADER.size
        if (
            signature != LOCAL_SIGNATURE
            or data[name_at : name_at + name_length] != entry.raw_name
            or method != entry.method
        ):
            errors.error(
                f"member {entry.name!r}: its local header disagrees with the"
                " central directory (the archive is damaged or was tampered with)"
            )
            continue
        local_sizes = (compressed_size, size)
        sizes_known = not flags & _DATA_DESCRIPTOR_FLAG and 0xFFFFFFFF not in local_sizes
        if sizes_known and local_sizes != (entry.compressed_size, entry.size):
            errors.error(
                f"member {entry.name!r}: its local header gives other sizes than"
                " the central directory (the archive is damaged or was tampered with)"
            )
            continue
        verified[entry.name] = entry
        spans.append((at, name_at + name_length + extra + entry.compressed_size, entry.name))
    spans.sort()
    for (_, end, name), (next_start, _, next_name) in itertools.pairwise(spans):
        if end > next_start:
            errors.error(
                f"members {name!r} and {next_name!r} overlap in the archive"
                " (a damaged archive or a zip bomb)"
            )
    if spans and spans[-1][1] > central_start:
        errors.error(
            f"member {spans[-1][2]!r} runs into the central directory (the archive is damaged)"
        )
    if not errors.problems:
        # Every entry left out of `spans` is one the member checks passed over.
        skipped = []
        if len(verified) < len(entries):
            skipped = [entry for entry in entries if entry.name not in verified]
        _check_unaccounted(data, spans, skipped, central_start, errors)
    return verified


# The widest gap between members, or between the last one and the central directory,
# that is not refused: well past a data descriptor (at most 24 bytes, after a member
# written to a stream), and little enough that 200,000 of them (see --max-entries) are
# 0.8 GB, a tenth of what a wheel may unpack to.
_MAX_GAP = 4096


def _check_unaccounted(
    data: Buffer,
    spans: list[tuple[int, int, str]],
    skipped: list[Entry],
    central_start: int,
    errors: Collector,
) -> None:
    """Refuse bytes that no entry accounts for: any before the first member, and a gap
    wider than `_MAX_GAP` after one. `spans` are the members' (start, end, name), in
    order; `skipped`, the directory and __pycache__ entries.

    zipfile reads an archive with bytes before it (a self-extracting one), but no wheel
    has them; and no limit bounds bytes outside the members, while the wheel's hash
    reads every one: a sparse terabyte with a small wheel after it would take an hour.
    """
    if skipped:
        last_header = len(data) - LOCAL_HEADER.size
        for entry in skipped:
            at = entry.offset
            if 0 <= at <= last_header:
                name_length, extra_length = LOCAL_LENGTHS.unpack_from(data, at + LOCAL_LENGTHS_AT)
                end = at + LOCAL_HEADER.size + name_length + extra_length + entry.compressed_size
                spans.append((at, end, entry.name))
        spans.sort()
    if not spans:
        return  # an archive of no members is refused for that
    position, _, previous = spans[0]
    if position > 0:
        errors.error(
            f"{position} bytes before the first member {previous!r}, which no wheel has"
            " (they are not part of the archive)"
        )
    for at, end, name in spans:
        if at - position > _MAX_GAP:
            errors.error(
                f"{at - position} bytes between members {previous!r} and {name!r}"
                " that no member accounts for"
            )
        if end > position:
            position, previous = end, name
    if central_start - position > _MAX_GAP:
        errors.error(
            f"{central_start - position} bytes between member {previous!r} and the"
            " central directory that no member accounts for"
        )


def member_mode(entry: Entry, errors: Collector) -> FileMode | None:
    """0o755 or 0o644 from the stored unix mode; None for a member that must be refused."""
    kind = stat.S_IFMT(entry.unix_mode)
    if kind == stat.S_IFLNK:
        errors.error(f"member {entry.name!r} is a symlink")
        return None
    if kind not in (0, stat.S_IFREG):
        errors.error(f"member {entry.name!r} is not a regular file")
        return None
    if entry.unix_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
        errors.warn(f"member {entry.name!r}: setuid, setgid and sticky bits dropped")
    return 0o755 if entry.unix_mode & 0o111 else 0o644


def inflate(data: Buffer, entry: Entry) -> bytes:
    """A member's bytes, checked against the central directory's size and CRC-32;
    ValueError says why they cannot be had."""
    for flag, feature in _UNREADABLE_FLAGS.items():
        if entry.flags & flag:
            raise ValueError(feature)
    name_length, extra_length = LOCAL_LENGTHS.unpack_from(data, entry.offset + LOCAL_LENGTHS_AT)
    start = entry.offset + LOCAL_HEADER.size + name_length + extra_length
    stored = data[start : start + entry.compressed_size]
    if entry.method == _STORED:
        content = stored[: entry.size]
    else:
        content = zlib.decompressobj(-zlib.MAX_WBITS).decompress(stored, entry.size)
    if len(content) != entry.size or zlib.crc32(content) != entry.crc:
        raise ValueError(f"Bad CRC-32 for file {entry.name!r}")
    return content
