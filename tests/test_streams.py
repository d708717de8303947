"""Streaming paths of the applier: a huge member is hashed by a second thread as it is
written (see `applier.streams._ReadBack`), and checked all the same."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from applier import streams
from applier.apply import Options, apply_plan
from planner.errors import Refused
from tests.applytools import SCHEMES, plan_for
from tests.wheelfactory import Member, WheelSpec, build_wheel, record_hash

HUGE = b"".join(b"%08d a line of a large text member\n" % n for n in range(120_000))


def huge_wheel(directory: Path, record_data: bytes = HUGE) -> Path:
    """A wheel whose big member holds HUGE, and whose RECORD promises `record_data`."""
    row = f"huge/blob.txt,{record_hash(record_data)},{len(record_data)}"
    blob = Member("huge/blob.txt", HUGE, compress_type=zipfile.ZIP_DEFLATED, record_row=row)
    return build_wheel(
        WheelSpec("huge", files={"huge/__init__.py": b"", "huge/blob.txt": blob}), directory
    )


@pytest.fixture(autouse=True)
def _read_back_from_one_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Members of a few MiB take the path torch's 434 MB library takes."""
    monkeypatch.setattr(streams, "READ_BACK", 1024 * 1024)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_huge_member_is_hashed_while_it_is_written(tmp_path: Path, jobs: int) -> None:
    prefix = tmp_path / "env"
    prefix.mkdir()
    apply_plan(
        plan_for([huge_wheel(tmp_path / "wheels")], prefix),
        "plan",
        Options(confirm_target=False, jobs=jobs),
    )
    assert (prefix / SCHEMES["purelib"] / "huge" / "blob.txt").read_bytes() == HUGE


def test_a_huge_member_that_does_not_match_record_is_refused(tmp_path: Path) -> None:
    tampered = HUGE.replace(b"00000007 a line", b"0000000X a line")
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([huge_wheel(tmp_path / "wheels", record_data=tampered)], prefix)
    with pytest.raises(Refused) as refused:
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    assert "does not match its RECORD hash" in str(refused.value)
    assert list(prefix.iterdir()) == []
