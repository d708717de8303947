"""The hostile-input corpus: one broken wheel (or tampered plan) per way input can be wrong.

Each `Case` builds its wheel into a folder and says what a person must read in the
refusal. Most are refused by `wheelplan plan`; a few (bytes that do not match
RECORD) can only be found while streaming, so `plan` accepts them and `apply` must
refuse and roll back. `CONTROL` is the same wheel, well-formed, which must install.
Byte-level surgery (local headers, sizes, truncation) is done here, after the
factory has built a consistent archive, so every other part of the wheel stays valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import attrs

from planner.plan import FORMAT
from planner.planjson import digest_of
from planner.target import DIRECTORY_SCHEMES
from tests.wheelfactory import Member, WheelSpec, build_wheel, record_hash

# What a path with a journal's name gets, file or folder, from `plan` and `apply` alike.
RESERVED = (
    "uses a name wheelplan reserves for its journal"
    " (.wheelplan-journal at the top of the environment, or a name beginning .wheelplan-backup)"
)

NAME = "demo"
VERSION = "1.0"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
DATA = f"{NAME}-{VERSION}.data"
FILENAME = f"{NAME}-{VERSION}-py3-none-any.whl"

INIT = b"def main():\n    print('demo runs')\n    return 0\n"
HELPER = b"VALUE = 42\n" * 20
SCRIPT = b"#!python\nprint('demo script')\n"

CONTROL = WheelSpec(
    name=NAME,
    version=VERSION,
    files={
        "demo/__init__.py": INIT,
        "demo/helper.py": HELPER,
        f"{DATA}/scripts/demo-tool": Member(f"{DATA}/scripts/demo-tool", SCRIPT, mode=0o755),
    },
    entry_points="[console_scripts]\ndemo = demo:main\n",
)

Stage = Literal["plan", "apply"]


@attrs.frozen
class Case:
    """One hostile wheel: how to build it and what the refusal must say."""

    id: str
    build: Callable[[Path], Path]
    # Text the one `error:` line must contain after the file name.
    problem: str
    # Where it is caught: by `plan`, or only by `apply` while streaming.
    stage: Stage = "plan"
    plan_args: tuple[str, ...] = ()
    # The file the error line must name; the built wheel's file name when None.
    subject: str | None = None


def _spec(**changes: Any) -> WheelSpec:
    return attrs.evolve(CONTROL, **changes)


def _with_files(*members: Member, drop: tuple[str, ...] = ()) -> WheelSpec:
    files = {path: data for path, data in CONTROL.files.items() if path not in drop}
    files.update({member.path: member for member in members})
    return _spec(files=files)


def _builder(spec: WheelSpec, filename: str | None = None) -> Callable[[Path], Path]:
    return lambda folder: build_wheel(spec, folder, filename)


def _row(path: str, data: bytes) -> str:
    return f"{path},{record_hash(data)},{len(data)}"


# --- byte-level surgery on a built archive -----------------------------------------

# A version number of more digits than int() converts.
_HUGE = "1" * 5000

_LOCAL = struct.Struct("<4s5H3L2H")  # signature .. extra length, 30 bytes
_CENTRAL_SIZES = 20  # offset of compressed size, then uncompressed size, in a central entry
_LOCAL_SIZES = 18


def _central_entry(data: bytes, name: str) -> int:
    """Offset of the central directory entry for `name`."""
    position = data.index(b"PK\x01\x02")
    while data[position : position + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, position + 28)
        if data[position + 46 : position + 46 + name_length] == name.encode():
            return position
        position += 46 + name_length + extra_length + comment_length
    raise KeyError(name)


def _info(path: Path, name: str) -> zipfile.ZipInfo:
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo(name)


def _surgery(spec: WheelSpec, edit: Callable[[Path, bytearray], None]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = build_wheel(spec, folder)
        data = bytearray(path.read_bytes())
        edit(path, data)
        path.write_bytes(bytes(data))
        return path

    return build


def _rename_in_local_header(path: Path, data: bytearray) -> None:
    """The local header names another file than the central directory does."""
    info = _info(path, "demo/helper.py")
    start = info.header_offset + _LOCAL.size
    data[start : start + len("demo/helper.py")] = b"demo/HELPER.py"


def _local_sizes_disagree(path: Path, data: bytearray) -> None:
    info = _info(path, "demo/helper.py")
    struct.pack_into("<L", data, info.header_offset + _LOCAL_SIZES + 4, info.file_size + 1)


def _overlap(path: Path, data: bytearray) -> None:
    """Stretch one member (in both headers) so its data runs over the next member."""
    info = _info(path, "demo/__init__.py")
    stretched = info.compress_size + 40
    struct.pack_into("<L", data, info.header_offset + _LOCAL_SIZES, stretched)
    struct.pack_into(
        "<L", data, _central_entry(bytes(data), info.filename) + _CENTRAL_SIZES, stretched
    )


def _corrupt_stored(path: Path, data: bytearray) -> None:
    """Flip one byte of a stored member after RECORD was computed over the good bytes."""
    info = _info(path, "demo/helper.py")
    name_length, extra_length = struct.unpack_from("<2H", data, info.header_offset + 26)
    start = info.header_offset + _LOCAL.size + name_length + extra_length
    data[start] ^= 0x01


def _unaccounted_at(at: Callable[[bytes], int], count: int) -> Callable[[Path, bytearray], None]:
    """Insert `count` zero bytes where `at` says and move every offset past them to
    match: an archive that is whole, with bytes in it that no member accounts for."""

    def edit(path: Path, data: bytearray) -> None:
        where = at(bytes(data))
        end = data.rindex(b"PK\x05\x06")
        (start,) = struct.unpack_from("<L", data, end + 16)
        position = start
        while data[position : position + 4] == b"PK\x01\x02":
            (offset,) = struct.unpack_from("<L", data, position + 42)
            if offset >= where:
                struct.pack_into("<L", data, position + 42, offset + count)
            name_length, extra_length, comment_length = struct.unpack_from(
                "<3H", data, position + 28
            )
            position += 46 + name_length + extra_length + comment_length
        struct.pack_into("<L", data, end + 16, start + count)
        data[where:where] = bytes(count)

    return edit


def _local_header(name: str) -> Callable[[bytes], int]:
    def at(data: bytes) -> int:
        return struct.unpack_from("<L", data, _central_entry(data, name) + 42)[0]

    return at


def _central_directory(data: bytes) -> int:
    return struct.unpack_from("<L", data, data.rindex(b"PK\x05\x06") + 16)[0]


def _after_sparse_bytes(folder: Path) -> Path:
    """The control wheel after 64 MiB of holes, as a sparse terabyte with a wheel
    appended would be (zipfile reads such an archive; its hash would read the holes)."""
    wheel = build_wheel(CONTROL, folder / "built")
    path = folder / FILENAME
    with path.open("wb") as stream:
        stream.truncate(64 * 1024**2)
        stream.seek(0, os.SEEK_END)
        stream.write(wheel.read_bytes())
    return path


def _stretch_member(name: str, count: int) -> Callable[[Path, bytearray], None]:
    """`count` zero bytes after a member's data, counted in its compressed size (in both
    headers): bytes the archive accounts for that the member does not need."""

    def edit(path: Path, data: bytearray) -> None:
        info = _info(path, name)
        name_length, extra_length = struct.unpack_from("<2H", data, info.header_offset + 26)
        end = info.header_offset + _LOCAL.size + name_length + extra_length + info.compress_size
        _unaccounted_at(lambda data: end, count)(path, data)
        stretched = info.compress_size + count
        struct.pack_into("<L", data, info.header_offset + _LOCAL_SIZES, stretched)
        struct.pack_into("<L", data, _central_entry(bytes(data), name) + _CENTRAL_SIZES, stretched)

    return edit


def _truncate(path: Path, data: bytearray) -> None:
    del data[len(data) // 2 :]


def _shrink_declared(path: Path, data: bytearray) -> None:
    """Both headers (and RECORD, see the case) declare fewer bytes than the data inflates to."""
    info = _info(path, "demo/helper.py")
    struct.pack_into("<L", data, info.header_offset + _LOCAL_SIZES + 4, 20)
    struct.pack_into(
        "<L", data, _central_entry(bytes(data), info.filename) + _CENTRAL_SIZES + 4, 20
    )


_STORED_HELPER = Member("demo/helper.py", HELPER, compress_type=zipfile.ZIP_STORED)
# Twelve 1 MiB members: several work units, so other workers have written files by
# the time the last member's bad bytes are found, and the rollback must remove them.
_BLOBS = tuple(
    Member(f"demo/blob{index:02}.bin", random.Random(index).randbytes(1024 * 1024))
    for index in range(12)
)


def _corrupt_last_blob(path: Path, data: bytearray) -> None:
    info = _info(path, _BLOBS[-1].path)
    name_length, extra_length = struct.unpack_from("<2H", data, info.header_offset + 26)
    data[info.header_offset + _LOCAL.size + name_length + extra_length + 1000] ^= 0x01


def _bomb(folder: Path) -> Path:
    """200 MB of zeros deflated into about 200 KB, with a correct RECORD row."""
    size = 200 * 1000 * 1000
    chunk = bytes(1024 * 1024)
    digest = hashlib.sha256()
    remaining = size
    while remaining:
        digest.update(chunk[: min(len(chunk), remaining)])
        remaining -= min(len(chunk), remaining)
    import base64

    hash_text = "sha256=" + base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")
    spec = _spec(extra_record_rows=(f"demo/zeros.bin,{hash_text},{size}",))
    path = build_wheel(spec, folder)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        info = zipfile.ZipInfo("demo/zeros.bin", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=False) as stream:
            remaining = size
            while remaining:
                stream.write(chunk[: min(len(chunk), remaining)])
                remaining -= min(len(chunk), remaining)
    return path


def _not_a_zip(folder: Path) -> Path:
    path = folder / FILENAME
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("this is a text file that someone renamed to .whl\n")
    return path


def _empty_file(folder: Path) -> Path:
    path = folder / FILENAME
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


WHEEL_CASES: tuple[Case, ...] = (
    # The archive itself.
    Case("not-a-zip", _not_a_zip, "not a zip archive"),
    Case("empty-file", _empty_file, "not a zip archive"),
    Case("truncated-zip", _surgery(CONTROL, _truncate), "not a zip archive"),
    Case(
        "bytes-before-the-archive",
        _after_sparse_bytes,
        "67108864 bytes before the first member 'demo/__init__.py', which no wheel has",
    ),
    Case(
        "bytes-before-the-first-member",
        _surgery(CONTROL, _unaccounted_at(lambda data: 0, 100)),
        "100 bytes before the first member 'demo/__init__.py'",
    ),
    Case(
        "bytes-between-members",
        _surgery(CONTROL, _unaccounted_at(_local_header("demo/helper.py"), 8192)),
        "8192 bytes between members 'demo/__init__.py' and 'demo/helper.py'",
    ),
    Case(
        "bytes-before-the-central-directory",
        _surgery(CONTROL, _unaccounted_at(_central_directory, 8192)),
        f"8192 bytes between member '{DIST_INFO}/RECORD' and the central directory",
    ),
    Case(
        "member-stretched",
        _surgery(CONTROL, _stretch_member("demo/helper.py", 8192)),
        "'demo/helper.py' takes 8208 bytes in the archive for 220 bytes, more than"
        " compression ever adds",
    ),
    Case(
        "local-header-name",
        _surgery(CONTROL, _rename_in_local_header),
        "'demo/helper.py': its local header disagrees with the central directory",
    ),
    Case(
        "local-header-sizes",
        _surgery(CONTROL, _local_sizes_disagree),
        "'demo/helper.py': its local header gives other sizes than the central directory",
    ),
    Case(
        "duplicate-member",
        _builder(_spec(extra_members=(Member("demo/helper.py", b"X = 1\n", in_record=False),))),
        "'demo/helper.py' appears twice in the archive",
    ),
    Case(
        "overlapping-members",
        _surgery(CONTROL, _overlap),
        "'demo/__init__.py' and 'demo/helper.py' overlap",
    ),
    # The file name and the tags.
    Case(
        "bad-filename",
        _builder(CONTROL, "demo.whl"),
        "not a valid wheel file name",
        subject="demo.whl",
    ),
    Case(
        "bad-filename-version",
        _builder(CONTROL, "demo-one-py3-none-any.whl"),
        "not a valid wheel file name",
        subject="demo-one-py3-none-any.whl",
    ),
    Case(
        "incompatible-tags",
        _builder(_spec(tag="cp27-cp27mu-win32")),
        "is not compatible with the target",
        subject="demo-1.0-cp27-cp27mu-win32.whl",
    ),
    # .dist-info, METADATA, WHEEL.
    Case(
        "no-dist-info",
        _builder(
            _spec(
                omit=frozenset({f"{DIST_INFO}/{n}" for n in ("WHEEL", "METADATA", "RECORD")}),
                entry_points=None,
            )
        ),
        "no .dist-info folder",
    ),
    Case(
        "two-dist-info",
        _builder(_spec(files={**CONTROL.files, "other-2.0.dist-info/METADATA": b"Name: other\n"})),
        "two or more .dist-info folders",
    ),
    Case(
        "dist-info-name-mismatch",
        _builder(CONTROL, f"other-{VERSION}-py3-none-any.whl"),
        f"{DIST_INFO} does not match the file name",
        subject=f"other-{VERSION}-py3-none-any.whl",
    ),
    Case(
        "dist-info-version-mismatch",
        _builder(CONTROL, f"{NAME}-2.0-py3-none-any.whl"),
        f"{DIST_INFO} does not match the file name",
        subject=f"{NAME}-2.0-py3-none-any.whl",
    ),
    Case(
        "metadata-missing",
        _builder(_spec(omit=frozenset({f"{DIST_INFO}/METADATA"}))),
        "METADATA is missing",
    ),
    Case(
        "metadata-name",
        _builder(_spec(metadata_text="Metadata-Version: 2.1\nName: other\nVersion: 1.0\n")),
        "METADATA Name 'other' does not match the file name",
    ),
    Case(
        "metadata-version",
        _builder(_spec(metadata_text="Metadata-Version: 2.1\nName: demo\nVersion: 9.9\n")),
        "METADATA Version '9.9' does not match the file name",
    ),
    Case(
        # More digits than int() takes: packaging's Version raises ValueError, not
        # InvalidVersion.
        "metadata-version-huge",
        _builder(_spec(metadata_text=f"Metadata-Version: 2.1\nName: demo\nVersion: {_HUGE}\n")),
        f"METADATA Version '{_HUGE}' does not match the file name",
    ),
    Case(
        "wheel-missing",
        _builder(_spec(omit=frozenset({f"{DIST_INFO}/WHEEL"}))),
        "WHEEL file is missing",
    ),
    Case(
        "wheel-unparsable",
        _builder(_spec(wheel_text="this is not a WHEEL file\n\x00\x01\n")),
        "WHEEL has no valid Wheel-Version",
    ),
    Case(
        "wheel-version-major",
        _builder(
            _spec(wheel_text="Wheel-Version: 2.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        ),
        "Wheel-Version 2.0 is newer than this installer supports",
    ),
    Case(
        "wheel-version-huge",
        _builder(
            _spec(
                wheel_text=f"Wheel-Version: {_HUGE}.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            )
        ),
        f"Wheel-Version {_HUGE}.0 is newer than this installer supports",
    ),
    Case(
        "wheel-version-negative",
        _builder(
            _spec(wheel_text="Wheel-Version: -1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        ),
        "WHEEL has no valid Wheel-Version (found '-1.0'",
    ),
    Case(
        "metadata-bom",
        _builder(_spec(metadata_text="\ufeffMetadata-Version: 2.1\nName: demo\nVersion: 1.0\n")),
        "METADATA starts with a byte-order mark",
    ),
    # Member paths and kinds.
    Case(
        "absolute-path",
        _builder(_with_files(Member("/etc/evil.conf", b"x"))),
        "'/etc/evil.conf': path is an absolute path",
    ),
    Case(
        "dotdot-path",
        _builder(_with_files(Member("demo/../../evil.py", b"x"))),
        "'demo/../../evil.py': path contains a '..' component",
    ),
    Case(
        "backslash-path",
        _builder(_with_files(Member("demo\\evil.py", b"x"))),
        "'demo\\\\evil.py': path contains a backslash",
    ),
    Case(
        "drive-letter",
        _builder(_with_files(Member("C:/evil.py", b"x"))),
        "'C:/evil.py': path starts with a drive letter",
    ),
    Case(
        "nul-in-name",
        _builder(_with_files(Member("demo/evil\x00.py", b"x"))),
        "'demo/evil\\x00.py': path contains a NUL or control character",
    ),
    Case(
        "control-char",
        _builder(_with_files(Member("demo/evil\x1b[2J.py", b"x"))),
        "'demo/evil\\x1b[2J.py': path contains a NUL or control character",
    ),
    Case(
        "deep-member",
        _builder(_with_files(Member("demo/" + "d/" * 1200 + "f.py", b"x"))),
        "has more than 256 components",
    ),
    Case(
        "journal-member",
        _builder(_with_files(Member(f"{DATA}/data/.wheelplan-journal/intent.json", b"{}"))),
        f"destination '.wheelplan-journal/intent.json' {RESERVED}",
    ),
    Case(
        # Where an apply backs up moved files at the top of another mount: any folder.
        "backup-member",
        _builder(_with_files(Member("demo/.wheelplan-backup/0", b"x"))),
        f"/demo/.wheelplan-backup/0' {RESERVED}",
    ),
    Case(
        # A file of that name is refused too, and its message must fit a file.
        "backup-file-member",
        _builder(_with_files(Member("demo/.wheelplan-backup", b"x"))),
        f"/demo/.wheelplan-backup' {RESERVED}",
    ),
    Case(
        # Each journal's backup folders there are named so, with an id of its own.
        "backup-id-member",
        _builder(_with_files(Member("demo/.wheelplan-backup-0123456789abcdef/0", b"x"))),
        f"/demo/.wheelplan-backup-0123456789abcdef/0' {RESERVED}",
    ),
    Case(
        "symlink-member",
        _builder(_with_files(Member("demo/link", b"/etc/passwd", mode=0o120777))),
        "'demo/link' is a symlink",
    ),
    Case(
        "fifo-member",
        _builder(_with_files(Member("demo/pipe", b"", mode=0o010644))),
        "'demo/pipe' is not a regular file",
    ),
    Case(
        "data-unknown-key",
        _builder(_with_files(Member(f"{DATA}/etc/evil.conf", b"x"))),
        f"'{DATA}/etc/evil.conf': .data key 'etc' is not one of",
    ),
    Case(
        "data-key-dotdot",
        _builder(_with_files(Member(f"{DATA}/scripts/..", b"x"))),
        f"'{DATA}/scripts/..': path contains a '..' component",
    ),
    Case(
        "data-dotdot-below",
        _builder(_with_files(Member(f"{DATA}/purelib/../../evil.py", b"x"))),
        f"'{DATA}/purelib/../../evil.py': path contains a '..' component",
    ),
    Case(
        "data-dir-as-file",
        _builder(_with_files(Member(DATA, b"x"))),
        f"'{DATA}' is a file where the .data folder belongs",
    ),
    Case(
        "data-key-as-file",
        _builder(_with_files(Member(f"{DATA}/scripts", b"x"))),
        f"'{DATA}/scripts' is a file where the .data/scripts folder belongs",
    ),
    # RECORD.
    Case(
        "record-missing",
        _builder(_spec(omit=frozenset({f"{DIST_INFO}/RECORD"}))),
        "RECORD is missing",
    ),
    Case(
        "record-short-row",
        _builder(
            _with_files(Member("demo/helper.py", HELPER, record_row="demo/helper.py,sha256=x"))
        ),
        "RECORD row 2 has 2 fields",
    ),
    Case(
        "record-bad-csv",
        _builder(_spec(record_text='demo/__init__.py,"sha256=abc,3\n')),
        "RECORD row 1",
    ),
    Case(
        "record-md5",
        _builder(
            _with_files(
                Member(
                    "demo/helper.py",
                    HELPER,
                    record_row=f"demo/helper.py,md5={hashlib.md5(HELPER).hexdigest()},{len(HELPER)}",
                )
            )
        ),
        "hash 'md5' is not accepted",
    ),
    Case(
        "record-sha1",
        _builder(
            _with_files(
                Member(
                    "demo/helper.py",
                    HELPER,
                    record_row=f"demo/helper.py,sha1={hashlib.sha1(HELPER).hexdigest()},{len(HELPER)}",
                )
            )
        ),
        "hash 'sha1' is not accepted",
    ),
    Case(
        "record-size-huge",
        _builder(
            _with_files(
                Member(
                    "demo/helper.py",
                    HELPER,
                    record_row=f"demo/helper.py,{record_hash(HELPER)},{_HUGE}",
                )
            )
        ),
        "size 111111111111111111111111... (5000 digits) is larger than any file",
    ),
    Case(
        "record-unknown-hash",
        _builder(
            _with_files(Member("demo/helper.py", HELPER, record_row="demo/helper.py,crc32=abc,220"))
        ),
        "hash 'crc32' is not accepted",
    ),
    Case(
        "record-no-hash",
        _builder(_with_files(Member("demo/helper.py", HELPER, record_row="demo/helper.py,,220"))),
        "RECORD row 2 ('demo/helper.py') has no hash",
    ),
    Case(
        "record-bad-size",
        _builder(
            _with_files(
                Member(
                    "demo/helper.py", HELPER, record_row=f"demo/helper.py,{record_hash(HELPER)},big"
                )
            )
        ),
        "size 'big' is not a whole number of bytes",
    ),
    Case(
        "record-size-other-digits",
        _builder(
            _with_files(
                Member(
                    "demo/helper.py",
                    HELPER,
                    record_row=f"demo/helper.py,{record_hash(HELPER)},\u0662\u0662\u0660",
                )
            )
        ),
        "size '\u0662\u0662\u0660' is not a whole number of bytes",
    ),
    Case(
        "member-not-in-record",
        _builder(_with_files(Member("demo/extra.py", b"X = 1\n", in_record=False))),
        "member 'demo/extra.py' is not listed in RECORD",
    ),
    Case(
        "record-lists-missing-file",
        _builder(_spec(extra_record_rows=(_row("demo/ghost.py", b"boo\n"),))),
        "RECORD lists 'demo/ghost.py', which is not in the archive",
    ),
    Case(
        "record-size-mismatch",
        _builder(
            _with_files(
                Member(
                    "demo/helper.py", HELPER, record_row=f"demo/helper.py,{record_hash(HELPER)},7"
                )
            )
        ),
        "'demo/helper.py': RECORD says 7 bytes, the archive holds 220",
    ),
    Case(
        "record-row-outside",
        _builder(_spec(extra_record_rows=(_row("../../../bin/evil", b"x"),))),
        "RECORD row 7 ('../../../bin/evil'): path contains a '..' component",
    ),
    Case(
        "record-row-absolute",
        _builder(_spec(extra_record_rows=(_row("/usr/bin/evil", b"x"),))),
        "RECORD row 7 ('/usr/bin/evil'): path is an absolute path",
    ),
    Case(
        "record-hash-mismatch",
        _builder(
            _with_files(
                Member(
                    "demo/helper.py",
                    HELPER,
                    record_row=f"demo/helper.py,{record_hash(b'other')},{len(HELPER)}",
                )
            )
        ),
        "'demo/helper.py' does not match its RECORD hash",
        stage="apply",
    ),
    Case(
        "corrupt-bytes",
        _surgery(_with_files(_STORED_HELPER), _corrupt_stored),
        "'demo/helper.py' does not match its RECORD hash",
        stage="apply",
    ),
    Case(
        "corrupt-after-other-writes",
        _surgery(
            _with_files(*(attrs.evolve(blob, compress_type=0) for blob in _BLOBS)),
            _corrupt_last_blob,
        ),
        "'demo/blob11.bin' does not match its RECORD hash",
        stage="apply",
    ),
    Case(
        "inflates-past-size",
        _surgery(
            _with_files(
                Member(
                    "demo/helper.py",
                    HELPER,
                    record_row=f"demo/helper.py,{record_hash(HELPER[:20])},20",
                )
            ),
            _shrink_declared,
        ),
        "'demo/helper.py' ",  # "is larger than" or "does not match" RECORD, by size
        stage="apply",
    ),
    # Entry points.
    Case(
        "script-name-slash",
        _builder(_spec(entry_points="[console_scripts]\n../../evil = demo:main\n")),
        "script name '../../evil' is not a plain file name",
    ),
    Case(
        "script-name-dotdot",
        _builder(_spec(entry_points="[gui_scripts]\n.. = demo:main\n")),
        "script name '..' is not a plain file name",
    ),
    Case(
        "script-name-control",
        _builder(_spec(entry_points="[console_scripts]\nev\x1bil = demo:main\n")),
        "script name 'ev\\x1bil' is not a plain file name",
    ),
    Case(
        "script-no-callable",
        _builder(_spec(entry_points="[console_scripts]\ndemo = demo\n")),
        "entry point 'demo = demo' in [console_scripts] is not 'module:callable'",
    ),
    *(
        Case(
            f"script-reference-{index}",
            _builder(_spec(entry_points=f"[console_scripts]\ndemo = {reference}\n")),
            f"entry point 'demo = {reference}' in [console_scripts] is not 'module:callable'",
        )
        for index, reference in enumerate(
            (".demo:main", "demo:.main", "demo..x:main", "demo:1main", "demo:main.")
        )
    ),
    Case(
        "entry-points-unparsable",
        _builder(_spec(entry_points="console_scripts]\ndemo = demo:main\n")),
        "entry_points.txt is not valid",
    ),
    # Limits.
    Case("zip-bomb", _bomb, "'demo/zeros.bin' expands"),
    Case(
        "too-many-entries",
        _builder(CONTROL),
        "more than the limit of 3",
        plan_args=("--max-entries", "3"),
    ),
    Case(
        "too-large",
        _builder(CONTROL),
        "more than the limit of 100 bytes",
        plan_args=("--max-total-size", "100"),
    ),
)


# --- accepted but sanitised -------------------------------------------------------


@attrs.frozen
class Sanitised:
    """A wheel that installs, with a warning saying what was changed or skipped."""

    id: str
    spec: WheelSpec
    warning: str
    # Path relative to the target's purelib -> expected mode (None: must not exist).
    expect: tuple[tuple[str, int | None], ...]


SANITISED: tuple[Sanitised, ...] = (
    Sanitised(
        "setuid-bits",
        _with_files(
            Member("demo/tool.py", b"X = 1\n", mode=0o6755),
            Member("demo/sticky.txt", b"s", mode=0o1644),
        ),
        "setuid, setgid and sticky bits dropped",
        (("demo/tool.py", 0o755), ("demo/sticky.txt", 0o644)),
    ),
    Sanitised(
        "pycache",
        _with_files(Member("demo/__pycache__/__init__.cpython-311.pyc", b"\x00" * 16)),
        "__pycache__",
        (("demo/__pycache__/__init__.cpython-311.pyc", None), ("demo/__init__.py", 0o644)),
    ),
    Sanitised(
        "case-collision",
        _with_files(Member("demo/Readme.txt", b"upper"), Member("demo/README.txt", b"lower")),
        "differ only by case",
        (("demo/Readme.txt", 0o644), ("demo/README.txt", 0o644)),
    ),
)


# --- tampered plans ---------------------------------------------------------------


def recompute_digest(data: dict[str, Any]) -> dict[str, Any]:
    """What an attacker who read planjson.py would do after editing a plan."""
    data["digest"] = digest_of(data)
    return data


def _first_write(data: dict[str, Any]) -> dict[str, Any]:
    return next(entry for entry in data["files"] if entry["source"]["kind"] == "member")


def _retarget(data: dict[str, Any], old: str, new: str) -> None:
    """Move one destination everywhere it is named, so only the path check can object."""
    for entry in data["files"]:
        if entry["path"] == old:
            entry["path"] = new
    for unit in data["units"]:
        unit["paths"] = [new if path == old else path for path in unit["paths"]]


def _redirect(new: Callable[[str], str]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        old = _first_write(data)["path"]
        _retarget(data, old, new(old))

    return edit


def _set_source(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        _first_write(data)["source"].update(fields)

    return edit


def _scheme(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["target"]["schemes"][name] = value

    return edit


def _drop_unit_path(data: dict[str, Any]) -> None:
    data["units"][0]["paths"] = data["units"][0]["paths"][1:]


def _add_directory(data: dict[str, Any]) -> None:
    data["directories"].append("../../outside")


def _interpreter(data: dict[str, Any]) -> None:
    data["target"]["interpreter"] += "\nimport os; os.system('echo owned')"


def _prefix_relative(data: dict[str, Any]) -> None:
    data["target"]["prefix"] = "relative/env"


def _prefix_elsewhere(data: dict[str, Any]) -> None:
    """Another real folder: every path still checks out against the edited prefix."""
    data["target"]["prefix"] = os.path.dirname(data["target"]["prefix"])


def _inline_content(data: dict[str, Any]) -> None:
    entry = next(e for e in data["files"] if (e["source"] or {}).get("kind") == "inline")
    entry["source"]["content"] = "import os; os.system('echo owned')\n"


def _inline_source(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        entry = next(e for e in data["files"] if (e["source"] or {}).get("kind") == "inline")
        entry["source"].update(fields)

    return edit


def _from_unchanged_wheel(data: dict[str, Any]) -> None:
    """One file read from the wheel of a distribution the plan leaves as it is."""
    kept = {**data["distributions"][0], "name": "kept", "display_name": "kept"}
    kept |= {"action": "unchanged", "wheel": "kept-1.0-py3-none-any.whl"}
    data["distributions"].append(kept)
    _first_write(data)["source"]["wheel"] = kept["wheel"]


def _wheel_named_twice(data: dict[str, Any]) -> None:
    """An unchanged distribution naming the installed wheel's file with another sha256,
    which nothing checks (only installed wheels are read)."""
    kept = {**data["distributions"][0], "name": "kept", "display_name": "kept"}
    kept |= {"action": "unchanged", "wheel_sha256": "0" * 64}
    data["distributions"].append(kept)


def _drop_record(data: dict[str, Any]) -> None:
    data["files"] = [e for e in data["files"] if (e["source"] or {}).get("kind") != "record"]


def _share_metadata_folder(data: dict[str, Any]) -> None:
    """A second distribution installed into the first one's .dist-info, listed as an
    owner of its RECORD: each RECORD was written to one path, the last over the first."""
    data["distributions"].append(dict(data["distributions"][0], name="other", display_name="other"))
    record = next(e for e in data["files"] if (e["source"] or {}).get("kind") == "record")
    record["owners"] = sorted([*record["owners"], "other"])


def _record_of_another(data: dict[str, Any]) -> None:
    """A second distribution, with a metadata folder of its own, whose RECORD the plan
    writes nowhere: it is listed only as an owner of the first one's."""
    first = data["distributions"][0]
    site = first["dist_info"].rpartition("/")[0]
    data["distributions"].append(
        dict(first, name="other", display_name="other", dist_info=f"{site}/other-1.0.dist-info")
    )
    record = next(e for e in data["files"] if (e["source"] or {}).get("kind") == "record")
    record["owners"] = sorted([*record["owners"], "other"])


def _as_target_directory(data: dict[str, Any]) -> None:
    """The plan as `plan --target` would make it for the same folder: its site-packages'
    files at the top, so only the layout it claims can object."""
    site = data["target"]["schemes"]["purelib"] + "/"
    data["target"].update(layout="directory", schemes=dict(DIRECTORY_SCHEMES))
    for dist in data["distributions"]:
        dist["dist_info"] = dist["dist_info"].removeprefix(site)
    for entry in data["files"]:
        entry["path"] = entry["path"].removeprefix(site)
    for unit in data["units"]:
        unit["paths"] = [path.removeprefix(site) for path in unit["paths"]]


def _owner_twice(data: dict[str, Any]) -> None:
    """RECORD listed the file twice."""
    _first_write(data)["owners"] = [NAME, NAME]


def _remove_directory(where: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], None]:
    """The plan removes the empty folder `where` gives (from the plan)."""

    def edit(data: dict[str, Any]) -> None:
        data["removed_directories"] = [where(data)]

    return edit


def _owner_hash(
    owner: str = NAME, hash_text: str | None = None, path: str | None = None, times: int = 1
) -> Callable[[dict[str, Any]], None]:
    """Another owner's hash of the first written file, as the planner gives one where
    owners hash with other algorithms: by default demo's own sha512 of its bytes."""

    def edit(data: dict[str, Any]) -> None:
        entry = _first_write(data)
        digest = hash_text or record_hash(CONTROL_BYTES[entry["source"]["member"]], "sha512")
        item = {"path": path or entry["path"], "owner": owner, "hash": digest}
        data["owner_hashes"] += [item] * times

    return edit


def _removal_with_source(data: dict[str, Any]) -> None:
    """A written file turned into a removal that keeps its source and leaves its unit."""
    entry = _first_write(data)
    entry["action"] = "remove"
    for unit in data["units"]:
        unit["paths"] = [path for path in unit["paths"] if path != entry["path"]]


def _wheel_in_a_folder(data: dict[str, Any]) -> None:
    """The wheel's file name, wherever the plan names it, given a folder of its own."""
    for dist in data["distributions"]:
        dist["wheel"] = f"sub/{dist['wheel']}"
    for entry in data["files"]:
        if entry["source"].get("wheel"):
            entry["source"]["wheel"] = f"sub/{entry['source']['wheel']}"


def _outside_schemes(data: dict[str, Any]) -> None:
    """A file moved to a folder of the prefix that no scheme names, once the data
    scheme, the prefix itself, is moved to a folder of its own."""
    data["target"]["schemes"]["data"] = "share"
    _retarget(data, _first_write(data)["path"], "etc/evil.py")


def _owner_hash_of_a_kept_distribution(data: dict[str, Any]) -> None:
    """The first written file listed by a distribution the plan leaves as it is too,
    with that one's own hash of it: a RECORD the apply never writes."""
    site = data["distributions"][0]["dist_info"].rpartition("/")[0]
    kept = {
        **data["distributions"][0],
        "name": "kept",
        "display_name": "kept",
        "action": "unchanged",
    }
    data["distributions"].append({**kept, "dist_info": f"{site}/kept-1.0.dist-info"})
    entry = _first_write(data)
    entry["owners"] = sorted([*entry["owners"], "kept"])
    # The overlap the planner lists for a file it writes for two owners.
    shared = {"path": entry["path"], "owners": entry["owners"]}
    data["conflicts"].append({**shared, "kind": "identical", "resolution": "shared"})
    _owner_hash(owner="kept")(data)


def _installed(*folders: tuple[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The target as planned held these metadata folders (each a name in purelib, or a
    path when it has a "/") with these file-list digests."""

    def edit(data: dict[str, Any]) -> None:
        purelib = data["target"]["schemes"]["purelib"]
        data["target"]["installed"] = [
            {
                "dist_info": name
                if not isinstance(name, str) or "/" in name
                else f"{purelib}/{name}",
                "listing_sha256": digest,
            }
            for name, digest in folders
        ]

    return edit


def _format_6(data: dict[str, Any]) -> None:
    """A plan as wheelplan wrote it before each installed folder was in it."""
    data["target"].pop("installed", None)
    data["target"]["installed_fingerprint"] = "sha256:" + "0" * 64
    data["format"] = 6


_LISTING = "0" * 64


# What each member of CONTROL holds.
CONTROL_BYTES = {
    path: data.data if isinstance(data, Member) else data for path, data in CONTROL.files.items()
}


@attrs.frozen
class PlanCase:
    """An edit to a valid plan; `digest` says whether the editor fixed the digest after."""

    id: str
    edit: Callable[[dict[str, Any]], None]
    problem: str
    fix_digest: bool = True


_NO_WHEEL = "but this plan installs no distribution from it"

PLAN_CASES: tuple[PlanCase, ...] = (
    # `show` printed their sizes, and `apply` weighed them, as floats: OverflowError.
    PlanCase("inline-size-huge", _inline_source(size=10**400), "is past what 64 bits hold"),
    PlanCase("member-size-huge", _set_source(size=10**400), "is past what 64 bits hold"),
    PlanCase(
        "format-version",
        lambda d: d.update(format=FORMAT + 1),
        f"plan format {FORMAT + 1} is not supported",
    ),
    PlanCase(
        "format-previous",
        lambda d: d.update(format=FORMAT - 1),
        f"plan format {FORMAT - 1} is not supported (this wheelplan reads format {FORMAT});"
        " plan again",
    ),
    PlanCase(
        "format-6-fingerprint",
        _format_6,
        f"plan format 6 is not supported (this wheelplan reads format {FORMAT}); plan again",
    ),
    PlanCase(
        "installed-unsorted",
        _installed(("b-1.0.dist-info", _LISTING), ("a-1.0.dist-info", _LISTING)),
        "installed folders are not sorted, or one is listed twice (at 'lib/python",
    ),
    PlanCase(
        "installed-twice",
        _installed(("a-1.0.dist-info", _LISTING), ("a-1.0.dist-info", "1" * 64)),
        "installed folders are not sorted, or one is listed twice",
    ),
    PlanCase(
        "installed-dotdot",
        _installed(("lib/../../../x-1.0.dist-info", _LISTING)),
        "installed folder 'lib/../../../x-1.0.dist-info' is not a .dist-info, .egg-info or"
        " .egg-link in the target's purelib or platlib folder",
    ),
    PlanCase(
        "installed-line-break",
        _installed(("a-1.0.dist-info\nerror: forged", _LISTING)),
        "holds a character a scan records escaped",
    ),
    PlanCase(
        "installed-outside-site",
        _installed(("bin/a-1.0.dist-info", _LISTING)),
        "installed folder 'bin/a-1.0.dist-info' is not a .dist-info, .egg-info or .egg-link in"
        " the target's purelib or platlib folder",
    ),
    PlanCase(
        "installed-not-metadata",
        _installed(("a-1.0", _LISTING)),
        "is not a .dist-info, .egg-info or .egg-link in the target's purelib or platlib folder",
    ),
    PlanCase(
        "installed-digest-short",
        _installed(("a-1.0.dist-info", "abc")),
        "listing_sha256 'abc' is not 64 lowercase hex digits",
    ),
    PlanCase(
        "installed-digest-type",
        _installed(("a-1.0.dist-info", 0)),
        "malformed plan: plan.target.installed[0].listing_sha256: expected a str",
    ),
    PlanCase(
        "installed-not-a-list",
        lambda d: d["target"].update(installed={}),
        "malformed plan: plan.target.installed: expected a list",
    ),
    PlanCase(
        "format-version-raw",
        lambda d: d.update(format=FORMAT + 1),
        f"plan format {FORMAT + 1}",
        fix_digest=False,
    ),
    PlanCase(
        "edited-no-digest",
        _redirect(lambda old: "../../escaped.py"),
        "plan digest does not match its contents",
        fix_digest=False,
    ),
    PlanCase(
        "dest-dotdot",
        _redirect(lambda old: old.split("/")[0] + "/../../escaped.py"),
        "contains a '..' component",
    ),
    PlanCase("dest-absolute", _redirect(lambda old: "/tmp/escaped.py"), "is an absolute path"),
    # Only an edited data scheme leaves a folder of the prefix in no scheme.
    PlanCase(
        "dest-outside-schemes",
        _outside_schemes,
        "destination 'etc/evil.py' is outside the environment's scheme directories",
    ),
    PlanCase(
        "dest-journal",
        _redirect(lambda old: ".wheelplan-journal/intent.json"),
        f"'.wheelplan-journal/intent.json' {RESERVED}",
    ),
    PlanCase(
        "dest-backup",
        _redirect(lambda old: old.rpartition("/")[0] + "/.wheelplan-backup/0"),
        f"/.wheelplan-backup/0' {RESERVED}",
    ),
    PlanCase(
        "dest-backup-file",
        _redirect(lambda old: old.rpartition("/")[0] + "/.wheelplan-backup"),
        f"/.wheelplan-backup' {RESERVED}",
    ),
    PlanCase(
        "dest-backup-id",
        _redirect(lambda old: old.rpartition("/")[0] + "/.wheelplan-backup-0123456789abcdef/0"),
        f"/.wheelplan-backup-0123456789abcdef/0' {RESERVED}",
    ),
    PlanCase("dest-nul", _redirect(lambda old: old + "\x00.pth"), "NUL or control character"),
    PlanCase("scheme-escapes", _scheme("purelib", "../../../etc"), "scheme purelib"),
    PlanCase("scheme-absolute", _scheme("purelib", "/etc"), "scheme purelib"),
    PlanCase(
        "scheme-missing",
        lambda d: d["target"]["schemes"].pop("headers"),
        "target schemes must be exactly ['purelib', 'platlib', 'headers', 'scripts', 'data']",
    ),
    PlanCase("directory-escapes", _add_directory, "directory '../../outside'"),
    PlanCase(
        "distribution-twice",
        lambda d: d["distributions"].append(dict(d["distributions"][0])),
        f"distribution {NAME} is listed 2 times",
    ),
    PlanCase(
        "removed-directory-escapes",
        _remove_directory(lambda d: "../../outside"),
        "removed directory '../../outside' contains a '..' component",
    ),
    # A plan removes an empty folder only with the .dist-info it is in.
    PlanCase(
        "removed-directory-of-no-metadata",
        _remove_directory(lambda d: d["target"]["schemes"]["purelib"] + "/demo"),
        "is in no metadata folder that the plan removes whole",
    ),
    PlanCase("mode-setuid", _set_source(mode=0o4755), "mode 0o4755"),
    PlanCase("hash-md5", _set_source(hash="md5=abc"), "hash 'md5' is not accepted"),
    PlanCase("source-unknown-wheel", _set_source(wheel="other-1.0-py3-none-any.whl"), _NO_WHEEL),
    PlanCase("source-unchanged-wheel", _from_unchanged_wheel, _NO_WHEEL),
    PlanCase(
        "wheel-two-sha256s",
        _wheel_named_twice,
        f"wheel {FILENAME!r} is named by 2 distributions with different sha256s or sizes",
    ),
    PlanCase(
        "inline-names-a-wheel",
        _inline_source(wheel="demo-1.0-py3-none-any.whl"),
        "its inline source names a wheel member",
    ),
    PlanCase(
        "wheel-path-line-break",
        lambda d: d["distributions"][0].update(wheel_path="/tmp/x\nerror: forged.whl"),
        "has a control character",
    ),
    PlanCase(
        "wheel-path-nul",
        lambda d: d["distributions"][0].update(wheel_path="/tmp/x\x00.whl"),
        "has a control character",
    ),
    PlanCase("size-negative", _set_source(size=-1), "a size or offset no file can have"),
    PlanCase("offset-past-off-t", _set_source(offset=2**63), "a size or offset no file can have"),
    PlanCase("units-incomplete", _drop_unit_path, "work units do not partition"),
    PlanCase("removal-with-source", _removal_with_source, "' has a source"),
    PlanCase("wheel-in-a-folder", _wheel_in_a_folder, "is not a plain file name"),
    PlanCase(
        "wheel-sha256-missing",
        lambda d: d["distributions"][0].update(wheel_sha256=None),
        f"distribution {NAME} has no wheel to install from",
    ),
    PlanCase("compression-unknown", _set_source(compression=12), "has an unsupported compression"),
    PlanCase(
        "compressed-size-past-off-t",
        _set_source(compressed_size=2**63),
        "a size or offset no file can have",
    ),
    PlanCase("inline-edited", _inline_content, "inline content does not match its hash"),
    # Written as given, then refused as "the wheel is corrupt or was changed", naming the
    # environment instead of the plan.
    PlanCase(
        "inline-size", _inline_source(size=5), "inline content does not match its hash or size"
    ),
    PlanCase("interpreter-newline", _interpreter, "without control characters"),
    PlanCase("prefix-relative", _prefix_relative, "is not a plain absolute path"),
    PlanCase("prefix-elsewhere", _prefix_elsewhere, "not the environment it was planned for"),
    PlanCase(
        "scheme-moved-inside", _scheme("purelib", "bin"), "not the environment it was planned for"
    ),
    # `show` reviews it: a plan edited to say another Python was applied all the same.
    PlanCase(
        "python-version-edited",
        lambda d: d["target"].update(python_version="3.99"),
        "not the environment it was planned for: the Python version is '3.99' here but"
        f" '{sys.version_info.major}.{sys.version_info.minor}' for",
    ),
    PlanCase(
        "tags-edited",
        lambda d: d["target"].update(tags_fingerprint="sha256:" + "0" * 64),
        "supports other wheel tags than planned for",
    ),
    PlanCase("plan-record-missing", _drop_record, "has no RECORD entry"),
    PlanCase(
        "plan-record-of-another",
        _record_of_another,
        f"distribution other has no RECORD entry at 'lib/python{sys.version_info.major}."
        f"{sys.version_info.minor}/site-packages/other-1.0.dist-info/RECORD'",
    ),
    PlanCase(
        "metadata-folder-shared",
        _share_metadata_folder,
        f"/{DIST_INFO}' is not its own (other-1.0.dist-info in the target's purelib or",
    ),
    PlanCase("owner-twice", _owner_twice, "names an owner more than once"),
    PlanCase(
        "owner-hash-no-file",
        _owner_hash(path="lib/python3.11/site-packages/demo/ghost.py"),
        "owner hash of 'lib/python3.11/site-packages/demo/ghost.py' for demo: the plan"
        " writes no such file",
    ),
    PlanCase(
        "owner-hash-not-an-owner",
        _owner_hash(owner="other"),
        "for other: other is not an owner of it that the plan installs",
    ),
    PlanCase(
        "owner-hash-of-a-kept-distribution",
        _owner_hash_of_a_kept_distribution,
        "for kept: kept is not an owner of it that the plan installs",
    ),
    PlanCase("owner-hash-twice", _owner_hash(times=2), "for demo: given twice"),
    PlanCase(
        "owner-hash-md5",
        _owner_hash(hash_text="md5=" + "A" * 22),
        "is not a whole digest by an accepted algorithm (sha256 or stronger)",
    ),
    PlanCase(
        "owner-hash-cut",
        _owner_hash(hash_text="sha512=" + "A" * 43),
        "is not a whole digest by an accepted algorithm (sha256 or stronger)",
    ),
    PlanCase(
        "owner-hash-other-bytes",
        _owner_hash(hash_text=record_hash(b"other bytes\n", "sha512")),
        "demo's RECORD hash sha512=",
    ),
    PlanCase(
        "layout-directory-schemes",
        lambda d: d["target"].update(layout="directory"),
        "a target directory's schemes must be",
    ),
    PlanCase(
        "layout-directory-unconfirmed",
        _as_target_directory,
        "planned for the target directory",
    ),
    PlanCase(
        "layout-prefix-unconfirmed",
        lambda d: d["target"].update(layout="prefix"),
        "planned for the prefix",
    ),
)


def tamper(text: str, case: PlanCase) -> str:
    data = json.loads(text)
    case.edit(data)
    if case.fix_digest:
        recompute_digest(data)
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
