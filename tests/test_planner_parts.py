"""The planner's parts where a faster way to the same answer could drift from it.

`claims_for` checks a member's name rather than its whole destination where the root
is safe, `settle` passes a path claimed once straight through, and `Listing.existing`
answers for many paths from their folders' listings, and an installed RECORD's rows
are made relative to the prefix without `relpath`: each is held here to the plain
answer (`path_problem` of each destination, settling every claim, `lexists` of each
path, `relpath` of each joined row).
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from planner.errors import Refused
from planner.hashing import encode_hash, record_hash
from planner.inputfiles import MAX_METADATA_BYTES
from planner.inputs import best_builds
from planner.installed import Installed, scan_installed
from planner.installedrecord import record_files, record_without
from planner.installedstate import installed_state, installed_state_at
from planner.layout import claims_for, dist_info_path
from planner.limits import MAX_FILE_OFFSET
from planner.listing import Listing, empty_below, left_below
from planner.overlaps import settle
from planner.paths import MAX_DEPTH, join, path_problem
from planner.plan import Conflict, FileEntry, OwnerHash, Source
from planner.requirements import python_excluded
from planner.wheels import Member, Wheel
from tests.deeptrees import DEPTH, LONG, LONG_DEPTH, DeepTree, refuse_listing
from tests.plannertools import INTERPRETER, SCHEMES

PROPERTY = settings(max_examples=200, deadline=None)


def _wheel(names: list[str]) -> Wheel:
    return Wheel(
        path="/wheels/w-1.0-py3-none-any.whl",
        filename="w-1.0-py3-none-any.whl",
        sha256="0" * 64,
        size=1,
        name="w",
        display_name="w",
        version="1.0",
        tags=frozenset({"py3-none-any"}),
        root_is_purelib=True,
        dist_info="w-1.0.dist-info",
        data_dir="w-1.0.data",
        members=tuple(
            Member(name, offset, 0, 1, 1, 0o644, record_hash(b"x"))
            for offset, name in enumerate(names)
        ),
        entry_points=(),
        requires_dist=(),
        requires_python=None,
        warnings=(),
    )


# Names a wheel read from a hand-edited manifest may hold: any component may be empty,
# '.', '..', a drive, too long, or hold a backslash or a control character.
_NAMES = st.one_of(
    st.text(alphabet="a./\\:\x00é", max_size=12),
    st.sampled_from(["a" * 64, "a" * 100, "a" * 256, "b/" + "a" * 256, "C:/x", "ok/C:"]),
)
_ROOTS = ["", "lib/site-packages", "lib/../up", "/abs", "C:", "lib//x", "a" * 64, "a" * 256]


@PROPERTY
@given(root=st.sampled_from(_ROOTS), names=st.lists(_NAMES, max_size=6, unique=True))
def test_a_destination_is_refused_exactly_when_its_whole_path_is_unsafe(
    root: str, names: list[str]
) -> None:
    wheel = _wheel(names)
    schemes = {**SCHEMES, "purelib": root}
    dist_info = dist_info_path(wheel, schemes)
    destinations = [join(root, name) for name in names]
    destinations += [f"{dist_info}/INSTALLER", f"{dist_info}/RECORD"]
    expected = [
        f"destination {path!r} {problem}"
        for path in destinations
        if (problem := path_problem(path))
    ]
    try:
        entries = claims_for(wheel, schemes, INTERPRETER, "3.11", requested=False, direct_url=False)
    except Refused as refused:
        assert [problem.message for problem in refused.problems] == expected
        assert {problem.subject for problem in refused.problems} == {wheel.filename}
    else:
        assert expected == []
        assert [entry.path for entry in entries] == destinations


def _claim(path: str, owner: str, content: bytes = b"x", mode: int = 0o644) -> FileEntry:
    source = Source("member", record_hash(content), len(content), mode, f"{owner}.whl", path, 0)
    return FileEntry(path, "write", (owner,), source)


WHEEL_OF = {name: f"{name}.whl" for name in ("a", "b", "c")}


def _unasked(source: Source) -> str | None:
    raise AssertionError(f"{source.member}: where every claim hashes alike, none is read")


def test_a_path_claimed_once_is_passed_through_in_path_order() -> None:
    claims = [_claim("z", "a"), _claim("m/y", "b"), _claim("m/x", "a"), _claim("A", "c")]
    settled = settle(claims, frozenset(), WHEEL_OF, _unasked)
    assert [entry.path for entry in settled.files] == ["A", "m/x", "m/y", "z"]
    assert all(any(entry is claim for claim in claims) for entry in settled.files)
    assert (settled.conflicts, settled.problems, settled.warnings) == ((), (), ())


def _overlapping() -> list[FileEntry]:
    return [
        _claim("one", "a"),
        _claim("same", "c"),
        _claim("differ", "b", b"b"),
        _claim("twice", "b"),
        _claim("same", "b"),
        _claim("differ", "a", b"a"),
        _claim("mode", "a"),
        _claim("twice", "b", b"other"),
        _claim("twice", "a"),
        _claim("mode", "c", mode=0o755),
        _claim("won", "c", b"c"),
        _claim("won", "a", b"a"),
        _claim("won", "b", b"a"),
    ]


def test_overlaps_are_settled_among_paths_claimed_once() -> None:
    claims = _overlapping()
    settled = settle(claims, frozenset({"a"}), WHEEL_OF, _unasked)
    assert [(entry.path, entry.owners) for entry in settled.files] == [
        ("differ", ("a",)),
        ("mode", ("a",)),
        ("one", ("a",)),
        ("same", ("b", "c")),
        ("won", ("a", "b")),
    ]
    assert {entry.action for entry in settled.files} == {"write"}
    sources = {entry.path: entry.source for entry in settled.files}
    assert sources["differ"] is claims[5].source
    assert sources["same"] is claims[4].source  # the first owner's, by name
    assert sources["won"] is claims[11].source
    assert settled.conflicts == (
        Conflict("differ", ("a", "b"), "different", "prefer:a"),
        Conflict("mode", ("a", "c"), "different", "prefer:a"),
        Conflict("same", ("b", "c"), "identical", "shared"),
        Conflict("won", ("a", "b", "c"), "different", "prefer:a"),
    )
    # The first owner by name is named, whichever wheel maps two files here.
    assert [str(problem) for problem in settled.problems] == [
        "twice: two files of a (a.whl) map to this path"
    ]


def test_overlaps_without_one_preferred_winner_are_refused_in_path_order() -> None:
    assert [
        str(problem) for problem in settle(_overlapping(), frozenset(), WHEEL_OF, _unasked).problems
    ] == [
        "differ: different content from a (a.whl), b (b.whl); choose one with --prefer NAME",
        "mode: the same bytes with different file modes (a (a.whl): 0o644, c (c.whl): 0o755);"
        " choose one with --prefer NAME",
        "twice: two files of a (a.whl) map to this path",
        "won: different content from a (a.whl), b (b.whl), c (c.whl); choose one with"
        " --prefer NAME",
    ]
    both = settle(_overlapping(), frozenset({"a", "b"}), WHEEL_OF, _unasked)
    assert [str(problem) for problem in both.problems] == [
        "differ: different content from a (a.whl), b (b.whl); several of them are preferred (a, b)",
        "twice: two files of a (a.whl) map to this path",
        "won: different content from a (a.whl), b (b.whl), c (c.whl); several of them are"
        " preferred (a, b)",
    ]
    assert [entry.path for entry in both.files] == ["mode", "one", "same"]


def _hashed(path: str, owner: str, content: bytes, algorithm: str) -> FileEntry:
    entry = _claim(path, owner, content)
    assert entry.source is not None
    digest = encode_hash(algorithm, hashlib.new(algorithm, content).digest())
    return attrs.evolve(entry, source=attrs.evolve(entry.source, hash=digest))


def test_claims_hashed_by_other_algorithms_are_compared_by_their_bytes() -> None:
    """Only where a path's claims hash with other algorithms, and only a claim not by
    sha256 of a size another has, is its sha256 asked for; bytes that cannot be had
    are the same as no other's."""
    contents = {"same": b"x", "other": b"y", "sized": b"yy", "unread": b"x"}
    asked: list[tuple[str | None, str | None]] = []

    def sha256_of(source: Source) -> str | None:
        asked.append((source.wheel, source.member))
        content = contents[source.member or ""]
        return None if source.member == "unread" else record_hash(content)

    claims = [
        _hashed("same", "c", b"x", "blake2b"),
        _hashed("same", "b", b"x", "sha512"),
        _claim("same", "a", b"x"),
        *(_claim(path, "a", b"x") for path in ("other", "sized", "unread")),
        *(_hashed(path, "b", contents[path], "sha512") for path in ("other", "sized", "unread")),
        _hashed("alike", "a", b"x", "sha512"),
        _hashed("alike", "b", b"x", "sha512"),
    ]
    settled = settle(claims, frozenset(), WHEEL_OF, sha256_of)
    assert sorted(asked) == [("b.whl", path) for path in ("other", "same", "unread")] + [
        ("c.whl", "same")
    ]
    assert [(entry.path, entry.owners) for entry in settled.files] == [
        ("alike", ("a", "b")),
        ("same", ("a", "b", "c")),
    ]
    assert settled.files[1].source is claims[2].source  # the first owner's, by name
    assert settled.owner_hashes == (
        OwnerHash("same", "b", claims[1].source.hash),  # type: ignore[union-attr]
        OwnerHash("same", "c", claims[0].source.hash),  # type: ignore[union-attr]
    )
    assert [problem.subject for problem in settled.problems] == ["other", "sized", "unread"]
    # A winner shares with the owners of its bytes, and lists their own hashes.
    won = settle(claims, frozenset({"b"}), WHEEL_OF, sha256_of)
    assert [(entry.path, entry.owners) for entry in won.files] == [
        ("alike", ("a", "b")),
        ("other", ("b",)),
        ("same", ("a", "b", "c")),
        ("sized", ("b",)),
        ("unread", ("b",)),
    ]
    assert [(item.path, item.owner) for item in won.owner_hashes] == [
        ("same", "b"),
        ("same", "c"),
    ]


def test_claims_whose_bytes_cannot_be_had_are_taken_for_no_others() -> None:
    """Two claims by other algorithms than sha256, neither of whose bytes can be read
    back, are not the same file for want of a sha256: each is known by its own hash."""
    claims = [_hashed("p", "b", b"x", "sha512"), _hashed("p", "c", b"x", "blake2b")]
    settled = settle(claims, frozenset(), WHEEL_OF, lambda source: None)
    assert settled.files == ()
    assert settled.conflicts == (Conflict("p", ("b", "c"), "different", "refused"),)


def test_paths_differing_only_by_case_are_warned_about_once() -> None:
    claims = [_claim("pkg/Mod.py", "a"), _claim("pkg/mod.py", "b"), _claim("pkg/mod.py", "c")]
    assert settle(claims, frozenset(), WHEEL_OF, _unasked).warnings == (
        "pkg/Mod.py and pkg/mod.py differ only by case and will collide on case-insensitive"
        " filesystems",
    )


def test_one_wheels_members_differing_only_by_case_are_left_to_the_wheel_reader() -> None:
    # The wheel reader warns of its own members' names; a second warning of their paths
    # would say it again. What it cannot see is still warned: one wheel's members whose
    # names differ by more than case but whose paths do not (one under .data).
    alone = [_claim("pkg/Mod.py", "a"), _claim("pkg/mod.py", "a")]
    assert settle(alone, frozenset(), WHEEL_OF, _unasked).warnings == ()
    data = _claim("pkg/MOD.py", "a")
    data = attrs.evolve(data, source=attrs.evolve(data.source, member="a.data/purelib/pkg/MOD.py"))
    assert settle([*alone, data], frozenset(), WHEEL_OF, _unasked).warnings == (
        "pkg/MOD.py and pkg/Mod.py differ only by case and will collide on case-insensitive"
        " filesystems",
        "pkg/MOD.py and pkg/mod.py differ only by case and will collide on case-insensitive"
        " filesystems",
    )


@pytest.mark.parametrize(("content", "prefer"), [(b"x", frozenset()), (b"y", frozenset({"b"}))])
def test_one_wheels_pair_is_left_to_its_reader_when_another_wheel_writes_one_path(
    content: bytes, prefer: frozenset[str]
) -> None:
    """Another wheel sharing one of the two paths, or winning it, changes nothing about
    the pair its reader warned of; a third spelling it writes makes pairs of its own."""
    alone = [_claim("pkg/Mod.py", "a"), _claim("pkg/mod.py", "a")]
    shared = [*alone, _claim("pkg/mod.py", "b", content)]
    assert settle(shared, prefer, WHEEL_OF, _unasked).warnings == ()
    third = [*shared, _claim("pkg/MOD.py", "c")]
    assert settle(third, prefer, WHEEL_OF, _unasked).warnings == (
        "pkg/MOD.py and pkg/Mod.py differ only by case and will collide on case-insensitive"
        " filesystems",
        "pkg/MOD.py and pkg/mod.py differ only by case and will collide on case-insensitive"
        " filesystems",
    )


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A prefix holding files, folders and symlinks, with one folder that cannot be listed."""
    prefix = tmp_path / "prefix"
    (prefix / "lib" / "sub").mkdir(parents=True)
    (prefix / "locked").mkdir()
    for path in ("top.py", "lib/x.py", "lib/plain", "locked/z.py"):
        (prefix / path).write_text("")
    (prefix / "lib" / "broken").symlink_to(prefix / "nowhere")
    (prefix / "lib" / "dirlink").symlink_to(prefix / "lib" / "sub")
    (prefix / "lib" / "loop").symlink_to(prefix / "lib" / "loop")
    listdir = os.listdir

    def refusing(path: str) -> list[str]:
        if os.path.basename(path) == "locked":
            raise PermissionError(path)
        return listdir(path)

    monkeypatch.setattr(os, "listdir", refusing)
    return prefix


ASKED = {
    "top.py",
    "other.py",
    "lib/x.py",
    "lib/y.py",
    "lib/sub",
    "lib/broken",
    "lib/dirlink",
    "lib/plain/inside.py",
    "lib/loop/inside.py",  # through a symlink loop: no file can be there
    "missing/deep/w.py",
    "locked/z.py",
    "locked/q.py",
}


def test_existing_is_lexists_of_each_path(tree: Path) -> None:
    folders = {path.rpartition("/")[0] for path in ASKED}
    found = Listing(str(tree)).existing(ASKED, folders)
    assert found == {path for path in ASKED if Listing(str(tree)).lexists(path)}
    assert found == {"top.py", "lib/x.py", "lib/sub", "lib/broken", "lib/dirlink", "locked/z.py"}
    # More folders than the paths are in change nothing.
    more = folders | {"lib/sub", "missing", "nowhere", "lib/plain"}
    assert Listing(str(tree)).existing(ASKED, more) == found


# RECORD rows as an installed environment may hold them: relative, absolute inside or
# outside the prefix, with '.', '..' and empty components.
_ROW = st.lists(st.sampled_from(["a", "b.py", ".", "..", "", "env", "lib", "site"]), max_size=7)
_PREFIX = "/srv/env"


@PROPERTY
@given(
    dist_info=st.sampled_from(
        ["lib/site/d-1.dist-info", "d-1.dist-info", "lib/../lib/site/d-1.dist-info"]
    ),
    rows=st.lists(st.tuples(st.sampled_from(["", "/", _PREFIX + "/", "/srv/"]), _ROW), max_size=8),
)
# Out of the prefix and back into it by its name: inside, as relpath sees it.
@example(dist_info="lib/site/d-1.dist-info", rows=[("", ["..", "..", "..", "env", "a"])])
def test_installed_rows_are_relative_to_the_prefix_as_relpath_makes_them(
    dist_info: str, rows: list[tuple[str, list[str]]]
) -> None:
    paths = [start + "/".join(parts) for start, parts in rows]
    record = "".join(f"{path},sha256=x,1\n" for path in paths)
    rows = record_files(record, dist_info, _PREFIX)
    expected: dict[str, str] = {}
    outside = []
    refused = []
    for path in paths:
        joined = os.path.normpath(os.path.join(_PREFIX, os.path.dirname(dist_info), path))
        relative = os.path.relpath(joined, _PREFIX)
        if relative.startswith("../") or relative == "..":
            outside.append(path)
        elif problem := path_problem(relative):
            refused.append(f"its RECORD row {path!r} {problem}")
        else:
            expected[relative] = "sha256=x"
    assert rows.files == expected
    assert rows.sizes == dict.fromkeys(expected, 1)
    assert list(rows.outside) == outside
    assert rows.unknown == next(iter(refused), None)


def test_an_installed_row_is_refused_for_what_is_wrong_with_it() -> None:
    """A row inside the prefix with a control character is refused, not said to leave
    it, and one leading outside is set apart; a row's size is kept when it is written
    in ASCII digits, as few as a file's size needs (int() reads at most 4,300)."""
    record = (
        "d/evil\x1b[31mred,,\nd/ok.py,,\n/elsewhere/x.py,,\nd/sized.py,,12\nd/odd.py,,\u0664\n"
        f"d/huge.py,,{'1' * 5000}\nd/padded.py,,{'0' * 5000}12\n"
        f"d/largest.py,,{MAX_FILE_OFFSET}\nd/past.py,,{MAX_FILE_OFFSET + 1}\n"
    )
    rows = record_files(record, "lib/site/d-1.dist-info", _PREFIX)
    assert rows.files == {
        "lib/site/d/ok.py": "",
        "lib/site/d/sized.py": "",
        "lib/site/d/odd.py": "",
        "lib/site/d/huge.py": "",
        "lib/site/d/padded.py": "",
        "lib/site/d/largest.py": "",
        "lib/site/d/past.py": "",
    }
    # A size in other digits, or larger than any file, is none; leading zeros are no size.
    assert rows.sizes == {
        "lib/site/d/sized.py": 12,
        "lib/site/d/padded.py": 12,
        "lib/site/d/largest.py": MAX_FILE_OFFSET,
    }
    assert rows.unknown == "its RECORD row 'd/evil\\x1b[31mred' contains a NUL or control character"
    assert rows.outside == ("/elsewhere/x.py",)


def test_a_blank_line_is_no_row_in_a_damaged_record_either() -> None:
    """A damaged RECORD is read line by line, and its blank lines are still no rows: the
    line named is the first that is not a row, and the rows after it own their files."""
    rows = record_files("\nd/bad.py,,,\n\nd/ok.py,,\n", "lib/site/d-1.dist-info", _PREFIX)
    assert rows.files == {"lib/site/d/ok.py": ""}
    assert rows.unknown == "its RECORD row 2 is not a path, a hash and a size"


# pip --target's rows for what it moved out of its home's lib/python into the folder.
_MOVED = {
    "../../bin/x": "bin/x",
    "../../bin/./y": "bin/y",
    "../../share/a/b": "share/a/b",
    "../../include/site/python3.11/p/h.h": "include/site/python3.11/p/h.h",
    "../../libx/z": "libx/z",
}
# Rows that climb otherwise, or name what pip never moved (`lib`, and `l` and `li`,
# which its test of what the library's path begins with skips too), or no path a
# file may have, or by an absolute path the folder's grandparent's bin.
_CLIMBING = (
    "../../lib/x",
    "../../lib",
    "../../l/x",
    "../../li",
    "../../../x",
    "../x",
    "..",
    "../../bin/../../x",
    "../../bin/\x1b",
    "/srv/bin/x",
)


def test_a_target_folder_reads_a_row_two_folders_up_as_pip_moved_its_file() -> None:
    record = "".join(f"{row},sha256=x,1\n" for row in [*_MOVED, *_CLIMBING])
    rows = record_files(record, "d-1.dist-info", "/srv/env/ours", directory=True)
    assert rows.files == dict.fromkeys(_MOVED.values(), "sha256=x")
    assert (rows.outside, rows.unknown) == (_CLIMBING, None)
    # Anywhere else they all lead outside, as they do there.
    elsewhere = record_files(record, "d-1.dist-info", "/srv/env/ours")
    assert (elsewhere.files, elsewhere.outside) == ({}, (*_MOVED, *_CLIMBING))


def test_a_target_folder_s_record_loses_a_moved_file_by_its_row() -> None:
    """A --prefer loser's RECORD, rewritten, drops the row of a script pip moved."""
    record = "d/__init__.py,,\n../../bin/x,,\n../../lib/x,,\n"
    item = Installed("d", "d", "1", "d-1.dist-info", "pip", record, {}, directory=True)
    kept = record_without(item, "/srv/env/ours", {"bin/x", "lib/x"})
    assert kept == "d/__init__.py,,\n../../lib/x,,\n"


def test_legacy_metadata_counts_as_installed_without_a_record(tmp_path: Path) -> None:
    """.egg-info folders and files are distributions with no RECORD; the applier's
    installed state sees them as the planner does, and nothing named like metadata hangs."""
    site = tmp_path / SCHEMES["purelib"]
    site.mkdir(parents=True)
    (site / "Old_Thing-2.0-py3.11.egg-info").mkdir()
    (site / "Old_Thing-2.0-py3.11.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 1.1\nName: Old-Thing\nVersion: 2.0.post1\n"
    )
    (site / "plain-1.5.egg-info").write_text("Metadata-Version: 1.1\nName: plain\nVersion: 1.5\n")
    os.mkfifo(site / "piped-3.0-py3.11.egg-info")
    (site / "fifo_meta-1.0.dist-info").mkdir()
    os.mkfifo(site / "fifo_meta-1.0.dist-info" / "METADATA")
    (site / "not-metadata.dist-info").write_text("a file, not a folder")

    installed = scan_installed(str(tmp_path), SCHEMES)
    found = {(item.name, item.version, item.dist_info) for item in installed}
    assert found == {
        ("old-thing", "2.0.post1", f"{SCHEMES['purelib']}/Old_Thing-2.0-py3.11.egg-info"),
        ("plain", "1.5", f"{SCHEMES['purelib']}/plain-1.5.egg-info"),
        ("piped", "3.0", f"{SCHEMES['purelib']}/piped-3.0-py3.11.egg-info"),
        ("fifo-meta", "1.0", f"{SCHEMES['purelib']}/fifo_meta-1.0.dist-info"),
    }
    assert all(item.listing is None and not item.files and item.unlisted for item in installed)
    state = installed_state_at(str(tmp_path), SCHEMES)
    assert state == installed_state(installed)
    (site / "plain-1.5.egg-info").unlink()
    assert installed_state_at(str(tmp_path), SCHEMES) != state


def test_installed_metadata_past_the_ceiling_is_not_read(tmp_path: Path) -> None:
    """A METADATA or RECORD larger than any real one (here sparse, one byte past the
    ceiling) is passed over unread, as an unreadable one is, rather than read whole."""
    site = tmp_path / SCHEMES["purelib"]
    folder = site / "huge-1.0.dist-info"
    folder.mkdir(parents=True)
    for name in ("METADATA", "RECORD"):
        with open(folder / name, "wb") as stream:
            stream.truncate(MAX_METADATA_BYTES + 1)

    (item,) = scan_installed(str(tmp_path), SCHEMES)
    assert (item.name, item.version, item.listing, item.files) == ("huge", "1.0", None, {})
    assert installed_state_at(str(tmp_path), SCHEMES) == installed_state((item,))


def test_installed_metadata_is_read_with_any_line_ends(tmp_path: Path) -> None:
    """Metadata written on Windows (CRLF) or old Macs (CR) reads as it does with LF."""
    scans = []
    for end in ("\n", "\r\n", "\r"):
        prefix = tmp_path / repr(end)
        folder = prefix / SCHEMES["purelib"] / "ends-1.0.dist-info"
        folder.mkdir(parents=True)
        lines = {
            "METADATA": ["Metadata-Version: 2.1", "Name: Ends", "Version: 1.0", "Requires-Dist: b"],
            "RECORD": ["ends.py,sha256=x,1", "ends-1.0.dist-info/RECORD,,"],
            "INSTALLER": ["pip"],
        }
        for name, rows in lines.items():
            (folder / name).write_bytes(end.join([*rows, ""]).encode())
        (item,) = scan_installed(str(prefix), SCHEMES)
        scans.append(item)
        assert installed_state_at(str(prefix), SCHEMES) == installed_state((item,))
    assert scans[0].listing == "ends.py,sha256=x,1\nends-1.0.dist-info/RECORD,,\n"
    assert (scans[0].display_name, scans[0].requires_dist, scans[0].installer) == (
        "Ends",
        ("b",),
        "pip",
    )
    assert scans[1] == scans[2] == scans[0]


def test_a_legacy_list_gives_the_files_pip_would_remove(tmp_path: Path) -> None:
    """installed-files.txt rows are relative to the .egg-info folder; a listed folder is
    left out, a listed file that is gone stays listed, and the folder's own files count
    whether listed or not. The applier's installed state reads the list as the planner does."""
    purelib = SCHEMES["purelib"]
    egg_info = f"{purelib}/listed-1.0-py3.11.egg-info"
    (tmp_path / egg_info).mkdir(parents=True)
    (tmp_path / egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: listed\n")
    (tmp_path / egg_info / "SOURCES.txt").write_text("")
    (tmp_path / purelib / "listed").mkdir()
    (tmp_path / purelib / "listed" / "a.py").write_text("")
    listing = "../listed/a.py\n\n  ../listed  \n../listed/gone.py\nPKG-INFO\n"
    (tmp_path / egg_info / "installed-files.txt").write_text(listing)

    (item,) = scan_installed(str(tmp_path), SCHEMES)
    assert (item.name, item.version, item.legacy, item.unlisted) == ("listed", "1.0", True, None)
    assert item.listing == listing
    assert item.files == {
        f"{purelib}/listed/a.py": "",
        f"{purelib}/listed/gone.py": "",
        f"{egg_info}/PKG-INFO": "",
        f"{egg_info}/SOURCES.txt": "",
        f"{egg_info}/installed-files.txt": "",
    }
    assert installed_state_at(str(tmp_path), SCHEMES) == installed_state((item,))

    # A row that is no safe path makes the files unknown; the scan itself goes on.
    (tmp_path / egg_info / "installed-files.txt").write_text(listing + "../listed/b\x01.py\n")
    (item,) = scan_installed(str(tmp_path), SCHEMES)
    assert (item.files, item.unlisted) == (
        {},
        "its installed-files.txt row '../listed/b\\x01.py' contains a NUL or control character",
    )


@pytest.mark.parametrize(
    ("depth", "name"), [(DEPTH, "d"), (LONG_DEPTH, LONG)], ids=["deep", "past-path-max"]
)
def test_what_removals_leave_in_a_folder_is_seen_however_deep(
    tmp_path: Path, deep_tree: DeepTree, depth: int, name: str
) -> None:
    """Whether a plan's removals empty a folder (which a file may then replace) is
    answered at any depth: a recursive walk raised RecursionError a thousand folders
    down, and one by paths skipped those past PATH_MAX, missing what was left there."""
    removed = deep_tree(tmp_path / "tree", depth, name)
    assert left_below(str(tmp_path), "tree", {f"tree/{removed}"}) is None
    kept = deep_tree(tmp_path / "tree", depth, name, leaf="kept.txt")
    assert left_below(str(tmp_path), "tree", {f"tree/{removed}"}) == f"tree/{kept}"


def test_a_folder_that_cannot_be_listed_is_left_by_removals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It may hold anything (here as if unreadable: the tests run as root): it was
    passed over, and a plan could replace the folder it is in with a file."""
    (tmp_path / "tree" / "shut").mkdir(parents=True)
    (tmp_path / "tree" / "shut" / "x.py").write_text("")
    (tmp_path / "tree" / "a.py").write_text("")
    removed = {"tree/a.py", "tree/shut/x.py"}
    assert left_below(str(tmp_path), "tree", removed) is None
    refuse_listing(monkeypatch, tmp_path / "tree" / "shut")
    assert left_below(str(tmp_path), "tree", removed) == "tree/shut"
    refuse_listing(monkeypatch, tmp_path / "tree")
    assert left_below(str(tmp_path), "tree", removed) == "tree"


def test_the_empty_folders_of_a_metadata_folder_hold_no_file_at_any_depth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They go with their .dist-info; a symlink is a file there (kept), and a folder
    that cannot be listed may hold anything (here as if unreadable: the tests run as
    root), and so may each one above it."""
    meta = tmp_path / "m-1.0.dist-info"
    for folder in ("empty/a/b", "empty/c", "licenses/sub", "linked", "outer/shut"):
        (meta / folder).mkdir(parents=True)
    (meta / "licenses" / "LICENSE").write_text("")
    (meta / "linked" / "to").symlink_to("..")
    found = ["empty", "empty/a", "empty/a/b", "empty/c", "licenses/sub", "outer", "outer/shut"]
    assert empty_below(str(tmp_path), meta.name) == [f"{meta.name}/{path}" for path in found]
    refuse_listing(monkeypatch, meta / "outer" / "shut")
    assert empty_below(str(tmp_path), meta.name) == [f"{meta.name}/{path}" for path in found[:5]]
    assert empty_below(str(tmp_path), f"{meta.name}/linked/to") == []  # a symlink


@pytest.mark.parametrize(
    ("depth", "name"), [(DEPTH, "d"), (LONG_DEPTH, LONG)], ids=["deep", "past-path-max"]
)
def test_empty_folders_are_found_however_deep(
    tmp_path: Path, deep_tree: DeepTree, depth: int, name: str
) -> None:
    """As `left_below` walks: a recursive walk stops a thousand folders down, and one by
    paths at PATH_MAX. Left empty, the chain goes whole; with a file at its end, none."""
    deep_tree(tmp_path / "meta" / "empty", depth, name)
    assert empty_below(str(tmp_path), "meta") == []
    fd = os.open(tmp_path / "meta" / "empty", os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):  # by descriptors: the path may be too long for the system
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.unlink("stray.txt", dir_fd=fd)
    os.close(fd)
    chain = ["meta/empty", *(f"meta/empty/{name}" + f"/{name}" * level for level in range(depth))]
    assert empty_below(str(tmp_path), "meta") == chain


def test_a_legacy_folder_deeper_than_a_plan_may_go_makes_its_files_unknown(
    tmp_path: Path, deep_tree: DeepTree
) -> None:
    """Its files are all in the folder, however deep (a recursive walk raised
    RecursionError there); one deeper than a plan may name is none a plan can remove."""
    egg_info = f"{SCHEMES['purelib']}/deep-1.0-py3.11.egg-info"
    (tmp_path / egg_info).mkdir(parents=True)
    (tmp_path / egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: deep\n")
    (tmp_path / egg_info / "installed-files.txt").write_text("PKG-INFO\n")
    stray = deep_tree(tmp_path / egg_info, DEPTH)
    (item,) = scan_installed(str(tmp_path), SCHEMES)
    assert (item.files, item.unlisted) == (
        {},
        f"its folder holds '{egg_info}/{stray}', which has more than {MAX_DEPTH} components",
    )


def test_a_legacy_folder_that_cannot_be_read_makes_its_files_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file in the folder is the distribution's: one that cannot be listed (as if
    unreadable: the tests run as root) hides some, which removing it would leave."""
    egg_info = f"{SCHEMES['purelib']}/shut-1.0-py3.11.egg-info"
    (tmp_path / egg_info / "data").mkdir(parents=True)
    (tmp_path / egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: shut\n")
    (tmp_path / egg_info / "installed-files.txt").write_text("PKG-INFO\n")
    (tmp_path / egg_info / "data" / "hidden.txt").write_text("")
    refuse_listing(monkeypatch, tmp_path / egg_info / "data")
    (item,) = scan_installed(str(tmp_path), SCHEMES)
    assert (item.files, item.unlisted) == (
        {},
        f"{tmp_path / egg_info / 'data'} cannot be read (Permission denied)",
    )


def test_a_legacy_folder_gives_its_files_past_path_max(tmp_path: Path, deep_tree: DeepTree) -> None:
    """A file whose path passes PATH_MAX is in the folder all the same (a walk by paths
    skipped it, so removing the distribution would have left it)."""
    egg_info = f"{SCHEMES['purelib']}/long-1.0-py3.11.egg-info"
    (tmp_path / egg_info).mkdir(parents=True)
    (tmp_path / egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: long\n")
    (tmp_path / egg_info / "installed-files.txt").write_text("PKG-INFO\n")
    far = deep_tree(tmp_path / egg_info, LONG_DEPTH, LONG)
    (item,) = scan_installed(str(tmp_path), SCHEMES)
    assert item.unlisted is None
    assert set(item.files) == {
        f"{egg_info}/PKG-INFO",
        f"{egg_info}/installed-files.txt",
        f"{egg_info}/{far}",
    }


@pytest.mark.parametrize(
    ("requires_python", "python", "excluded"),
    [
        (">=3.12", "3.11.7", True),
        (">=3.11", "3.11.7", False),
        ("<3.11.7", "3.11.7+", True),  # a local build counts as its release
        (">=3.13", "3.13.0rc1", False),  # a release candidate counts as its release, as in pip
        ("~=3.10, !=3.11.*", "3.11.2", True),
        (">=3", "unknown", False),  # nothing to compare: not refused
        (">=3", "3." + "1" * 5000, False),  # a release int() cannot read: the same
    ],
)
def test_requires_python_is_compared_with_the_release_as_pip_compares_it(
    requires_python: str, python: str, excluded: bool
) -> None:
    assert python_excluded(requires_python, python) is excluded


# The target's tags, best first, and one that it does not support.
RANKED = ("cp311-cp311-linux_x86_64", "py311-none-any", "py3-none-any")
FOREIGN = "py2-none-any"
HOUSE = os.path.dirname(os.path.realpath(__file__))  # a real folder; the wheels are names


def build_of(path: str, version: str, tags: frozenset[str]) -> Wheel:
    return Wheel(
        path=path,
        filename=os.path.basename(path),
        sha256="",
        size=0,
        name="plat",
        display_name="plat",
        version=version,
        tags=tags,
        root_is_purelib=True,
        dist_info=f"plat-{version}.dist-info",
        data_dir=f"plat-{version}.data",
        members=(),
        entry_points=(),
        requires_dist=(),
        requires_python=None,
        warnings=(),
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("1.0", "2.0")),
            st.frozensets(st.sampled_from((*RANKED, FOREIGN)), min_size=1),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_a_folder_keeps_the_one_best_build_of_a_release_in_any_order(
    drawn: list[tuple[str, frozenset[str], bool]], shuffler: random.Random
) -> None:
    """Of a release's builds from a folder, the one whose best tag ranks first stays
    alone; with a tie, or none that fits, all stay. Named files always stay, and the
    order the wheels come in changes nothing."""
    wheels = [
        build_of(f"/named/{index}.whl" if named else f"{HOUSE}/{index}.whl", version, tags)
        for index, (version, tags, named) in enumerate(drawn)
    ]
    inputs = [HOUSE, *(wheel.path for wheel in wheels if wheel.path.startswith("/named/"))]
    expected = set()
    for version in ("1.0", "2.0"):
        builds = [w for w in wheels if w.version == version and w.path.startswith(HOUSE)]
        ranks = [
            min((RANKED.index(t) for t in w.tags if t in RANKED), default=None) for w in builds
        ]
        fitting = sorted(rank for rank in ranks if rank is not None)
        if len(builds) > 1 and fitting and fitting[:2].count(fitting[0]) == 1:
            expected.add(builds[ranks.index(fitting[0])].path)
        else:
            expected.update(w.path for w in builds)
    expected.update(inputs[1:])

    kept = best_builds(wheels, inputs, RANKED)
    assert {wheel.path for wheel in kept} == expected
    assert [wheel.path for wheel in kept] == [w.path for w in wheels if w.path in expected]
    shuffled = shuffler.sample(wheels, len(wheels))
    assert {wheel.path for wheel in best_builds(shuffled, inputs, RANKED)} == expected
