"""Build wheels on the fly, well-formed by default and broken on request.

Tests and the demo need wheels whose every byte they control: overlapping paths,
scripts, `.data` directories and, for the hostile-input corpus, every way a wheel
can be wrong. One builder serves all of them so a fix to the format lands once.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import struct
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

# A fixed timestamp keeps built wheels byte-identical between runs.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def record_hash(data: bytes, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@attrs.frozen
class Member:
    """One archive member; `mode` is the unix mode stored in the zip.

    A `mode` without file-type bits is a regular file; give the type bits (e.g.
    0o120777) to store a symlink or another non-regular member. `path` is written
    exactly as given, even with a NUL in it (zipfile would cut the name there).
    """

    path: str
    data: bytes
    mode: int = 0o644
    # Leave the member out of RECORD, or give RECORD a row of our own for it.
    in_record: bool = True
    record_row: str | None = None
    compress_type: int = zipfile.ZIP_DEFLATED
    # The zip's "version made by" system: 3 is unix, 0 MS-DOS.
    create_system: int = 3


@attrs.frozen
class WheelSpec:
    name: str
    version: str = "1.0"
    tag: str = "py3-none-any"
    files: Mapping[str, bytes | Member] = attrs.field(factory=dict)
    entry_points: str | None = None
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    root_is_purelib: bool = True
    # Overrides for the generated dist-info files; None means "generate it".
    wheel_text: str | None = None
    metadata_text: str | None = None
    record_text: str | None = None
    extra_record_rows: tuple[str, ...] = ()
    # The hash RECORD gives each member by (a row given in full keeps its own).
    record_algorithm: str = "sha256"
    omit: frozenset[str] = frozenset()
    # Written after `files`, e.g. a second member with a name already used.
    extra_members: tuple[Member, ...] = ()

    @property
    def distribution(self) -> str:
        return self.name.replace("-", "_").replace(".", "_")

    @property
    def dist_info(self) -> str:
        return f"{self.distribution}-{self.version}.dist-info"

    @property
    def filename(self) -> str:
        return f"{self.distribution}-{self.version}-{self.tag}.whl"


def _members(spec: WheelSpec) -> list[Member]:
    members = [
        data if isinstance(data, Member) else Member(path, data)
        for path, data in spec.files.items()
    ]
    members += spec.extra_members
    dist_info = spec.dist_info
    generated = {
        f"{dist_info}/WHEEL": spec.wheel_text
        if spec.wheel_text is not None
        else (
            "Wheel-Version: 1.0\nGenerator: wheelfactory\n"
            f"Root-Is-Purelib: {'true' if spec.root_is_purelib else 'false'}\nTag: {spec.tag}\n"
        ),
        f"{dist_info}/METADATA": spec.metadata_text
        if spec.metadata_text is not None
        else (
            f"Metadata-Version: 2.1\nName: {spec.name}\nVersion: {spec.version}\n"
            + (f"Requires-Python: {spec.requires_python}\n" if spec.requires_python else "")
            + "".join(f"Requires-Dist: {req}\n" for req in spec.requires)
        ),
    }
    if spec.entry_points is not None:
        generated[f"{dist_info}/entry_points.txt"] = spec.entry_points
    members += [
        Member(path, text.encode()) for path, text in generated.items() if path not in spec.omit
    ]
    return members


def _csv_row(*fields: str) -> str:
    """One RECORD row, quoted as the csv module quotes it (a path may hold a comma)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def record_for(members: Iterable[Member], spec: WheelSpec) -> str:
    rows = []
    for member in members:
        if not member.in_record:
            continue
        if member.record_row is not None:
            rows.append(member.record_row)
        else:
            hash_text = record_hash(member.data, spec.record_algorithm)
            rows.append(_csv_row(member.path, hash_text, str(len(member.data))))
    rows.extend(spec.extra_record_rows)
    rows.append(f"{spec.dist_info}/RECORD,,")
    return "\n".join(rows) + "\n"


def build_wheel(spec: WheelSpec, directory: Path, filename: str | None = None) -> Path:
    """Write the wheel described by `spec` into `directory` and return its path."""
    members = _members(spec)
    record_path = f"{spec.dist_info}/RECORD"
    if record_path not in spec.omit:
        text = spec.record_text if spec.record_text is not None else record_for(members, spec)
        members.append(Member(record_path, text.encode(), in_record=False))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (filename or spec.filename)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            info = zipfile.ZipInfo(member.path, date_time=ZIP_TIME)
            info.filename = member.path  # keep a NUL that ZipInfo would cut off
            kind = member.mode & 0o170000 or 0o100000
            info.external_attr = (kind | member.mode) << 16
            info.compress_type = member.compress_type
            info.create_system = member.create_system
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "Duplicate name" is on purpose
                archive.writestr(info, member.data)
    return path


def corrupt_member(wheel: Path, name: str) -> None:
    """Overwrite the first 8 bytes of a member's data as the archive stores them, after
    RECORD was computed: deflated, they are an invalid block type; stored, other bytes
    of the same size."""
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(name)
    with wheel.open("r+b") as handle:
        handle.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", handle.read(4))
        handle.seek(info.header_offset + 30 + name_length + extra_length)
        handle.write(b"\xff" * 8)
