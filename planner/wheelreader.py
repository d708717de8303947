"""Wheel sources: read one wheel once and validate all of it before anything is planned.

The planner reads only the central directory, the local headers and the small
dist-info files, all from one mapping of the file; member bytes are hashed by the
applier as it streams them, against the RECORD hashes kept here.
"""

from __future__ import annotations

import itertools
import mmap
import os
import re
import stat
import zlib
from collections.abc import Callable
from email.message import Message
from typing import cast

import attrs
from installer.utils import SCHEME_NAMES, parse_metadata_file
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from planner.centraldir import NOT_A_ZIP, Buffer, Entry, Unreadable, read_entries
from planner.entrypoints import is_plain_name, parse_entry_scripts
from planner.errors import Collector, Refused, looks_like
from planner.hashing import ACCEPTED_HASHES, canonical_hash, open_regular
from planner.limits import Limits, whole_number
from planner.localheader import (
    LOCAL_HEADER,
    LOCAL_LENGTHS,
    LOCAL_LENGTHS_AT,
    LOCAL_SIGNATURE,
)
from planner.paths import path_problem
from planner.records import SIGNATURES, parse_record
from planner.wheelhash import BACKGROUND_HASH, DigestCache, Hashing
from planner.wheels import Compression, FileMode, Member, Wheel

# Files in .dist-info that wheelplan writes itself, so a wheel's own copies are not installed.
GENERATED_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
# A cheap first test, for str.endswith, before the exact one.
_SIGNATURE_ENDINGS = tuple(SIGNATURES)
SUPPORTED_WHEEL_MAJOR = 1
SUPPORTED_WHEEL_MINOR = 0
# The largest METADATA, WHEEL, RECORD or entry_points.txt read (torch's RECORD is 1.5 MB).
MAX_DIST_INFO_FILE = 64 * 1024**2

_ENCRYPTED_FLAG = 0x1
_DATA_DESCRIPTOR_FLAG = 0x8
# Flags zipfile refuses to read a member with, as the planner does for dist-info files.
_UNREADABLE_FLAGS = {
    0x20: "compressed patched data (flag bit 5)",
    0x40: "strong encryption (flag bit 6)",
}
_STORED, _DEFLATED = 0, 8
_STREAMABLE = (_STORED, _DEFLATED)

# "sha256=" and 32 bytes in unpadded base64: nearly every RECORD hash.
_SHA256_LENGTH = 50


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


def _member_mode(entry: Entry, errors: Collector) -> FileMode | None:
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


@attrs.frozen
class _Archive:
    """One wheel's mapped bytes and what the checks made of its entries."""

    data: Buffer
    entries: list[Entry]
    # The entries that passed the member checks, in archive order.
    members: list[Entry]
    # Those of `members` whose local header agrees, by name.
    verified: dict[str, Entry]


def _read_text(archive: _Archive, name: str, errors: Collector) -> str | None:
    """A dist-info file's text, None when absent; unreadable or oversized stops the read.

    An entry that failed a check was refused already, and that refusal stands. These
    are the only members the planner inflates, so their size is capped here.
    """
    entry = archive.verified.get(name)
    if entry is None:
        if any(other.name == name for other in archive.entries):
            errors.raise_if_any()
        return None
    if entry.size > MAX_DIST_INFO_FILE:
        errors.error(
            f"{name} is {entry.size} bytes, more than the {MAX_DIST_INFO_FILE} bytes"
            " a wheel's metadata file may have"
        )
    else:
        try:
            text = _inflate(archive.data, entry).decode("utf-8")
            if not text.startswith("\ufeff"):
                return text
            # Readers of these files (email, csv, configparser) take it as text.
            errors.error(f"{name} starts with a byte-order mark; it must be UTF-8 without one")
        except UnicodeDecodeError:
            errors.error(f"{name} is not UTF-8 text")
        except (zlib.error, ValueError) as error:
            errors.error(f"cannot read {name} ({error})")
    errors.raise_if_any()
    raise AssertionError("unreachable")  # pragma: no cover


def _inflate(data: Buffer, entry: Entry) -> bytes:
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


# Two whole numbers in ASCII digits (int() would take "-1", "+1" and other scripts' digits).
_WHEEL_VERSION = re.compile(r"[0-9]+\.[0-9]+")


def _check_wheel_file(text: str | None, errors: Collector) -> bool:
    """Validate WHEEL and return Root-Is-Purelib."""
    if text is None:
        errors.error("WHEEL file is missing from .dist-info")
        return True
    fields = parse_metadata_file(text)
    version = fields.get("Wheel-Version")
    # pip strips the value before reading it; blanks after it are no error there.
    number = str(version).strip(" \t")
    if not _WHEEL_VERSION.fullmatch(number):
        found = "none" if version is None else repr(version)
        errors.error(f"WHEEL has no valid Wheel-Version (found {found}; expected e.g. 1.0)")
        return True
    major, minor = (whole_number(part) for part in number.split("."))
    if major > SUPPORTED_WHEEL_MAJOR:
        errors.error(f"Wheel-Version {number} is newer than this installer supports (1.x)")
    elif major == SUPPORTED_WHEEL_MAJOR and minor > SUPPORTED_WHEEL_MINOR:
        errors.warn(f"Wheel-Version {number} is newer than 1.0; installing anyway")
    purelib = str(fields.get("Root-Is-Purelib", "")).strip().lower()
    if purelib not in ("true", "false"):
        errors.error(f"WHEEL has no valid Root-Is-Purelib (got {purelib!r})")
    return purelib != "false"


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


# The version of what read_wheel returns, as cached manifests (applier/manifests.py) hold
# it: bump it whenever read_wheel's output or its checks change (a field, a warning's or
# a hash's wording, a check added or dropped), so no manifest an older reader wrote is used.
READER_VERSION = 7


def read_wheel(
    path: str, limits: Limits | None = None, digests: DigestCache | None = None
) -> Wheel:
    """Read and validate one wheel; raise Refused listing every problem found.

    `digests` may supply the wheel's sha256 without reading the whole file again.
    """
    limits = limits or Limits()
    absolute = os.path.abspath(path)
    filename = os.path.basename(absolute)
    errors = Collector(filename)
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as error:
        # packaging says "Invalid wheel filename (why): 'name'"; the name is the subject.
        found = re.search(r"\((.*?)\)", str(error))
        reason = f": {found.group(1)}" if found else ""
        raise Refused.one(
            filename,
            f"not a valid wheel file name{reason}"
            " (expected NAME-VERSION-PYTHONTAG-ABITAG-PLATFORMTAG.whl)"
            + looks_like(filename, "wheel"),
        ) from None
    try:
        fd = open_regular(absolute)
    except OSError as error:
        raise Refused.one(path, f"cannot read wheel: {error.strerror}") from None
    # One descriptor for the hash and the archive, so the bytes checked are the bytes read.
    hashing: Hashing | None = None
    wheel: Wheel | None = None
    try:
        size = os.fstat(fd).st_size
        hashing = Hashing(absolute, fd, digests, background=size >= BACKGROUND_HASH)
        with _map(fd) as data:
            entries, central_start = read_entries(data)
            members = _checked_members(entries, limits, errors)
            verified = _check_local_headers(data, entries, members, central_start, errors)
            archive = _Archive(data, entries, members, verified)
            # The hash is waited for last: it is being taken meanwhile.
            wheel = _read_dist_info(
                archive, errors, absolute, name, version, tags, size, hashing.result
            )
            return wheel
    except OSError as error:
        raise Refused.one(path, f"cannot read wheel: {error.strerror or error}") from None
    except Unreadable as error:
        errors.error(str(error))
    finally:
        if hashing is not None:
            if wheel is None:
                hashing.abandon()
            hashing.join()  # no thread may read the descriptor once it is closed
        os.close(fd)
    errors.raise_if_any()
    raise AssertionError("unreachable")  # pragma: no cover


def _map(fd: int) -> mmap.mmap:
    """The whole file, mapped rather than read: the planner touches only the pages that
    hold the archive's structure and its dist-info files."""
    try:
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except ValueError:  # an empty file
        raise Unreadable(NOT_A_ZIP) from None


def _read_dist_info(
    archive: _Archive,
    errors: Collector,
    path: str,
    name: str,
    version: Version,
    tags: frozenset[object],
    size: int,
    sha256: Callable[[], str],
) -> Wheel:
    top_dirs = {entry.name.split("/", 1)[0] for entry in archive.members}
    dist_infos = sorted(top for top in top_dirs if top.endswith(".dist-info"))
    if len(dist_infos) != 1:
        errors.error(
            "no .dist-info folder (a wheel has exactly one; is this a wheel?)"
            if not dist_infos
            else f"two or more .dist-info folders ({', '.join(dist_infos)});"
            " a wheel has exactly one"
        )
        errors.raise_if_any()
    dist_info = dist_infos[0]
    stem = dist_info[: -len(".dist-info")]
    info_name, _, info_version = stem.rpartition("-")
    # METADATA is compared with the file name, or with the .dist-info folder when that
    # already disagrees, so one renamed file is reported once, not once per place.
    expected_name, expected_version = name, str(version)
    if canonicalize_name(info_name) != name or not _same_version(info_version, version):
        errors.error(f"{dist_info} does not match the file name ({name} {version})")
        expected_name, expected_version = canonicalize_name(info_name), info_version
    metadata_text = _read_text(archive, f"{dist_info}/METADATA", errors)
    display_name: str = name
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    if metadata_text is None:
        errors.error("METADATA is missing from .dist-info")
    else:
        metadata = _metadata_headers(metadata_text)
        display_name = str(metadata.get("Name", ""))
        if canonicalize_name(display_name) != expected_name:
            errors.error(
                f"METADATA Name {display_name!r} does not match the file name ({expected_name})"
            )
        metadata_version = str(metadata.get("Version", ""))
        if not _same_version(metadata_version, expected_version):
            errors.error(
                f"METADATA Version {metadata.get('Version')!r} does not match"
                f" the file name ({expected_version})"
            )
        requires = tuple(str(value) for value in metadata.get_all("Requires-Dist") or ())
        requires_python = _requires_python(metadata.get("Requires-Python"), errors)
    root_is_purelib = _check_wheel_file(_read_text(archive, f"{dist_info}/WHEEL", errors), errors)
    record_path = f"{dist_info}/RECORD"
    record_text = _read_text(archive, record_path, errors)
    if record_text is None:
        errors.error("RECORD is missing from .dist-info")
        errors.raise_if_any()
    record, record_damaged = parse_record(record_text or "", record_path, archive.verified, errors)
    entry_text = _read_text(archive, f"{dist_info}/entry_points.txt", errors)
    scripts = parse_entry_scripts(entry_text, errors) if entry_text else []
    data_dir = f"{stem}.data"
    in_data, in_dist_info = f"{data_dir}/", f"{dist_info}/"
    members = []
    for entry in archive.members:
        member = entry.name
        row = record.pop(member, None)
        if member == data_dir or member.startswith(in_data):
            problem = _data_problem(member, data_dir)
            if problem:
                errors.error(f"member {member!r}{problem}")
                continue
        if member == record_path or (
            member.endswith(_SIGNATURE_ENDINGS) and member.rpartition("/")[2] in SIGNATURES
        ):
            continue
        if row is None:
            # A refused row or an unreadable RECORD was reported already.
            if member not in errors.refused and not record_damaged:
                errors.error(f"member {member!r} is not listed in RECORD")
            continue
        if row[1] is not None and row[1] != entry.size:
            errors.error(
                f"member {member!r}: RECORD says {row[1]} bytes, the archive holds {entry.size}"
            )
            continue
        mode = _member_mode(entry, errors)
        if mode is None or member not in archive.verified:
            continue
        if member.startswith(in_dist_info) and member.split("/", 1)[1] in GENERATED_DIST_INFO:
            errors.warn(f"{member!r} in the wheel is replaced by the one wheelplan writes")
            continue
        members.append(
            Member(
                member,
                entry.offset,
                cast(Compression, entry.method),  # _checked_members kept only these
                entry.compressed_size,
                entry.size,
                mode,
                row[0],
            )
        )
    for missing in sorted(record):
        if "__pycache__" not in missing.split("/"):
            errors.error(f"RECORD lists {missing!r}, which is not in the archive")
    _warn_case_collisions(members, errors)
    errors.raise_if_any()
    return Wheel(
        path=path,
        filename=os.path.basename(path),
        sha256=sha256(),
        size=size,
        name=name,
        display_name=display_name,
        version=str(version),
        tags=frozenset(str(tag) for tag in tags),
        root_is_purelib=root_is_purelib,
        dist_info=dist_info,
        data_dir=data_dir,
        members=tuple(sorted(members, key=lambda member: member.offset)),
        entry_points=tuple(scripts),
        requires_dist=requires,
        requires_python=requires_python,
        warnings=tuple(errors.warnings),
    )


def is_as_read(wheel: Wheel) -> bool:
    """Whether `wheel`'s names and folders agree with its file name, its dist-info folder
    holds METADATA and WHEEL, and its scripts, .data members and RECORD hashes are ones
    read_wheel keeps, as in every Wheel read_wheel returns.

    For a Wheel from elsewhere (a manifest), whose fields' types and ranges were checked
    as it was decoded: the planner takes a Wheel at its word, so a name it would refuse,
    a script that is not an import, or a member in no scheme must not reach it.
    """
    try:
        name, version, _, tags = parse_wheel_filename(wheel.filename)
    except InvalidWheelFilename:
        return False
    stem = wheel.dist_info.removesuffix(".dist-info")
    info_name, _, info_version = stem.rpartition("-")
    if (
        (wheel.name, wheel.version) != (name, str(version))
        or wheel.tags != {str(tag) for tag in tags}
        or canonicalize_name(wheel.display_name) != name
        or not wheel.dist_info.endswith(".dist-info")
        or "/" in stem
        or wheel.data_dir != f"{stem}.data"
        or canonicalize_name(info_name) != name
        or not _same_version(info_version, version)
        or not all(is_plain_name(script.name) for script in wheel.entry_points)
    ):
        return False
    if wheel.requires_python is not None and not _is_specifier_set(wheel.requires_python):
        return False
    dist_info_files = set()
    for member in wheel.members:
        path, record_hash = member.name, member.hash
        if not (len(record_hash) == _SHA256_LENGTH and record_hash.startswith("sha256=")) and (
            record_hash.partition("=")[0] not in ACCEPTED_HASHES
            or canonical_hash(record_hash) != record_hash
        ):
            # Not by a name apply accepts, or not in RECORD's spelling (sha256 by length).
            return False
        if not path.startswith(stem):
            continue  # nearly every member
        top, _, rest = path.partition("/")
        if top == wheel.dist_info:
            dist_info_files.add(rest)
        elif top == wheel.data_dir and _data_problem(path, wheel.data_dir):
            return False
    return {"METADATA", "WHEEL"} <= dist_info_files and not dist_info_files & GENERATED_DIST_INFO


def _data_problem(member: str, data_dir: str) -> str | None:
    """Why a member under `<name>-<version>.data` has no place in a scheme, or None."""
    parts = member.split("/")
    if len(parts) == 1:
        return " is a file where the .data folder belongs"
    if parts[1] not in SCHEME_NAMES:
        return (
            f": .data key {parts[1]!r} is not one of {', '.join(SCHEME_NAMES)}"
            f" (the folders a wheel may install into)"
        )
    if len(parts) == 2:
        return f" is a file where the .data/{parts[1]} folder belongs"
    return None


def _warn_case_collisions(members: list[Member], errors: Collector) -> None:
    """Paths that only differ by case install fine here but would collide on macOS/Windows."""
    if len({member.name.casefold() for member in members}) == len(members):
        return  # the usual case, found without grouping every name
    by_folded: dict[str, list[str]] = {}
    for member in members:
        by_folded.setdefault(member.name.casefold(), []).append(member.name)
    for names in by_folded.values():
        if len(names) > 1:
            listed = " and ".join(repr(name) for name in sorted(names))
            errors.warn(
                f"members {listed} differ only by case: both are installed, but they would"
                " overwrite each other on a case-insensitive filesystem"
            )


def _metadata_headers(text: str) -> Message:
    """METADATA's header fields, parsed as installer parses them.

    Only the headers are read: the body (the long description, most of a large
    METADATA) ends at the first blank line, and nothing here reads it.
    """
    end = text.find("\n\n")
    return parse_metadata_file(text if end < 0 else text[: end + 1])


def _requires_python(value: object, errors: Collector) -> str | None:
    """The Requires-Python to check the target against: pip warns about one that is not
    a valid specifier set and installs the wheel, and so does wheelplan."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not _is_specifier_set(text):
        errors.warn(f"METADATA Requires-Python {text!r} is not a valid specifier; not checked")
        return None
    return text or None


def _is_specifier_set(text: str) -> bool:
    """Whether `text` is a version specifier set that a version can be compared with:
    packaging reads a specifier's numbers only when it compares, and int() takes at most
    4,300 digits."""
    try:
        for specifier in SpecifierSet(text):
            specifier.contains("0", prereleases=True)
    except ValueError:  # InvalidSpecifier is one
        return False
    return True


def _same_version(text: str, version: Version | str) -> bool:
    try:
        return Version(text) == Version(str(version))
    except ValueError:  # InvalidVersion, or a number past int()'s 4,300 digits
        return False
