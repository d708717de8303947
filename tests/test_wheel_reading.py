"""How `read_wheel` reads an archive's dist-info files without zipfile."""

from __future__ import annotations

import zipfile
from pathlib import Path

import attrs
import pytest

from planner.errors import Refused
from planner.wheels import read_wheel
from tests.hostile import CONTROL, DIST_INFO, _central_entry
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
