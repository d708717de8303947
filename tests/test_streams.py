"""Streaming paths of the applier: a huge member is hashed by a second thread as it is
written (see `applier.streams._ReadBack`), and checked all the same; every path runs
through each inflate backend (`applier.inflate`)."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

from applier import inflate, streams
from applier.apply import apply_plan
from applier.options import Options
from planner.errors import Refused
from tests.applytools import SCHEMES, plan_for
from tests.wheelfactory import Member, WheelSpec, build_wheel, corrupt_member, record_hash

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


@pytest.fixture(autouse=True, params=inflate.BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(inflate, "backend", request.param)
    return str(request.param)


def test_isal_is_the_backend_where_it_is_installed() -> None:
    """The dependency is only worth having if the streams use it."""
    installed = importlib.util.find_spec("isal") is not None
    assert inflate.BACKENDS[0] == ("isal" if installed else "zlib")


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


@pytest.mark.parametrize("size", [5 * 2**20 + 22, 5 * 2**20 + 1, 3 * 2**20])
def test_a_member_that_deflates_far_is_inflated_whole(tmp_path: Path, size: int) -> None:
    """A call that fills the output just as the input runs out leaves bytes inside the
    inflater: they were dropped, and a valid wheel refused as corrupt (5 MiB + 22
    bytes of zeros, with either backend)."""
    zeros = Member("zeros/blob.bin", b"\0" * size, compress_type=zipfile.ZIP_DEFLATED)
    wheel = build_wheel(WheelSpec("zeros", files={"zeros/blob.bin": zeros}), tmp_path / "w")
    prefix = tmp_path / "env"
    prefix.mkdir()
    apply_plan(plan_for([wheel], prefix), "plan", Options(confirm_target=False, jobs=1))
    assert (prefix / SCHEMES["purelib"] / "zeros" / "blob.bin").read_bytes() == b"\0" * size


def test_a_huge_member_that_does_not_match_record_is_refused(tmp_path: Path) -> None:
    tampered = HUGE.replace(b"00000007 a line", b"0000000X a line")
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([huge_wheel(tmp_path / "wheels", record_data=tampered)], prefix)
    with pytest.raises(Refused) as refused:
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    assert "does not match its RECORD hash" in str(refused.value)
    assert list(prefix.iterdir()) == []


@pytest.mark.parametrize("member", ["huge/blob.txt", "huge/small.txt"])
def test_a_member_that_does_not_inflate_is_refused_and_nothing_is_written(
    tmp_path: Path, member: str
) -> None:
    small = Member("huge/small.txt", HUGE[:4000], compress_type=zipfile.ZIP_DEFLATED)
    blob = Member("huge/blob.txt", HUGE, compress_type=zipfile.ZIP_DEFLATED)
    spec = WheelSpec("huge", files={"huge/small.txt": small, "huge/blob.txt": blob})
    wheel = build_wheel(spec, tmp_path / "wheels")
    corrupt_member(wheel, member)
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    with pytest.raises(Refused) as refused:
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    assert f"member {member!r} does not inflate" in str(refused.value)
    assert list(prefix.iterdir()) == []
