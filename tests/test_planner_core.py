"""Unit tests of the pure planner on wheels built here: validation, mapping, resolution.

Every test plans against a target written out by hand (tests/plannertools.py), so
no interpreter runs; the prefix is an empty folder the planner must never write to.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest

from planner import planjson, review
from planner.build import Request, make_plan
from planner.errors import Refused
from planner.installed import Installed
from planner.journalnames import JOURNAL_DIR
from planner.layout import record_hash
from planner.plan import Distribution, FileEntry, Plan, Target
from planner.target import TargetInfo
from tests.conftest import snapshot
from tests.plannertools import INTERPRETER, SCHEMES, build_all, fake_target, plan_specs, read
from tests.wheelfactory import Member, WheelSpec, build_wheel

PURE = SCHEMES["purelib"]
SHARED = b"# a namespace shared by several distributions\n"
NAMESPACE = {f"{PURE}/ns/__init__.py": SHARED}


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    folder = tmp_path / "prefix"
    folder.mkdir()
    return folder


@pytest.fixture
def fake(prefix: Path) -> TargetInfo:
    return fake_target(prefix)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    return tmp_path / "wheels"


def refusal(specs: list[WheelSpec], wheels: Path, target: TargetInfo, **request: Any) -> list[str]:
    """The problems of a plan that must be refused, as the CLI prints them."""
    with pytest.raises(Refused) as caught:
        plan_specs(specs, wheels, target, **request)
    return [str(problem) for problem in caught.value.problems]


def unit_paths(plan: Plan) -> Counter[str]:
    return Counter(path for unit in plan.units for path in unit.paths)


# --- validation -------------------------------------------------------------------------


def test_a_well_formed_wheel_is_read_with_every_field(wheels: Path) -> None:
    spec = WheelSpec(
        name="Demo.Pkg",
        version="2.1",
        files={
            "demo_pkg/__init__.py": b"VALUE = 1\n",
            "demo_pkg/run.sh": Member("demo_pkg/run.sh", b"#!/bin/sh\n", mode=0o755),
        },
        entry_points=(
            "[console_scripts]\ndemo = demo_pkg:main\n[gui_scripts]\ndemo-gui = demo_pkg:gui\n"
        ),
        requires=("attrs>=20", "tomli; python_version < '3.11'"),
    )
    wheel = read(spec, wheels)
    assert (wheel.name, wheel.display_name, wheel.version) == ("demo-pkg", "Demo.Pkg", "2.1")
    assert wheel.root_is_purelib
    assert wheel.dist_info == "Demo_Pkg-2.1.dist-info"
    assert wheel.warnings == ()
    members = {member.name: member for member in wheel.members}
    assert set(members) == {
        "demo_pkg/__init__.py",
        "demo_pkg/run.sh",
        "Demo_Pkg-2.1.dist-info/WHEEL",
        "Demo_Pkg-2.1.dist-info/METADATA",
        "Demo_Pkg-2.1.dist-info/entry_points.txt",
    }
    init = members["demo_pkg/__init__.py"]
    assert (init.hash, init.size, init.mode) == (record_hash(b"VALUE = 1\n"), 10, 0o644)
    assert members["demo_pkg/run.sh"].mode == 0o755
    assert [(s.name, s.module, s.attr, s.section) for s in wheel.entry_points] == [
        ("demo", "demo_pkg", "main", "console"),
        ("demo-gui", "demo_pkg", "gui", "gui"),
    ]
    assert wheel.requires_dist == ("attrs>=20", "tomli; python_version < '3.11'")


BAD_WHEELS = [
    pytest.param(
        {"files": {"a.py": Member("a.py", b"x", in_record=False)}},
        "member 'a.py' is not listed in RECORD",
        id="member-not-in-record",
    ),
    pytest.param(
        {"files": {"a.py": b"x"}, "extra_record_rows": (f"ghost.py,{record_hash(b'g')},1",)},
        "RECORD lists 'ghost.py', which is not in the archive",
        id="record-row-without-member",
    ),
    pytest.param(
        {"files": {"a.py": Member("a.py", b"x", record_row="a.py,md5=AAAA,1")}},
        "hash 'md5' is not accepted",
        id="weak-hash",
    ),
    pytest.param(
        {"files": {"a.py": Member("a.py", b"x", record_row=f"a.py,{record_hash(b'x')},5")}},
        "RECORD says 5 bytes, the archive holds 1",
        id="size-mismatch",
    ),
    pytest.param(
        # Leading zeros are read past int()'s 4,300 digits, and the size compared.
        {
            "files": {
                "a.py": Member("a.py", b"x", record_row=f"a.py,{record_hash(b'x')},{'0' * 5000}5")
            }
        },
        "RECORD says 5 bytes, the archive holds 1",
        id="size-mismatch-zero-padded",
    ),
    pytest.param(
        {"files": {"a.py": Member("a.py", b"x", record_row=f"a.py,{record_hash(b'x')},{2**63}")}},
        f"size {2**63} is larger than any file",
        id="size-past-any-file",
    ),
    pytest.param(
        {"metadata_text": "Metadata-Version: 2.1\nName: other\nVersion: 1.0\n"},
        "METADATA Name 'other' does not match the file name (bad)",
        id="metadata-name",
    ),
    pytest.param(
        {"metadata_text": "Metadata-Version: 2.1\nName: bad\nVersion: 9.9\n"},
        "METADATA Version '9.9' does not match the file name (1.0)",
        id="metadata-version",
    ),
    pytest.param(
        {"omit": frozenset({"bad-1.0.dist-info/WHEEL"})},
        "WHEEL file is missing from .dist-info",
        id="no-WHEEL",
    ),
    pytest.param(
        {"omit": frozenset({"bad-1.0.dist-info/METADATA"})},
        "METADATA is missing from .dist-info",
        id="no-METADATA",
    ),
    pytest.param(
        {"wheel_text": "Wheel-Version: 2.0\nRoot-Is-Purelib: true\n"},
        "Wheel-Version 2.0 is newer than this installer supports",
        id="wheel-version-major",
    ),
    pytest.param(
        {"wheel_text": "Wheel-Version: 1.0\n"},
        "WHEEL has no valid Root-Is-Purelib",
        id="no-root-is-purelib",
    ),
    pytest.param(
        {"files": {"bad-1.0.data/bogus/x.txt": b""}},
        ".data key 'bogus' is not one of",
        id="data-key",
    ),
    pytest.param(
        {"files": {"link": Member("link", b"elsewhere", mode=0o120777)}},
        "member 'link' is a symlink",
        id="symlink",
    ),
    pytest.param(
        {"files": {"m.py": b""}, "entry_points": "[console_scripts]\nbad/name = m:main\n"},
        "entry point script name 'bad/name' is not a plain file name",
        id="script-name",
    ),
]


def test_a_zip_made_elsewhere_keeps_a_regular_files_exec_bit(wheels: Path) -> None:
    """Tools on other systems store a unix mode too; pip and installer read it."""
    files = {
        "run.sh": Member("run.sh", b"#!/bin/sh\n", mode=0o755, create_system=0),
        "plain.txt": Member("plain.txt", b"", mode=0o644, create_system=0),
        # Not a unix mode there: neither a symlink to refuse nor an exec bit.
        "odd.txt": Member("odd.txt", b"", mode=0o120777, create_system=0),
    }
    wheel = read(WheelSpec(name="elsewhere", files=files), wheels)
    modes = {member.name: member.mode for member in wheel.members if "/" not in member.name}
    assert modes == {"run.sh": 0o755, "plain.txt": 0o644, "odd.txt": 0o644}


@pytest.mark.parametrize(("fields", "message"), BAD_WHEELS)
def test_a_broken_wheel_is_refused_naming_the_wheel(
    fields: dict[str, Any], message: str, wheels: Path, fake: TargetInfo
) -> None:
    spec = WheelSpec(name="bad", **fields)
    problems = refusal([spec], wheels, fake)
    assert any(problem.startswith(f"{spec.filename}: ") for problem in problems), problems
    assert any(message in problem for problem in problems), problems


def test_every_problem_of_a_wheel_is_reported_together(wheels: Path, fake: TargetInfo) -> None:
    spec = WheelSpec(
        name="bad",
        files={
            "a.py": Member("a.py", b"x", in_record=False),
            "b.py": Member("b.py", b"y", record_row="b.py,sha1=AAAA,1"),
        },
    )
    good = WheelSpec(name="good", files={"good.py": b""})
    other = WheelSpec(name="other", files={"c.py": Member("c.py", b"z", in_record=False)})
    problems = refusal([spec, good, other], wheels, fake)
    assert sorted(problems) == [
        "bad-1.0-py3-none-any.whl: RECORD row 1 ('b.py'): hash 'sha1' is not accepted"
        " (sha256 or stronger required)",
        "bad-1.0-py3-none-any.whl: member 'a.py' is not listed in RECORD",
        "other-1.0-py3-none-any.whl: member 'c.py' is not listed in RECORD",
    ]


def test_a_newer_wheel_minor_version_is_a_warning(wheels: Path, fake: TargetInfo) -> None:
    spec = WheelSpec(name="newer", wheel_text="Wheel-Version: 1.9\nRoot-Is-Purelib: true\n")
    plan = plan_specs([spec], wheels, fake)
    assert plan.warnings == (
        "newer-1.0-py3-none-any.whl: Wheel-Version 1.9 is newer than 1.0; installing anyway",
    )


def test_a_wheel_version_is_read_without_its_surrounding_blanks(
    wheels: Path, fake: TargetInfo
) -> None:
    """As pip reads it (it strips the value first), and as `int()` read it here before
    the value had to be two whole numbers in ASCII digits."""
    spec = WheelSpec(name="blank", wheel_text="Wheel-Version: 1.0 \t\nRoot-Is-Purelib: true\n")
    plan = plan_specs([spec], wheels, fake)
    assert [dist.name for dist in plan.distributions] == ["blank"]
    assert plan.warnings == ()


def test_a_wheels_own_installer_files_are_replaced(wheels: Path, fake: TargetInfo) -> None:
    info = "own-1.0.dist-info"
    spec = WheelSpec(name="own", files={f"{info}/INSTALLER": b"pip\n", f"{info}/REQUESTED": b""})
    plan = plan_specs([spec], wheels, fake, direct_url=False)
    installer = plan.file_map()[f"{PURE}/{info}/INSTALLER"].source
    assert installer is not None and (installer.kind, installer.content) == (
        "inline",
        "wheelplan\n",
    )
    assert any("'own-1.0.dist-info/INSTALLER' in the wheel is replaced" in w for w in plan.warnings)


def test_a_wheel_for_another_platform_is_refused(wheels: Path, fake: TargetInfo) -> None:
    spec = WheelSpec(name="native", tag="cp311-cp311-win_amd64")
    (problem,) = refusal([spec], wheels, fake)
    assert problem.startswith("native-1.0-cp311-cp311-win_amd64.whl: is not compatible")


def test_a_wheel_whose_tags_fit_only_part_by_part_is_told_from_one_whose_part_fits_none(
    wheels: Path, prefix: Path
) -> None:
    """Each part of `py3-cp311-any` is one a CPython 3.11 takes, so no part is the one
    to change: the target's best tags are what would fit. Of a tag set (`py2.cp27`),
    each value is named."""
    tags = ("cp311-cp311-linux_x86_64", "cp311-abi3-linux_x86_64", "py3-none-any")
    specs = [
        WheelSpec(name="apart", tag="py3-cp311-any"),
        WheelSpec(name="old", tag="py2.cp27-none-any"),
    ]
    assert refusal(specs, wheels, fake_target(prefix, tags=tags)) == [
        "apart-1.0-py3-cp311-any.whl: is not compatible with the target, Python 3.11: it takes"
        " each part of its tags, but never all in one tag (it takes cp311-cp311-linux_x86_64,"
        " cp311-abi3-linux_x86_64, py3-none-any)",
        "old-1.0-py2.cp27-none-any.whl: is not compatible with the target, Python 3.11: it"
        " takes no Python tag cp27 or py2 (but cp311, py3)",
    ]


def test_one_distribution_given_twice_is_refused(wheels: Path, fake: TargetInfo) -> None:
    problems = refusal(
        [WheelSpec(name="twice"), WheelSpec(name="twice", version="2.0")], wheels, fake
    )
    assert problems == [
        "twice-2.0-py3-none-any.whl: twice is also given as twice-1.0-py3-none-any.whl"
    ]


def test_one_wheel_file_given_twice_is_planned_once(wheels: Path, fake: TargetInfo) -> None:
    """By name, through a symlink and through its folder, as pip and uv take it; a copy
    elsewhere is another file, refused by its path (the file names are the same)."""
    wheel = build_wheel(WheelSpec(name="once", files={"once.py": b""}), wheels)
    link = wheels.parent / "link" / wheel.name
    link.parent.mkdir()
    link.symlink_to(wheel)
    given = (str(wheel), str(link), str(wheels), str(wheel))
    plan = make_plan(Request(wheels=given), fake)
    assert [dist.name for dist in plan.distributions] == ["once"]
    copy = wheels.parent / "copy" / wheel.name
    copy.parent.mkdir()
    copy.write_bytes(wheel.read_bytes())
    with pytest.raises(Refused) as refused:
        make_plan(Request(wheels=(str(wheel), str(copy))), fake)
    assert [str(problem) for problem in refused.value.problems] == [
        f"{copy}: once is also given as {wheel}"
    ]


# --- mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize("purelib", [True, False])
def test_root_is_purelib_chooses_the_root_scheme(
    purelib: bool, wheels: Path, fake: TargetInfo
) -> None:
    spec = WheelSpec(name="rooted", files={"rooted.py": b""}, root_is_purelib=purelib)
    plan = plan_specs([spec], wheels, fake)
    root = SCHEMES["purelib" if purelib else "platlib"]
    assert f"{root}/rooted.py" in plan.file_map()
    assert plan.distributions[0].dist_info == f"{root}/rooted-1.0.dist-info"
    assert all(entry.path.startswith(root + "/") for entry in plan.files)


def test_data_directories_spread_to_their_scheme_paths(wheels: Path, fake: TargetInfo) -> None:
    data = "spread-1.0.data"
    spec = WheelSpec(
        name="spread",
        files={
            f"{data}/purelib/spread_pure.py": b"pure\n",
            f"{data}/platlib/spread_native.py": b"native\n",
            f"{data}/headers/spread.h": b"/* header */\n",
            f"{data}/scripts/spread-tool": b"#!python\nprint('tool')\n",
            f"{data}/data/share/spread/notes.txt": b"notes\n",
        },
    )
    files = plan_specs([spec], wheels, fake).file_map()
    expected = {
        "lib/python3.11/site-packages/spread_pure.py": f"{data}/purelib/spread_pure.py",
        "lib64/python3.11/site-packages/spread_native.py": f"{data}/platlib/spread_native.py",
        "include/site/python3.11/spread/spread.h": f"{data}/headers/spread.h",
        "bin/spread-tool": f"{data}/scripts/spread-tool",
        "share/spread/notes.txt": f"{data}/data/share/spread/notes.txt",
    }
    members = {
        entry.path: entry.source.member
        for entry in files.values()
        if entry.source and entry.source.member and entry.source.member.startswith(data)
    }
    assert members == expected
    assert not any(".data/" in path for path in files)
    tool = files["bin/spread-tool"].source
    assert tool is not None and (tool.mode, tool.rewrite_shebang) == (0o755, True)
    notes = files["share/spread/notes.txt"].source
    assert notes is not None and (notes.mode, notes.rewrite_shebang) == (0o644, False)


def test_entry_point_scripts_are_planned_as_inline_sources(wheels: Path, fake: TargetInfo) -> None:
    spec = WheelSpec(
        name="tools",
        files={"tools.py": b"def main(): pass\n"},
        entry_points="[console_scripts]\ntool = tools:main\n[gui_scripts]\ntool-gui = tools:gui\n",
    )
    files = plan_specs([spec], wheels, fake).file_map()
    for name, attr in (("tool", "main"), ("tool-gui", "gui")):
        source = files[f"bin/{name}"].source
        assert source is not None and source.kind == "inline" and source.content is not None
        assert source.content.startswith(f"#!{INTERPRETER}\n")
        assert f"from tools import {attr}\n" in source.content
        assert f"sys.exit({attr}())" in source.content
        data = source.content.encode()
        assert (source.mode, source.size, source.hash) == (0o755, len(data), record_hash(data))
        assert files[f"bin/{name}"].owners == ("tools",)


def test_pip_s_own_scripts_are_named_for_the_target_s_python(
    wheels: Path, fake: TargetInfo
) -> None:
    """As pip and uv install them: pip 24.0's wheel names `pip3.10`, for the Python it
    was built with; a 3.11 venv has `pip3.11`, which upgrading pip removed."""
    spec = WheelSpec(
        name="pip",
        files={"pip/__init__.py": b""},
        entry_points=(
            "[console_scripts]\npip = pip:main\npip3 = pip:main\npip3.10 = pip:main\n"
            "easy_install = setuptools:main\neasy_install-3.10 = setuptools:main\n"
            "other = pip:other\n"
        ),
    )
    files = plan_specs([spec], wheels, fake).file_map()
    scripts = sorted(path for path in files if path.startswith("bin/"))
    assert scripts == [
        "bin/easy_install",
        "bin/easy_install-3.11",
        "bin/other",
        "bin/pip",
        "bin/pip3",
        "bin/pip3.11",
    ]
    pip311 = files["bin/pip3.11"].source
    assert pip311 is not None and pip311.content is not None
    assert "from pip import main\n" in pip311.content


def test_pip_s_renamed_scripts_skip_their_wrappers_and_yield_to_gui_ones(
    wheels: Path, fake: TargetInfo
) -> None:
    """pip skips setuptools' `.data/scripts` wrapper for a versioned name it drops, and
    writes GUI scripts last: a GUI `pip3` is the `bin/pip3` it leaves."""
    spec = WheelSpec(
        name="fakepip",
        files={
            "fakepip.py": b"def main(): pass\n",
            "fakepip-1.0.data/scripts/pip": b"#!python\n",
            "fakepip-1.0.data/scripts/pip3.10": b"#!python\n",
        },
        entry_points=(
            "[console_scripts]\npip = fakepip:main\npip3.10 = fakepip:main\n"
            "[gui_scripts]\npip3 = fakepip:gui\n"
        ),
    )
    files = plan_specs([spec], wheels, fake).file_map()
    assert sorted(path for path in files if path.startswith("bin/")) == [
        "bin/pip",
        "bin/pip3",
        "bin/pip3.11",
    ]
    gui = files["bin/pip3"].source
    assert gui is not None and gui.content is not None and "from fakepip import gui" in gui.content


def test_wheelplan_writes_the_installer_files_of_every_distribution(
    wheels: Path, fake: TargetInfo
) -> None:
    (path,) = build_all([WheelSpec(name="meta", files={"meta.py": b""})], wheels)
    plan = make_plan(Request(wheels=(path,)), fake)
    info = f"{PURE}/meta-1.0.dist-info"
    files = plan.file_map()
    contents = {name: files[f"{info}/{name}"].source for name in ("INSTALLER", "REQUESTED")}
    assert {name: s.content if s else None for name, s in contents.items()} == {
        "INSTALLER": "wheelplan\n",
        "REQUESTED": "",
    }
    url_source = files[f"{info}/direct_url.json"].source
    assert url_source is not None and url_source.content is not None
    direct_url = json.loads(url_source.content)
    assert direct_url["url"] == Path(path).as_uri()
    assert direct_url["archive_info"]["hashes"] == {"sha256": plan.distributions[0].wheel_sha256}
    record = files[f"{info}/RECORD"].source
    assert record is not None and record.kind == "record"
    # RECORD is written last by the applier, so it is in no work unit.
    assert f"{info}/RECORD" not in unit_paths(plan)


# --- resolution -------------------------------------------------------------------------


def test_identical_bytes_are_one_write_shared_by_every_owner(
    wheels: Path, fake: TargetInfo
) -> None:
    specs = [
        WheelSpec(name=name, files={"ns/__init__.py": SHARED, f"ns/{name}.py": name.encode()})
        for name in ("ns-c", "ns-a", "ns-b")
    ]
    plan = plan_specs(specs, wheels, fake)
    path = f"{PURE}/ns/__init__.py"
    assert [entry.path for entry in plan.files].count(path) == 1
    entry = plan.file_map()[path]
    assert (entry.action, entry.owners) == ("write", ("ns-a", "ns-b", "ns-c"))
    assert [(c.path, c.owners, c.kind, c.resolution) for c in plan.conflicts] == [
        (path, ("ns-a", "ns-b", "ns-c"), "identical", "shared")
    ]
    assert unit_paths(plan)[path] == 1


def test_the_same_destination_from_data_and_root_is_merged(wheels: Path, fake: TargetInfo) -> None:
    specs = [
        WheelSpec(name="rooted", files={"pkg/mod.py": SHARED}),
        WheelSpec(name="spread", files={"spread-1.0.data/purelib/pkg/mod.py": SHARED}),
    ]
    entry = plan_specs(specs, wheels, fake).file_map()[f"{PURE}/pkg/mod.py"]
    assert entry.owners == ("rooted", "spread")


def test_different_bytes_are_refused_naming_the_path_and_both_wheels(
    wheels: Path, fake: TargetInfo
) -> None:
    specs = [
        WheelSpec(name="fast", files={"eng/engine.py": b"fast\n", "eng/fast.py": b""}),
        WheelSpec(name="slow", files={"eng/engine.py": b"slow\n", "eng/slow.py": b""}),
    ]
    assert refusal(specs, wheels, fake) == [
        f"{PURE}/eng/engine.py: different content from fast (fast-1.0-py3-none-any.whl),"
        " slow (slow-1.0-py3-none-any.whl); choose one with --prefer NAME"
    ]


def test_prefer_settles_an_overlap_for_the_winner_only(wheels: Path, fake: TargetInfo) -> None:
    specs = [
        WheelSpec(name="fast", files={"eng/engine.py": b"fast\n", "eng/fast.py": b""}),
        WheelSpec(name="slow", files={"eng/engine.py": b"slow\n", "eng/slow.py": b""}),
        WheelSpec(name="twin", files={"eng/engine.py": b"slow\n"}),
    ]
    plan = plan_specs(specs, wheels, fake, prefer=frozenset({"slow"}))
    entry = plan.file_map()[f"{PURE}/eng/engine.py"]
    assert entry.source is not None and entry.source.wheel == "slow-1.0-py3-none-any.whl"
    # The loser's RECORD will not list the file; an owner with the winning bytes keeps it.
    assert entry.owners == ("slow", "twin")
    assert [(c.owners, c.kind, c.resolution) for c in plan.conflicts] == [
        (("fast", "slow", "twin"), "different", "prefer:slow")
    ]
    assert plan.file_map()[f"{PURE}/eng/fast.py"].owners == ("fast",)


def test_two_preferred_owners_of_one_overlap_are_refused(wheels: Path, fake: TargetInfo) -> None:
    specs = [
        WheelSpec(name="fast", files={"engine.py": b"fast\n"}),
        WheelSpec(name="slow", files={"engine.py": b"slow\n"}),
    ]
    (problem,) = refusal(specs, wheels, fake, prefer=frozenset({"fast", "slow"}))
    assert problem.startswith(f"{PURE}/engine.py: different content from")
    assert problem.endswith("several of them are preferred (fast, slow)")


def test_prefer_must_name_a_planned_or_installed_distribution(
    wheels: Path, fake: TargetInfo
) -> None:
    problems = refusal([WheelSpec(name="only")], wheels, fake, prefer=frozenset({"nobody"}))
    assert problems == [
        "nobody: --prefer names a distribution that is neither planned nor installed"
    ]


def test_same_bytes_with_another_mode_say_so(wheels: Path, fake: TargetInfo) -> None:
    specs = [
        WheelSpec(name="exec", files={"run.sh": Member("run.sh", b"#!/bin/sh\n", mode=0o755)}),
        WheelSpec(name="plain", files={"run.sh": b"#!/bin/sh\n"}),
    ]
    (problem,) = refusal(specs, wheels, fake)
    assert problem.startswith(f"{PURE}/run.sh: the same bytes with different file modes")
    assert "exec (exec-1.0-py3-none-any.whl): 0o755" in problem
    assert "plain (plain-1.0-py3-none-any.whl): 0o644" in problem


@pytest.mark.parametrize("winner", ["script", "data"])
def test_a_rewritten_script_and_a_data_file_of_its_bytes_are_different(
    wheels: Path, fake: TargetInfo, winner: str
) -> None:
    """`.data/scripts/tool` is installed with its `#!python` line rewritten for the
    target, `.data/data/bin/tool` as it is: the same bytes and mode in the wheels, other
    bytes on disk, so neither shares the other's file."""
    text = b"#!python\nprint('tool')\n"
    specs = [
        WheelSpec(name="script", files={"script-1.0.data/scripts/tool": text}),
        WheelSpec(
            name="data",
            files={
                "data-1.0.data/data/bin/tool": Member("data-1.0.data/data/bin/tool", text, 0o755)
            },
        ),
    ]
    assert refusal(specs, wheels, fake) == [
        "bin/tool: different content from data (data-1.0-py3-none-any.whl),"
        " script (script-1.0-py3-none-any.whl); choose one with --prefer NAME"
    ]
    plan = plan_specs(specs, wheels, fake, prefer=frozenset({winner}))
    entry = plan.file_map()["bin/tool"]
    assert entry.owners == (winner,)
    assert entry.source is not None
    assert (entry.source.mode, entry.source.rewrite_shebang) == (0o755, winner == "script")


def test_a_destination_listed_twice_by_one_wheel_is_refused(wheels: Path, fake: TargetInfo) -> None:
    spec = WheelSpec(name="dup", files={"dup.py": b"a", "dup-1.0.data/purelib/dup.py": b"a"})
    assert refusal([spec], wheels, fake) == [
        f"{PURE}/dup.py: two files of dup (dup-1.0-py3-none-any.whl) map to this path"
    ]


def test_a_file_where_another_wheel_needs_a_directory_is_refused(
    wheels: Path, fake: TargetInfo
) -> None:
    specs = [
        WheelSpec(name="flat", files={"pkg/data": b"a file\n"}),
        WheelSpec(name="deep", files={"pkg/data/table.csv": b"a,b\n"}),
    ]
    assert refusal(specs, wheels, fake) == [
        f"{PURE}/pkg/data: is a file of flat (flat-1.0-py3-none-any.whl) and a directory"
        f" of deep (deep-1.0-py3-none-any.whl)"
    ]


def test_paths_differing_only_by_case_warn(wheels: Path, fake: TargetInfo) -> None:
    specs = [
        WheelSpec(name="upper", files={"Pkg/Mod.py": b"1"}),
        WheelSpec(name="lower", files={"pkg/mod.py": b"2"}),
    ]
    plan = plan_specs(specs, wheels, fake)
    assert plan.warnings == (
        f"{PURE}/Pkg/Mod.py and {PURE}/pkg/mod.py differ only by case and will collide on"
        " case-insensitive filesystems",
    )
    assert plan.conflicts == ()


# --- the target's current state ---------------------------------------------------------


def _installed(prefix: Path, name: str, files: dict[str, bytes], requires: str = "") -> Installed:
    """A distribution another installer left in `prefix`: its files and its dist-info."""
    info = f"{PURE}/{name}-1.0.dist-info"
    for path, data in files.items():
        (prefix / path).parent.mkdir(parents=True, exist_ok=True)
        (prefix / path).write_bytes(data)
    rows = {path: record_hash(data) for path, data in files.items()}
    record = "".join(f"{path},{digest},\n" for path, digest in rows.items())
    return Installed(
        name=name,
        display_name=name,
        version="1.0",
        dist_info=info,
        installer="pip",
        listing=record,
        files=rows,
        requires_dist=tuple(filter(None, [requires])),
    )


def test_identical_bytes_already_installed_are_shared(wheels: Path, prefix: Path) -> None:
    old = _installed(prefix, "old", {f"{PURE}/ns/__init__.py": SHARED})
    before = snapshot(prefix)
    plan = plan_specs(
        [WheelSpec(name="new", files={"ns/__init__.py": SHARED})],
        wheels,
        fake_target(prefix, [old]),
    )
    entry = plan.file_map()[f"{PURE}/ns/__init__.py"]
    assert (entry.action, entry.owners) == ("replace", ("new", "old"))
    assert snapshot(prefix) == before


def test_different_bytes_of_an_installed_distribution_kept_are_refused(
    wheels: Path, prefix: Path
) -> None:
    old = _installed(prefix, "old", {f"{PURE}/ns/__init__.py": b"# old\n"})
    before = snapshot(prefix)
    target = fake_target(prefix, [old])
    problems = refusal([WheelSpec(name="new", files={"ns/__init__.py": SHARED})], wheels, target)
    assert problems == [
        f"{PURE}/ns/__init__.py: old 1.0 (installed) has different content than"
        " new (new-1.0-py3-none-any.whl); upgrade or remove old too, or --prefer new,"
        " or --prefer old to keep its file"
    ]
    assert snapshot(prefix) == before


def test_a_file_of_no_distribution_in_the_way_is_refused(wheels: Path, prefix: Path) -> None:
    (prefix / PURE).mkdir(parents=True)
    (prefix / PURE / "stray.py").write_bytes(b"left behind\n")
    (prefix / PURE / "folder.py").mkdir()
    (prefix / PURE / "linked.py").symlink_to("folder.py", target_is_directory=True)
    (prefix / PURE / "blocker").write_bytes(b"")
    before = snapshot(prefix)
    spec = WheelSpec(
        name="new",
        files={"stray.py": b"", "folder.py": b"", "linked.py": b"", "blocker/inside.py": b""},
    )
    problems = refusal([spec], wheels, fake_target(prefix))
    assert sorted(problems) == [
        f"{PURE}/blocker: is a file in the target, but a directory is planned there",
        f"{PURE}/folder.py: is a directory in the target, but a file is planned there",
        f"{PURE}/linked.py: is a directory in the target, but a file is planned there",
        f"{PURE}/stray.py: exists in the target and belongs to no distribution;"
        " planned by new (new-1.0-py3-none-any.whl); remove or move it if nothing needs"
        " it, then plan again",
    ]
    assert snapshot(prefix) == before


def test_an_upgrade_turns_a_file_into_a_folder_and_a_folder_it_empties_into_a_file(
    wheels: Path, prefix: Path
) -> None:
    old = _installed(
        prefix,
        "swap",
        {
            f"{PURE}/swap/data": b"a file\n",
            f"{PURE}/swap/tree/__init__.py": b"",
            f"{PURE}/swap/tree/deep/leaf.txt": b"leaf\n",
        },
    )
    pycache = prefix / PURE / "swap" / "tree" / "__pycache__"
    pycache.mkdir()
    (pycache / "__init__.cpython-311.pyc").write_bytes(b"")
    new = WheelSpec(
        name="swap", version="2.0", files={"swap/data/__init__.py": b"", "swap/tree": b"a file\n"}
    )
    before = snapshot(prefix)
    plan = plan_specs([new], wheels, fake_target(prefix, [old]))
    actions = {path: entry.action for path, entry in plan.file_map().items()}
    assert {path: action for path, action in actions.items() if "/swap/" in path} == {
        f"{PURE}/swap/data": "remove",
        f"{PURE}/swap/data/__init__.py": "write",
        f"{PURE}/swap/tree": "write",
        f"{PURE}/swap/tree/__init__.py": "remove",
        f"{PURE}/swap/tree/__pycache__/__init__.cpython-311.pyc": "remove",
        f"{PURE}/swap/tree/deep/leaf.txt": "remove",
    }
    assert f"{PURE}/swap/data" in plan.directories
    assert (
        review.render(plan, whole="see plan.json")
        .split("Swapped (the removals make room first):\n")[1]
        .startswith(
            f"  {PURE}/swap/data: a file becomes a folder\n"
            f"  {PURE}/swap/tree: a folder becomes a file\n"
        )
    )
    # What the plan does not remove would keep the folder: refused, naming it.
    (prefix / PURE / "swap" / "tree" / "deep" / "notes.txt").write_bytes(b"mine")
    assert refusal([new], wheels, fake_target(prefix, [old])) == [
        f"{PURE}/swap/tree: is a directory in the target, but a file is planned there;"
        f" {PURE}/swap/tree/deep/notes.txt would remain in it"
    ]
    (prefix / PURE / "swap" / "tree" / "deep" / "notes.txt").unlink()
    (prefix / PURE / "swap" / "tree" / "empty").mkdir()  # holds no removal: it stays
    assert refusal([new], wheels, fake_target(prefix, [old])) == [
        f"{PURE}/swap/tree: is a directory in the target, but a file is planned there;"
        f" {PURE}/swap/tree/empty would remain in it"
    ]
    (prefix / PURE / "swap" / "tree" / "empty").rmdir()
    assert snapshot(prefix) == before


def test_an_installed_version_of_more_digits_than_int_reads_is_upgraded(
    wheels: Path, prefix: Path
) -> None:
    """Such a METADATA Version is no version packaging can compare: it is replaced, as
    one that is not a version at all is."""
    huge = "1" * 5000
    old = attrs.evolve(_installed(prefix, "big", {f"{PURE}/big.py": b"old\n"}), version=huge)
    new = WheelSpec(name="big", files={"big.py": b"new\n"})
    plan = plan_specs([new], wheels, fake_target(prefix, [old]))
    assert [(d.name, d.action, d.previous_version) for d in plan.distributions] == [
        ("big", "upgrade", huge)
    ]


def test_an_upgrade_replaces_its_own_files_and_removes_the_rest(wheels: Path, prefix: Path) -> None:
    old = _installed(
        prefix,
        "core",
        {f"{PURE}/core/__init__.py": b"old\n", f"{PURE}/core/gone.py": b"", **NAMESPACE},
    )
    keeper = _installed(prefix, "keeper", dict(NAMESPACE))
    target = fake_target(prefix, [old, keeper])
    new = WheelSpec(name="core", version="2.0", files={"core/__init__.py": b"new\n"})
    plan = plan_specs([new], wheels, target)
    files = plan.file_map()
    assert [(d.name, d.action, d.previous_version) for d in plan.distributions] == [
        ("core", "upgrade", "1.0")
    ]
    assert (files[f"{PURE}/core/__init__.py"].action, files[f"{PURE}/core/__init__.py"].owners) == (
        "replace",
        ("core",),
    )
    assert files[f"{PURE}/core/gone.py"].action == "remove"
    # A file another installed distribution still lists stays.
    assert f"{PURE}/ns/__init__.py" not in files
    removal = plan_specs([], wheels, target, remove=frozenset({"core"}))
    assert f"{PURE}/ns/__init__.py" not in removal.file_map()
    assert removal.file_map()[f"{PURE}/core/gone.py"].reason == "core 1.0 is removed"


def test_a_leftover_journal_refuses_every_plan(wheels: Path, prefix: Path) -> None:
    (prefix / JOURNAL_DIR).mkdir()
    (problem,) = refusal([WheelSpec(name="any")], wheels, fake_target(prefix))
    assert problem.startswith(f"{prefix}: an interrupted apply left a journal here")


# --- requirements -----------------------------------------------------------------------


def test_unmet_requirements_under_the_target_markers_are_warnings(
    wheels: Path, fake: TargetInfo
) -> None:
    specs = [
        WheelSpec(
            name="app",
            requires=(
                "lib>=2",
                "absent",
                "present>=1",
                "elsewhere; sys_platform == 'no-such-platform'",
                "optional; extra == 'speed'",
                "odd; python_version ~= '3'",
                "present==" + "1" * 5000,
                "lib >= >= 1",
                "locked; extras == 'x'",
            ),
        ),
        WheelSpec(name="lib", version="1.5"),
        WheelSpec(name="present", version="1.2"),
    ]
    plan = plan_specs(specs, wheels, fake)
    assert plan.warnings == (
        "app: cannot evaluate the marker of requirement \"locked; extras == 'x'\"",
        "app: cannot evaluate the marker of requirement \"odd; python_version ~= '3'\"",
        "app: cannot parse requirement 'lib >= >= 1'",
        "app requires absent, which is not installed or planned",
        "app requires lib>=2, but lib 1.5 is planned or installed",
        f"app requires present=={'1' * 5000}, but present 1.2 is planned or installed",
    )
    problems = refusal(specs, wheels, fake, strict=True)
    assert sorted(problems) == sorted(f"--strict: {warning}" for warning in plan.warnings)


def test_met_requirements_say_nothing(wheels: Path, fake: TargetInfo) -> None:
    specs = [WheelSpec(name="app", requires=("Lib_Name>=1,<2",)), WheelSpec(name="lib-name")]
    assert plan_specs(specs, wheels, fake, strict=True).warnings == ()


def test_an_installed_dependent_left_unmet_is_a_warning(wheels: Path, prefix: Path) -> None:
    core = _installed(prefix, "core", {f"{PURE}/core.py": b""})
    plugin = _installed(prefix, "plugin", {f"{PURE}/plugin.py": b""}, requires="core>=1.0")
    target = fake_target(prefix, [core, plugin])
    downgrade = plan_specs([WheelSpec(name="core", version="0.5")], wheels, target)
    assert downgrade.warnings == (
        "plugin 1.0 (installed) requires core>=1.0, but core 0.5 is planned or installed",
    )
    removal = plan_specs([WheelSpec(name="other")], wheels, target, remove=frozenset({"core"}))
    assert removal.warnings == (
        "plugin 1.0 (installed) requires core>=1.0, which is not installed or planned",
    )
    # Pre-existing trouble that the plan does not touch is not this plan's to report.
    lonely = _installed(prefix, "lonely", {f"{PURE}/lonely.py": b""}, requires="absent")
    odd = _installed(
        prefix, "odd", {f"{PURE}/odd.py": b""}, requires="absent; python_version ~= '3'"
    )
    broken = _installed(prefix, "broken", {f"{PURE}/broken.py": b""}, requires="core >= >= 1")
    untouched = fake_target(prefix, [core, plugin, lonely, odd, broken])
    assert plan_specs([WheelSpec(name="other")], wheels, untouched, strict=True).warnings == ()


# --- work units -------------------------------------------------------------------------


def _writes(plan: Plan) -> list[FileEntry]:
    return [e for e in plan.files if e.source is not None and e.source.kind != "record"]


def test_a_single_huge_wheel_is_split_across_units(wheels: Path, fake: TargetInfo) -> None:
    # Zeros compress well, and 1 MiB members stay under the expansion-ratio check.
    block = bytes(1024**2)
    spec = WheelSpec(name="huge", files={f"huge/block{n:02}.bin": block for n in range(16)})
    plan = plan_specs([spec], wheels, fake)
    assert len(plan.units) >= 3
    assert unit_paths(plan) == Counter(entry.path for entry in _writes(plan))
    files = plan.file_map()
    blocks_per_unit = [
        sum(1 for path in unit.paths if path.endswith(".bin")) for unit in plan.units
    ]
    assert max(blocks_per_unit) < 16
    assert all(
        unit.bytes == sum(files[path].source.size for path in unit.paths)  # type: ignore[union-attr]
        for unit in plan.units
    )


def test_many_tiny_wheels_are_grouped_into_few_units(wheels: Path, fake: TargetInfo) -> None:
    specs = [WheelSpec(name=f"tiny{n:02}", files={f"tiny{n:02}.py": b"x = 1\n"}) for n in range(40)]
    plan = plan_specs(specs, wheels, fake)
    assert len(plan.units) < 40 / 4
    owners_per_unit = [{plan.file_map()[path].owners for path in unit.paths} for unit in plan.units]
    assert max(len(owners) for owners in owners_per_unit) > 1
    assert unit_paths(plan) == Counter(entry.path for entry in _writes(plan))


# --- review -----------------------------------------------------------------------------


def test_the_review_of_five_wheels_fits_on_one_screen(wheels: Path, fake: TargetInfo) -> None:
    specs = [
        WheelSpec(
            name=f"part-{n}",
            files={"ns/__init__.py": SHARED, "ns/engine.py": f"{n}".encode(), f"ns/p{n}.py": b""},
            entry_points=f"[console_scripts]\npart{n} = ns.p{n}:main\n",
            requires=("absent>=1",) if n == 0 else (),
        )
        for n in range(5)
    ]
    plan = plan_specs(specs, wheels, fake, prefer=frozenset({"part-2"}))
    text = review.render(plan, whole="see plan.json")
    lines = text.splitlines()
    assert len(lines) <= 24, text
    for n in range(5):
        assert any(line.split()[:3] == ["install", f"part-{n}", "1.0"] for line in lines), text
    assert any("ns/engine.py" in line and "-> part-2 wins (--prefer)" in line for line in lines)
    losers = [line for line in lines if "1 file lost to part-2" in line]
    assert [line.split()[1] for line in losers] == ["part-0", "part-1", "part-3", "part-4"]
    assert any("ns/__init__.py" in line for line in lines), text
    assert any("part-0 requires absent>=1" in line for line in lines), text
    assert "; 1 work unit; " in text


def test_long_lists_in_the_review_are_summarised(wheels: Path, fake: TargetInfo) -> None:
    files = {f"big/m{n:02}.py": f"{n}".encode() for n in range(30)}
    specs = [
        WheelSpec(name="left", files={**files, "big/__init__.py": SHARED}),
        WheelSpec(name="right", files={**{p: b"other" for p in files}, "big/__init__.py": SHARED}),
    ]
    plan = plan_specs(specs, wheels, fake, prefer=frozenset({"left"}))
    assert len(plan.conflicts) == 31
    lines = review.render(plan, whole="see plan.json").splitlines()
    assert "  ... and 20 more overlaps (see plan.json)" in lines
    assert sum(1 for line in lines if "-> left wins (--prefer)" in line) == 10
    assert len(lines) <= 30


def test_a_cut_list_of_warnings_keeps_what_the_user_overrode(
    wheels: Path, fake: TargetInfo
) -> None:
    """Sorted, the --ignore-requires-python warning of `app` came after its unmet
    requirements and was the one cut; the count said "1 more warnings"."""
    needs = tuple(f"absent{n:02}>=1" for n in range(10))
    spec = WheelSpec(name="app", requires=needs, requires_python=">=99")
    plan = plan_specs([spec], wheels, fake, ignore_requires_python=True)
    overridden = "app-1.0-py3-none-any.whl: requires Python >=99; the target is Python"
    assert len(plan.warnings) == 11 and plan.warnings[-1].startswith(overridden)
    text = review.render(plan, whole="see plan.json")
    shown = text.split("\nWarnings:\n", 1)[1].splitlines()
    assert shown[0].startswith(f"  {overridden}"), text
    assert shown[0].endswith("(planned: --ignore-requires-python)")
    assert shown[1:10] == [
        f"  app requires absent{n:02}>=1, which is not installed or planned" for n in range(9)
    ]
    assert shown[10:] == ["  ... and 1 more warning (see plan.json)"]


def test_a_review_never_cuts_what_the_user_overrode(wheels: Path, fake: TargetInfo) -> None:
    """With more than 10 warnings of what --ignore-requires-python let in, the cut hid
    two of them behind "... and 3 more warnings", though the README said they never are."""
    specs = [WheelSpec(name=f"app{n:02}", requires_python=">=99") for n in range(12)]
    specs[0] = WheelSpec(name="app00", requires=("absent>=1",), requires_python=">=99")
    plan = plan_specs(specs, wheels, fake, ignore_requires_python=True)
    shown = review.render(plan, whole="see plan.json").split("\nWarnings:\n", 1)[1].splitlines()
    assert [line.split(":")[0] for line in shown[:12]] == [
        f"  app{n:02}-1.0-py3-none-any.whl" for n in range(12)
    ]
    assert all(line.endswith("(planned: --ignore-requires-python)") for line in shown[:12])
    assert shown[12:] == ["  ... and 1 more warning (see plan.json)"]


# --- the plan file --------------------------------------------------------------------------


def _objects(data: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Every object of one class in plan data: "plan", "target", "files", "source", ..."""
    if where == "plan":
        return [data]
    if where == "target":
        return [data["target"]]
    if where == "source":
        return [entry["source"] for entry in data["files"] if entry["source"] is not None]
    return list(data[where])


def _laid_out(data: dict[str, Any]) -> str:
    """Plan data with a fresh digest, laid out as `dumps` lays out a plan, written with
    the standard library: text the fast way in is meant to take."""
    data = {**data, "digest": planjson.digest_of(data)}

    def text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    members = []
    for key in sorted(data):
        value = data[key]
        body = "[\n" + ",\n".join(map(text, value)) + "]" if value and type(value) is list else None
        members.append(f"{text(key)}:{body or text(value)}")
    return "{" + ",\n".join(members) + "}\n"


def _tools_plan(wheels: Path, fake: TargetInfo) -> Plan:
    spec = WheelSpec(
        name="tools",
        files={"tools.py": b"def main(): pass\n"},
        entry_points="[console_scripts]\ntool = tools:main\n",
    )
    return plan_specs([spec], wheels, fake)


def test_the_fast_way_in_takes_only_what_the_careful_one_does(
    wheels: Path, fake: TargetInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `loads` reads a plan laid out as `dumps` writes it in one msgspec pass, and any
    # other text through `_build`, which names a bad field: an edit the careful way
    # refuses must never get through the fast one.
    original = json.loads(planjson.dumps(_tools_plan(wheels, fake)))
    del original["digest"]
    assert planjson._canonical_plan(_laid_out(original).encode(), None) is not None
    wrong: list[Any] = [None, 0, -1, 3, True, 1.5, "", "write", [], ["x"], ["x", 1], {}]
    edited: list[tuple[str, str, Any, str]] = []
    for where in ("plan", "target", "distributions", "files", "source", "units"):
        for key in _objects(original, where)[0]:
            for value in [*wrong, "(missing)", "(unknown)"]:
                data = json.loads(json.dumps(original))
                for item in _objects(data, where):
                    if value == "(missing)":
                        del item[key]
                    elif value == "(unknown)":
                        item["surplus"] = 1
                    else:
                        item[key] = value
                edited.append((where, key, value, _laid_out(data)))
    # As `loads` calls it: with the digest the file carries, where it is its body's.
    fast = [
        planjson._canonical_plan(raw, planjson._signed_as_written(raw))
        for *_, text in edited
        for raw in (text.encode(),)
    ]
    monkeypatch.setattr(planjson, "_canonical_plan", lambda text, digest: None)
    taken = 0
    for (where, key, value, text), quick in zip(edited, fast, strict=True):
        try:
            careful: Plan | None = planjson.loads(text, "plan.json")
        except Refused:
            careful = None
        assert quick is None or quick == careful, (where, key, value)
        taken += quick is not None
    assert len(edited) > 300
    # Edits to another valid value (a name, a size, an empty list) still go the fast way.
    assert taken > 20


def test_the_target_and_distributions_are_handed_over_before_the_files_are_decoded(
    wheels: Path, fake: TargetInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _tools_plan(wheels, fake)
    text = planjson.dumps(plan)
    events: list[str] = []
    decode = planjson._canonical_plan

    def decoding(data: bytes, digest: str | None) -> Plan | None:
        events.append("files")
        return decode(data, digest)

    def header(target: Target, distributions: tuple[Distribution, ...]) -> None:
        assert (target, distributions) == (plan.target, plan.distributions)
        events.append("header")

    monkeypatch.setattr(planjson, "_canonical_plan", decoding)
    assert planjson.loads(text, "plan.json", header) == plan
    assert events == ["header", "files"]
    # Laid out otherwise, the plan hands them over once, when it is read.
    events.clear()
    assert planjson.loads(json.dumps(json.loads(text), indent=2), "plan.json", header) == plan
    assert events == ["files", "header"]
    # A malformed target is never handed over, early or late.
    events.clear()
    broken = text.replace('"layout":"environment"', '"layout":"elsewhere"')
    assert broken != text
    with pytest.raises(Refused):
        planjson.loads(broken, "plan.json", header)
    assert "header" not in events
    # Nor is one whose digest does not hold, which `show` would not review.
    events.clear()
    edited = text.replace(str(plan.target.interpreter), "/bin/true")
    assert edited != text
    with pytest.raises(Refused, match="plan digest does not match"):
        planjson.loads(edited, "plan.json", header)
    assert "header" not in events


def test_a_plan_as_dumps_wrote_it_is_read_in_one_pass(
    wheels: Path, fake: TargetInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _tools_plan(wheels, fake)
    text = planjson.dumps(plan)
    indented = json.dumps(json.loads(text), indent=2)

    def careful(*args: Any) -> Any:
        raise AssertionError("read the careful way")

    monkeypatch.setattr(planjson, "_build", careful)
    assert planjson.loads(text, "plan.json") == plan
    with pytest.raises(AssertionError, match="careful way"):
        planjson.loads(indented, "plan.json")
    monkeypatch.undo()
    # Re-indented by hand, or saved with Windows line ends, the same plan still loads,
    # only more slowly; bytes that are not UTF-8 are named as such.
    assert planjson.loads(indented, "plan.json") == plan
    assert planjson.loads(text.replace("\n", "\r\n").encode(), "plan.json") == plan
    with pytest.raises(Refused, match=r"not a plan file \(not UTF-8 text\)"):
        planjson.loads(text.encode().replace(b'"tools"', b'"tools\xff"'), "plan.json")


def test_a_plan_with_a_key_twice_in_one_object_is_refused(wheels: Path, fake: TargetInfo) -> None:
    # A parser keeps a repeated key's last value, where a reviewer reads the first.
    data = json.loads(planjson.dumps(_tools_plan(wheels, fake)))
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    sources = [entry["source"] for entry in data["files"]]
    member_hash = next(source["hash"] for source in sources if source["kind"] == "member")
    repeated = {
        "files": text.replace('"files":[', '"files":[],"files":[', 1),
        "hash": text.replace(f'"hash":"{member_hash}"', f'"hash":"x","hash":"{member_hash}"', 1),
    }
    for key, edited in repeated.items():
        # As a parser reads it, the same plan, digest and all: only the repetition is wrong.
        assert edited != text and json.loads(edited) == data
        with pytest.raises(Refused, match=rf"malformed plan: key '{key}' appears twice"):
            planjson.loads(edited, "plan.json")
