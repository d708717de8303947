"""The planner's central directory reader against zipfile, which it stands in for.

Every archive zipfile opens must read to the same entries; every archive zipfile
refuses while opening must be refused with zipfile's words.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.centraldir import NOT_A_ZIP, Entry, Unreadable, read_entries
from tests.hostile import CONTROL
from tests.wheelfactory import build_wheel


def _unix_mode(info: zipfile.ZipInfo) -> int:
    mode = info.external_attr >> 16
    return mode if info.create_system == 3 or stat.S_ISREG(mode) else 0


def _expected(data: bytes) -> tuple[list[Entry], int]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = [
            Entry(
                info.orig_filename,
                info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"),
                info.flag_bits,
                info.compress_type,
                info.CRC,
                info.compress_size,
                info.file_size,
                info.header_offset,
                _unix_mode(info),
            )
            for info in archive.infolist()
        ]
        return entries, archive.start_dir


def _archive(*, comment: bytes = b"", zip64: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("plain.py", b"X = 1\n" * 50)
        archive.writestr(zipfile.ZipInfo("stored.txt"), b"stored", zipfile.ZIP_STORED)
        archive.writestr("naïve/ünïcode.txt", b"utf-8 name")
        archive.writestr("folder/", b"")
        with archive.open("big.bin", "w", force_zip64=zip64) as stream:
            stream.write(b"\0" * 1000)
        archive.comment = comment
    return buffer.getvalue()


def _zip64_end_record(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """An archive with a ZIP64 end record, as zipfile writes one past 65,535 entries."""
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    data = _archive(zip64=True)
    assert b"PK\x06\x06" in data
    return data


def _zipfile_outcome(data: bytes) -> tuple[list[Entry], int] | str:
    try:
        return _expected(data)
    except zipfile.BadZipFile as error:
        return NOT_A_ZIP if str(error) == "File is not a zip file" else f"({error})"
    except UnicodeDecodeError:
        return "(a member name is not valid UTF-8)"
    except NotImplementedError as error:
        return f"({error})"


def _our_outcome(data: bytes) -> tuple[list[Entry], int] | str:
    try:
        return read_entries(data)
    except Unreadable as error:
        return str(error)


def _assert_read_as_zipfile_reads(data: bytes) -> None:
    expected, ours = _zipfile_outcome(data), _our_outcome(data)
    if isinstance(expected, str):
        assert isinstance(ours, str) and ours.endswith(expected), (expected, ours)
    else:
        assert ours == expected


def test_a_wheel_reads_as_zipfile_reads_it(tmp_path: Path) -> None:
    data = build_wheel(CONTROL, tmp_path).read_bytes()
    assert read_entries(data) == _expected(data)
    assert read_entries(data)[0][0].name == "demo/__init__.py"


@pytest.mark.parametrize(
    "comment", [b"", b"a comment", b"PK\x05\x06" * 30, b"PK\x05\x06" + bytes(20)]
)
def test_archives_with_comments_and_zip64_sizes_read_as_zipfile_reads_them(comment: bytes) -> None:
    for data in (_archive(comment=comment), _archive(comment=comment, zip64=True)):
        _assert_read_as_zipfile_reads(data)


def test_a_zip64_end_record_reads_as_zipfile_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _zip64_end_record(monkeypatch)
    assert read_entries(data) == _expected(data)


def test_bytes_before_the_archive_shift_every_offset() -> None:
    data = b"#!/bin/sh\nexit 0\n" + _archive()
    entries, start = read_entries(data)
    assert (entries, start) == _expected(data)
    assert entries[0].offset == len(b"#!/bin/sh\nexit 0\n")


@pytest.mark.parametrize("data", [b"", b"PK\x05\x06", b"not a zip at all" * 10])
def test_what_is_no_archive_is_refused(data: bytes) -> None:
    with pytest.raises(Unreadable, match=NOT_A_ZIP.replace("(", r"\(").replace(")", r"\)")):
        read_entries(data)


@settings(max_examples=300, deadline=None)
@given(
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4
    ),
    cut=st.one_of(st.none(), st.floats(0, 1)),
    tail=st.booleans(),
)
def test_a_damaged_archive_reads_or_fails_as_zipfile_does(
    flips: list[tuple[float, int]], cut: float | None, tail: bool
) -> None:
    """Damage aimed at the central directory (`tail`) or anywhere in the archive."""
    data = bytearray(_archive(comment=b"c", zip64=True))
    start = _expected(bytes(data))[1] if tail else 0
    for where, value in flips:
        data[start + int(where * (len(data) - start))] = value
    if cut is not None:
        del data[int(cut * len(data)) :]
    _assert_read_as_zipfile_reads(bytes(data))
