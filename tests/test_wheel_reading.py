"""How `read_wheel` reads an archive's dist-info files without zipfile."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import attrs
import pytest

from planner.errors import Refused
from planner.wheelreader import read_wheel
from tests.hostile import CONTROL, DIST_INFO, FILENAME, _central_entry
from tests.recordcheck import respelled
from tests.wheelfactory import build_wheel

_CRC_AT = 16  # where a central directory entry keeps the member's CRC-32


def _problems(path: Path) -> list[str]:
    with pytest.raises(Refused) as refused:
        read_wheel(str(path))
    return [problem.message for problem in refused.value.problems]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_only_metadata_headers_are_read(tmp_path: Path, newline: str) -> None:
    """A description that looks like headers is the body, whatever the line endings."""
    text = newline.join(
        [
            "Metadata-Version: 2.1",
            "Name: demo",
            "Version: 1.0",
            "Requires-Dist: idna",
            "",
            "Requires-Dist: not-a-header",
            "",
            "Name: other",
            "",
        ]
    )
    wheel = read_wheel(str(build_wheel(attrs.evolve(CONTROL, metadata_text=text), tmp_path)))
    assert (wheel.display_name, wheel.requires_dist) == ("demo", ("idna",))


def test_a_dist_info_file_that_fails_its_crc_is_refused(tmp_path: Path) -> None:
    path = build_wheel(CONTROL, tmp_path)
    data = bytearray(path.read_bytes())
    data[_central_entry(bytes(data), f"{DIST_INFO}/WHEEL") + _CRC_AT] ^= 0xFF
    path.write_bytes(bytes(data))
    assert _problems(path) == [
        f"cannot read {DIST_INFO}/WHEEL (Bad CRC-32 for file '{DIST_INFO}/WHEEL')"
    ]


def test_a_refused_dist_info_file_is_not_read_again(tmp_path: Path) -> None:
    """The refusal of the member says it all; no second error about reading it."""
    path = build_wheel(CONTROL, tmp_path)
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(f"{DIST_INFO}/METADATA").header_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = b"XXXX"
    path.write_bytes(bytes(data))
    assert _problems(path) == [
        f"member '{DIST_INFO}/METADATA': its local header disagrees with the central directory"
        " (the archive is damaged or was tampered with)"
    ]


def test_record_hashes_spelled_another_way_are_read_as_their_digests(tmp_path: Path) -> None:
    """Padded standard base64, as pantsbuild.pants wheels have it, installs under pip and
    uv (neither checks hashes); here it is checked, as the digest it spells."""
    plain_path = build_wheel(CONTROL, tmp_path / "plain")
    plain = read_wheel(str(plain_path))
    with zipfile.ZipFile(plain_path) as archive:
        record = archive.read(f"{DIST_INFO}/RECORD").decode()
    padded = respelled(record, lambda digest: base64.b64encode(digest).decode())
    assert padded != record
    spelled = read_wheel(str(build_wheel(attrs.evolve(CONTROL, record_text=padded), tmp_path)))
    assert spelled.members == plain.members
    rows = len([row for row in record.splitlines() if not row.endswith(",,")])
    assert spelled.warnings == (
        f"{FILENAME}: {rows} RECORD hashes are not in unpadded urlsafe base64; read as the"
        " digests they spell",
    )

    garbage = record.replace("demo/helper.py,sha256=", "demo/helper.py,sha256=x")
    path = build_wheel(attrs.evolve(CONTROL, record_text=garbage), tmp_path / "garbage")
    (problem,) = _problems(path)
    assert problem.startswith("RECORD row 2 ('demo/helper.py'): hash 'x")
    assert problem.endswith("' is not a sha256 digest")


class _Unseekable(io.BytesIO):
    """A stream zipfile cannot seek back in, so it follows each member with a data
    descriptor (16 bytes here) instead of filling in the local header's sizes."""

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("not seekable")


def test_data_descriptors_between_members_are_accounted_for(tmp_path: Path) -> None:
    path = build_wheel(CONTROL, tmp_path)
    stream = _Unseekable()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(stream, "w") as streamed:
        for info in source.infolist():
            streamed.writestr(info, source.read(info))
    path.write_bytes(stream.getvalue())
    with zipfile.ZipFile(path) as archive:
        assert all(info.flag_bits & 0x08 for info in archive.infolist())
    assert read_wheel(str(path)).name == "demo"
