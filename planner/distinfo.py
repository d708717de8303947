"""A wheel's .dist-info, read and held against its archive, its file name and itself.

What METADATA, WHEEL and RECORD say decides what is installed and how, so each is
checked as pip and installer read it, and RECORD against the members the archive
checks passed (`planner.archive`). The same rules check a Wheel that comes from a
manifest instead (`is_as_read`), so they live together, away from the zip format.
A change to what they refuse, warn of or keep bumps READER_VERSION (planner.wheelreader).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable
from email.message import Message
from typing import cast

from installer.utils import SCHEME_NAMES, parse_metadata_file
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from planner.archive import Archive, inflate, member_mode
from planner.entrypoints import is_plain_name, parse_entry_scripts
from planner.errors import Collector
from planner.hashing import ACCEPTED_HASHES, canonical_hash
from planner.limits import whole_number
from planner.records import SIGNATURES, parse_record
from planner.releases import names_release, same_version
from planner.wheels import Compression, Member, Wheel

# Files in .dist-info that wheelplan writes itself, so a wheel's own copies are not installed.
GENERATED_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
# A cheap first test, for str.endswith, before the exact one.
_SIGNATURE_ENDINGS = tuple(SIGNATURES)
SUPPORTED_WHEEL_MAJOR = 1
SUPPORTED_WHEEL_MINOR = 0
# The largest METADATA, WHEEL, RECORD or entry_points.txt read (torch's RECORD is 1.5 MB).
MAX_DIST_INFO_FILE = 64 * 1024**2

# "sha256=" and 32 bytes in unpadded base64: nearly every RECORD hash.
_SHA256_LENGTH = 50


def read_dist_info(
    archive: Archive,
    errors: Collector,
    path: str,
    name: str,
    version: Version,
    tags: frozenset[object],
    size: int,
    sha256: Callable[[], str],
) -> Wheel:
    """The Wheel `archive` holds, or Refused with every problem found: each check goes
    on past a problem where it can, so one refusal names them all. `sha256` is asked
    last, as it may still be being taken."""
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
    if not names_release(dist_info, name, version):
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
        if not same_version(metadata_version, expected_version):
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
        mode = member_mode(entry, errors)
        if mode is None or member not in archive.verified:
            continue
        if member.startswith(in_dist_info) and member.split("/", 1)[1] in GENERATED_DIST_INFO:
            errors.warn(f"{member!r} in the wheel is replaced by the one wheelplan writes")
            continue
        members.append(
            Member(
                member,
                entry.offset,
                cast(Compression, entry.method),  # the archive checks kept only these
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
    if (
        (wheel.name, wheel.version) != (name, str(version))
        or wheel.tags != {str(tag) for tag in tags}
        or canonicalize_name(wheel.display_name) != name
        or not wheel.dist_info.endswith(".dist-info")
        or "/" in stem
        or wheel.data_dir != f"{stem}.data"
        or not names_release(wheel.dist_info, name, version)
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


def _read_text(archive: Archive, name: str, errors: Collector) -> str | None:
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
            text = inflate(archive.data, entry).decode("utf-8")
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
