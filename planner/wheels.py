"""Wheel sources: read one wheel once and validate all of it before anything is planned.

The planner reads only the central directory, the local headers and the small
dist-info files; member bytes are hashed by the applier as it streams them, against
the RECORD hashes kept here.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import attrs
from installer.records import parse_record_file
from installer.utils import SCHEME_NAMES, parse_entrypoints, parse_metadata_file
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from planner.errors import Problem, Refused
from planner.paths import path_problem

# Hash names RECORD may use: sha256 or stronger (the spec forbids md5 and sha1).
ACCEPTED_HASHES = frozenset(
    {"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b"}
)
# Files in .dist-info that wheelplan writes itself, so a wheel's own copies are not installed.
GENERATED_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
SIGNATURES = frozenset({"RECORD.jws", "RECORD.p7s"})
SUPPORTED_WHEEL_MAJOR = 1
SUPPORTED_WHEEL_MINOR = 0

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_DATA_DESCRIPTOR_FLAG = 0x8
_STREAMABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


@attrs.frozen
class Limits:
    """Ceilings against archive bombs; generous enough for the largest real wheels."""

    max_total_size: int = 8 * 1024**3
    max_entries: int = 200_000
    # Uncompressed/compressed ratio above which a member larger than `ratio_floor` is refused.
    # Real wheels hold small, very compressible members (pillow.libs' libXau expands 223x),
    # so only members big enough to matter are judged; the total limit covers the rest.
    max_ratio: int = 200
    ratio_floor: int = 16 * 1024**2


@attrs.frozen
class Member:
    name: str
    offset: int
    compression: int
    compressed_size: int
    size: int
    mode: int
    hash: str


@attrs.frozen
class EntryScript:
    name: str
    module: str
    attr: str
    section: str


@attrs.frozen
class Wheel:
    path: str
    filename: str
    sha256: str
    size: int
    name: str
    display_name: str
    version: str
    tags: frozenset[str]
    root_is_purelib: bool
    dist_info: str
    data_dir: str
    members: tuple[Member, ...]
    entry_points: tuple[EntryScript, ...]
    requires_dist: tuple[str, ...]
    warnings: tuple[str, ...]


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


class _Collector:
    """Gathers every problem in one wheel so the user sees them together."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def error(self, message: str) -> None:
        self.problems.append(Problem(self.subject, message))

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.subject}: {message}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise Refused(self.problems)


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    encoding = "utf-8" if info.flag_bits & _UTF8_FLAG else "cp437"
    return info.orig_filename.encode(encoding)


def _data_offsets(
    stream: Path, infos: list[zipfile.ZipInfo], central_start: int, errors: _Collector
) -> dict[str, int]:
    """Check each local header against the central directory and the members' spans.

    Returns each checked member's local header offset, which the plan carries so the
    applier can read the member without parsing the archive again.
    """
    offsets: dict[str, int] = {}
    spans: list[tuple[int, int, str]] = []
    with open(stream, "rb") as handle:
        fd = handle.fileno()
        for info in infos:
            header = os.pread(fd, _LOCAL_HEADER.size, info.header_offset)
            if len(header) != _LOCAL_HEADER.size:
                errors.error(f"member {info.orig_filename!r}: local header is truncated")
                continue
            fields = _LOCAL_HEADER.unpack(header)
            signature, flags, method = fields[0], fields[3], fields[4]
            name_length, extra_length = fields[10], fields[11]
            raw_name = os.pread(fd, name_length, info.header_offset + _LOCAL_HEADER.size)
            if (
                signature != _LOCAL_SIGNATURE
                or raw_name != _raw_name(info)
                or method != info.compress_type
            ):
                errors.error(
                    f"member {info.orig_filename!r}: local header disagrees with the"
                    " central directory"
                )
                continue
            local_sizes = (fields[8], fields[9])
            sizes_known = not flags & _DATA_DESCRIPTOR_FLAG and 0xFFFFFFFF not in local_sizes
            if sizes_known and local_sizes != (info.compress_size, info.file_size):
                errors.error(
                    f"member {info.orig_filename!r}: local header sizes disagree with the"
                    " central directory"
                )
                continue
            start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
            offsets[info.orig_filename] = info.header_offset
            spans.append((info.header_offset, start + info.compress_size, info.orig_filename))
    spans.sort()
    for (_, end, name), (next_start, _, next_name) in itertools.pairwise(spans):
        if end > next_start:
            errors.error(f"members {name!r} and {next_name!r} overlap in the archive")
    if spans and spans[-1][1] > central_start:
        errors.error(f"member {spans[-1][2]!r} runs into the central directory")
    return offsets


def _member_mode(info: zipfile.ZipInfo, errors: _Collector) -> int | None:
    """0o755 or 0o644 from the stored unix mode; None for a member that must be refused."""
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        errors.error(f"member {info.orig_filename!r} is a symlink")
        return None
    if kind not in (0, stat.S_IFREG):
        errors.error(f"member {info.orig_filename!r} is not a regular file")
        return None
    if mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
        errors.warn(f"member {info.orig_filename!r}: setuid, setgid and sticky bits dropped")
    return 0o755 if mode & 0o111 else 0o644


def _read_text(archive: zipfile.ZipFile, name: str, errors: _Collector) -> str | None:
    try:
        return archive.read(name).decode("utf-8")
    except KeyError:
        return None
    except (zipfile.BadZipFile, zlib.error, UnicodeDecodeError, OSError) as error:
        errors.error(f"cannot read {name}: {error}")
        return None


def _parse_record(
    text: str, record_path: str, errors: _Collector
) -> dict[str, tuple[str, int | None]]:
    rows: dict[str, tuple[str, int | None]] = {}
    try:
        parsed = list(parse_record_file(text.splitlines()))
    except Exception as error:  # the csv module raises several kinds
        errors.error(f"RECORD is not valid CSV: {error}")
        return rows
    for number, (path, hash_text, size_text) in enumerate(parsed, start=1):
        where = f"RECORD row {number} ({path!r})"
        problem = path_problem(path)
        if problem:
            errors.error(f"{where}: path {problem}")
            continue
        if path in rows:
            errors.error(f"{where}: path listed twice")
            continue
        unsigned = path == record_path or (
            path.rsplit("/", 1)[-1] in SIGNATURES
            and path.startswith(record_path.rsplit("/", 1)[0] + "/")
        )
        if unsigned:
            rows[path] = ("", None)
            continue
        algorithm, _, value = hash_text.partition("=")
        if not hash_text:
            errors.error(f"{where}: no hash")
            continue
        if algorithm not in ACCEPTED_HASHES or not value:
            errors.error(
                f"{where}: hash {algorithm!r} is not accepted (sha256 or stronger required)"
            )
            continue
        try:
            size = int(size_text)
            if size < 0:
                raise ValueError
        except ValueError:
            errors.error(f"{where}: size {size_text!r} is not a non-negative integer")
            continue
        rows[path] = (hash_text, size)
    return rows


def _entry_scripts(text: str, errors: _Collector) -> list[EntryScript]:
    try:
        parsed = list(parse_entrypoints(text))
    except Exception:  # installer asserts on a value with no ":callable"
        errors.error(
            "entry_points.txt has a console or gui script whose value is not 'module:callable'"
        )
        return []
    scripts = []
    for name, module, attr, section in parsed:
        if not attr:
            errors.error(f"entry point {name!r} has no ':callable'")
        elif "/" in name or "\\" in name or name in (".", "..") or path_problem(name):
            errors.error(f"entry point script name {name!r} is not a plain file name")
        else:
            scripts.append(EntryScript(name, module, attr, section))
    return scripts


def _check_wheel_file(text: str | None, errors: _Collector) -> bool:
    """Validate WHEEL and return Root-Is-Purelib."""
    if text is None:
        errors.error("WHEEL file is missing from .dist-info")
        return True
    fields = parse_metadata_file(text)
    version = fields.get("Wheel-Version")
    try:
        major, minor = (int(part) for part in str(version).split("."))
    except ValueError:
        errors.error(f"WHEEL has no valid Wheel-Version (got {version!r})")
        return True
    if major > SUPPORTED_WHEEL_MAJOR:
        errors.error(f"Wheel-Version {version} is newer than this installer supports (1.x)")
    elif major == SUPPORTED_WHEEL_MAJOR and minor > SUPPORTED_WHEEL_MINOR:
        errors.warn(f"Wheel-Version {version} is newer than 1.0; installing anyway")
    purelib = str(fields.get("Root-Is-Purelib", "")).strip().lower()
    if purelib not in ("true", "false"):
        errors.error(f"WHEEL has no valid Root-Is-Purelib (got {purelib!r})")
    return purelib != "false"


def _iter_checked_infos(
    archive: zipfile.ZipFile, limits: Limits, errors: _Collector
) -> Iterator[zipfile.ZipInfo]:
    """Regular, safe file members; directory entries and __pycache__ are passed over."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        errors.error(f"{len(infos)} entries is more than the limit of {limits.max_entries}")
        return
    seen: set[str] = set()
    total = 0
    skipped_cache = False
    for info in infos:
        name = info.orig_filename
        if name in seen:
            errors.error(f"member {name!r} appears twice in the archive")
            continue
        seen.add(name)
        problem = path_problem(name[:-1] if name.endswith("/") else name)
        if problem:
            errors.error(f"member {name!r}: path {problem}")
            continue
        if name.endswith("/"):
            continue
        if info.flag_bits & _ENCRYPTED_FLAG:
            errors.error(f"member {name!r} is encrypted")
            continue
        if info.compress_type not in _STREAMABLE:
            errors.error(f"member {name!r} uses compression method {info.compress_type}")
            continue
        total += info.file_size
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            errors.error(
                f"member {name!r} expands {info.file_size // max(info.compress_size, 1)}x"
                f" (limit {limits.max_ratio}x): refusing a likely zip bomb"
            )
            continue
        if "__pycache__" in name.split("/"):
            skipped_cache = True
            continue
        yield info
    if total > limits.max_total_size:
        errors.error(
            f"uncompressed size {total} bytes is more than the limit of {limits.max_total_size}"
        )
    if skipped_cache:
        errors.warn("__pycache__ members skipped (bytecode is compiled on the target, not copied)")


def read_wheel(path: str, limits: Limits | None = None) -> Wheel:
    """Read and validate one wheel; raise Refused listing every problem found."""
    limits = limits or Limits()
    absolute = os.path.abspath(path)
    filename = os.path.basename(absolute)
    errors = _Collector(filename)
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as error:
        raise Refused.one(filename, f"not a valid wheel file name ({error})") from None
    try:
        size = os.stat(absolute).st_size
        sha256 = file_sha256(absolute)
    except OSError as error:
        raise Refused.one(absolute, f"cannot read wheel: {error.strerror}") from None
    try:
        with zipfile.ZipFile(absolute) as archive:
            infos = list(_iter_checked_infos(archive, limits, errors))
            offsets = _data_offsets(Path(absolute), infos, archive.start_dir, errors)
            return _read_dist_info(
                archive, infos, offsets, errors, absolute, name, version, tags, size, sha256
            )
    except (zipfile.BadZipFile, zlib.error, struct.error, EOFError, NotImplementedError) as error:
        errors.error(f"not a valid zip archive ({error})")
    except UnicodeDecodeError:
        errors.error("not a valid zip archive (a member name is not valid UTF-8)")
    errors.raise_if_any()
    raise AssertionError("unreachable")  # pragma: no cover


def _read_dist_info(
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    offsets: dict[str, int],
    errors: _Collector,
    path: str,
    name: str,
    version: Version,
    tags: frozenset[object],
    size: int,
    sha256: str,
) -> Wheel:
    top_dirs = {info.orig_filename.split("/", 1)[0] for info in infos}
    dist_infos = sorted(top for top in top_dirs if top.endswith(".dist-info"))
    if len(dist_infos) != 1:
        errors.error(
            "no .dist-info directory"
            if not dist_infos
            else f"several .dist-info directories: {dist_infos}"
        )
        errors.raise_if_any()
    dist_info = dist_infos[0]
    stem = dist_info[: -len(".dist-info")]
    info_name, _, info_version = stem.rpartition("-")
    if canonicalize_name(info_name) != name or not _same_version(info_version, version):
        errors.error(f"{dist_info} does not match the file name ({name} {version})")
    metadata_text = _read_text(archive, f"{dist_info}/METADATA", errors)
    display_name: str = name
    requires: tuple[str, ...] = ()
    if metadata_text is None:
        errors.error("METADATA is missing from .dist-info")
    else:
        metadata = parse_metadata_file(metadata_text)
        display_name = str(metadata.get("Name", ""))
        if canonicalize_name(display_name) != name:
            errors.error(f"METADATA Name {display_name!r} does not match the file name ({name})")
        if not _same_version(str(metadata.get("Version", "")), version):
            errors.error(
                f"METADATA Version {metadata.get('Version')!r} does not match"
                f" the file name ({version})"
            )
        requires = tuple(str(value) for value in metadata.get_all("Requires-Dist") or ())
    root_is_purelib = _check_wheel_file(_read_text(archive, f"{dist_info}/WHEEL", errors), errors)
    record_path = f"{dist_info}/RECORD"
    record_text = _read_text(archive, record_path, errors)
    if record_text is None:
        errors.error("RECORD is missing from .dist-info")
        errors.raise_if_any()
    record = _parse_record(record_text or "", record_path, errors)
    entry_text = _read_text(archive, f"{dist_info}/entry_points.txt", errors)
    scripts = _entry_scripts(entry_text, errors) if entry_text else []
    data_dir = f"{stem}.data"
    members = []
    for info in infos:
        member = info.orig_filename
        if member.startswith(data_dir + "/"):
            key = member.split("/")[1]
            if key not in SCHEME_NAMES or member.count("/") < 2:
                errors.error(
                    f"member {member!r}: .data key {key!r} is not one of {list(SCHEME_NAMES)}"
                )
                continue
        row = record.pop(member, None)
        if member == record_path or member.rsplit("/", 1)[-1] in SIGNATURES:
            continue
        if row is None:
            errors.error(f"member {member!r} is not listed in RECORD")
            continue
        if row[1] is not None and row[1] != info.file_size:
            errors.error(
                f"member {member!r}: RECORD says {row[1]} bytes, the archive holds {info.file_size}"
            )
            continue
        mode = _member_mode(info, errors)
        if mode is None or member not in offsets:
            continue
        if member.startswith(dist_info + "/") and member.split("/", 1)[1] in GENERATED_DIST_INFO:
            errors.warn(f"{member!r} in the wheel is replaced by the one wheelplan writes")
            continue
        members.append(
            Member(
                member,
                offsets[member],
                info.compress_type,
                info.compress_size,
                info.file_size,
                mode,
                row[0],
            )
        )
    for missing in sorted(record):
        if "__pycache__" not in missing.split("/"):
            errors.error(f"RECORD lists {missing!r}, which is not in the archive")
    errors.raise_if_any()
    return Wheel(
        path=path,
        filename=os.path.basename(path),
        sha256=sha256,
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
        warnings=tuple(errors.warnings),
    )


def _same_version(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False
