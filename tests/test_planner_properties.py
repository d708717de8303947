"""Properties of the planner over random sets of generated wheels.

Each example builds a few wheels whose files overlap at random destinations (some
through `.data/purelib`, which lands on the same path as the root; `bin/tool` through
`.data/scripts`, whose `#!python` line is rewritten, or `.data/data/bin` as it is) with
contents drawn from a tiny pool and either file mode, so identical and different
overlaps, the same bytes with another mode among them, are all common. The expected
outcome is computed from the drawn files alone, never from the planner.
"""

from __future__ import annotations

import json
import re
import tempfile
import types
import typing
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from applier.apply import apply_plan
from applier.conflicts import conflict_problems
from applier.options import Options
from planner import planjson, units
from planner.build import Request, make_plan
from planner.errors import Refused
from planner.installed import scan_installed
from planner.plan import FORMAT, FileEntry, OwnerHash, Plan, Source
from planner.planjson import digest_of, dumps, loads
from planner.target import TargetInfo
from tests.plannertools import INTERPRETER, SCHEMES, build_all, fake_target, plan_specs
from tests.wheelfactory import Member, WheelSpec, record_hash

PURE = SCHEMES["purelib"]
NAMES = ("alpha", "beta", "gamma", "delta", "epsilon")
# Leaves only: no destination is also another's folder. `bin/tool` is a script's place.
DESTINATIONS = (
    "pkg/__init__.py",
    "pkg/a.py",
    "pkg/sub/b.py",
    "pkg/sub/__init__.py",
    "top.py",
    "bin/tool",
)
CONTENTS = (b"", b"one\n", b"two\n", b"three\n" * 100)
# A `.data/scripts` file's `#!python` line is rewritten for the target's interpreter,
# so a `.data/data/bin` file of the same bytes and mode is installed with other bytes.
# One script, so that such overlaps are common; CONTENTS vary the bytes elsewhere.
SCRIPTS = (b"#!python\nprint('tool')\n",)
PROPERTY = settings(max_examples=30, deadline=None)


@attrs.frozen
class DrawnFile:
    """One wheel's file for a destination: its bytes and exec bit in the wheel, and the
    way it gets there (the root or `.data/purelib` for a module, `.data/scripts` or
    `.data/data` for `bin/tool`)."""

    content: bytes
    executable: bool
    via: str

    def member(self, name: str, dest: str) -> tuple[str, Member]:
        data = f"{name}-1.0.data"
        path = {
            "root": dest,
            "purelib": f"{data}/purelib/{dest}",
            "scripts": f"{data}/scripts/{dest.removeprefix('bin/')}",
            "data": f"{data}/data/{dest}",
        }[self.via]
        return path, Member(path, self.content, 0o755 if self.executable else 0o644)

    @property
    def installed(self) -> tuple[bytes, int]:
        """The bytes and mode it is installed with, as pip installs it."""
        if self.via == "scripts":
            rest = self.content.removeprefix(b"#!python")
            return b"#!" + INTERPRETER.encode() + rest, 0o755
        return self.content, 0o755 if self.executable else 0o644


def _variants(dest: str) -> list[DrawnFile]:
    """Every file a wheel may have for `dest`."""
    contents, ways = (
        (SCRIPTS, ("scripts", "data"))
        if dest.startswith("bin/")
        else (
            CONTENTS,
            ("root", "purelib"),
        )
    )
    return [
        DrawnFile(content, executable, via)
        for content in contents
        for executable in (False, True)
        for via in ways
    ]


# name -> destination -> that wheel's file there
Drawn = dict[str, dict[str, DrawnFile]]


@st.composite
def wheel_sets(
    draw: st.DrawFn,
    *,
    identical: bool = False,
    pool: tuple[str, ...] = DESTINATIONS,
    min_files: int = 0,
) -> Drawn:
    """2-5 wheels over the shared destinations, each with at least `min_files` files;
    `identical`: the files of a destination are installed with the same bytes and mode
    (whichever way each wheel ships them)."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=5, unique=True))
    common = {dest: draw(st.sampled_from(_variants(dest))) for dest in pool}
    drawn: Drawn = {}
    for name in names:
        dests = draw(st.lists(st.sampled_from(pool), unique=True, min_size=min_files, max_size=5))
        drawn[name] = {}
        for dest in dests:
            variants = _variants(dest)
            if identical:
                variants = [v for v in variants if v.installed == common[dest].installed]
            drawn[name][dest] = draw(st.sampled_from(variants))
    return drawn


# What each wheel's RECORD hashes with: any algorithm the spec allows, the same bytes
# hashed by any of them are the same file to pip and uv.
ALGORITHMS = ("sha256", "sha512", "blake2b")
# name -> the algorithm that wheel's RECORD hashes with (sha256 where not given)
Algorithms = Mapping[str, str]


def algorithms_for(drawn: Drawn) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({name: st.sampled_from(ALGORITHMS) for name in drawn})


def specs_of(drawn: Drawn, algorithms: Algorithms | None = None) -> list[WheelSpec]:
    return [
        WheelSpec(
            name=name,
            files=dict(file.member(name, dest) for dest, file in files.items()),
            record_algorithm=(algorithms or {}).get(name, "sha256"),
        )
        for name, files in drawn.items()
    ]


def destination(dest: str) -> str:
    """Where `dest` lands, relative to the prefix."""
    return dest if dest.startswith("bin/") else f"{PURE}/{dest}"


def claimants(drawn: Drawn) -> dict[str, dict[str, tuple[bytes, int]]]:
    """Destination (relative to the prefix) -> owner -> installed bytes and mode, from
    the drawn files."""
    result: dict[str, dict[str, tuple[bytes, int]]] = {}
    for name, files in drawn.items():
        for dest, file in files.items():
            result.setdefault(destination(dest), {})[name] = file.installed
    return result


def differing(claims: Mapping[str, Mapping[str, object]]) -> set[str]:
    return {path for path, by_owner in claims.items() if len(set(by_owner.values())) > 1}


@contextmanager
def planned(
    drawn: Drawn, algorithms: Algorithms | None = None
) -> Iterator[tuple[list[str], TargetInfo]]:
    """The drawn wheels built into a fresh folder, and an empty target next to them."""
    with tempfile.TemporaryDirectory(prefix="wheelplan-prop-") as folder:
        prefix = Path(folder) / "prefix"
        prefix.mkdir()
        yield build_all(specs_of(drawn, algorithms), Path(folder) / "wheels"), fake_target(prefix)


def plan_or_refusal(request: Request, target: TargetInfo, refused: Iterable[str]) -> Plan | None:
    """The plan of `request` where no path is to be refused; otherwise None, once the
    refusal is checked to name exactly the paths `refused`."""
    expected = sorted(refused)
    try:
        plan = make_plan(request, target)
    except Refused as refusal:
        assert sorted(problem.subject for problem in refusal.problems) == expected
        assert expected
        return None
    assert not expected
    return plan


def unit_counts(plan: Plan) -> Counter[str]:
    return Counter(path for unit in plan.units for path in unit.paths)


def writes(plan: Plan) -> set[str]:
    return {e.path for e in plan.files if e.source is not None and e.source.kind != "record"}


@PROPERTY
@given(wheel_sets(identical=True), st.data())
def test_identical_content_is_always_merged_and_never_a_conflict(
    drawn: Drawn, data: st.DataObject
) -> None:
    """Whatever algorithm each wheel's RECORD hashes with."""
    claims = claimants(drawn)
    with planned(drawn, data.draw(algorithms_for(drawn))) as (paths, target):
        plan = make_plan(Request(wheels=tuple(paths)), target)
    files = plan.file_map()
    assert len(files) == len(plan.files)
    for path, by_owner in claims.items():
        assert files[path].owners == tuple(sorted(by_owner))
        assert files[path].action == "write"
    overlaps = {path for path, by_owner in claims.items() if len(by_owner) > 1}
    assert {c.path for c in plan.conflicts} == overlaps
    assert {(c.kind, c.resolution) for c in plan.conflicts} <= {("identical", "shared")}
    for conflict in plan.conflicts:
        assert conflict.owners == tuple(sorted(claims[conflict.path]))
    assert unit_counts(plan) == Counter(writes(plan))


@PROPERTY
@given(wheel_sets())
def test_differing_content_is_always_reported(drawn: Drawn) -> None:
    claims = claimants(drawn)
    expected = differing(claims)
    with planned(drawn) as (paths, target):
        try:
            plan = make_plan(Request(wheels=tuple(paths)), target)
        except Refused as refused:
            problems = refused.problems
        else:
            problems = ()
            assert {c.path for c in plan.conflicts if c.kind == "different"} == set()
    assert sorted(problem.subject for problem in problems) == sorted(expected)
    for problem in problems:
        for owner in claims[problem.subject]:
            assert f"{owner} ({owner}-1.0-py3-none-any.whl)" in problem.message
        assert "--prefer" in problem.message


# Few places and more examples: a data file installed under a script is a rare draw.
@settings(PROPERTY, max_examples=100)
@given(wheel_sets(pool=("pkg/a.py", "bin/tool"), min_files=1), st.data())
def test_an_installed_wheel_shares_or_refuses_its_files_as_planned_together(
    drawn: Drawn, data: st.DataObject
) -> None:
    """The first wheel installed (by the applier, and scanned back as any installed
    distribution is), the others planned over it: each overlap is shared where every
    file there is installed with the same bytes and mode, and refused otherwise,
    whatever algorithm each RECORD hashes with."""
    claims = claimants(drawn)
    first = min(drawn)
    with planned(drawn, data.draw(algorithms_for(drawn))) as (paths, target):
        wheel = next(path for path in paths if Path(path).name.startswith(f"{first}-"))
        apply_plan(
            make_plan(Request(wheels=(wheel,)), target), "plan", Options(confirm_target=False)
        )
        scanned = fake_target(Path(target.prefix), scan_installed(target.prefix, SCHEMES))
        assert [item.name for item in scanned.installed] == [first]
        request = Request(wheels=tuple(p for p in paths if p != wheel))
        plan = plan_or_refusal(request, scanned, differing(claims))
    if plan is None:
        return
    assert conflict_problems(plan) == []
    files = plan.file_map()
    for path, by_owner in claims.items():
        if set(by_owner) != {first}:
            assert files[path].owners == tuple(sorted(by_owner))
            assert files[path].action == ("replace" if first in by_owner else "write")


@settings(PROPERTY, max_examples=100)
@given(wheel_sets(pool=("pkg/a.py", "bin/tool"), min_files=1), st.data())
def test_an_installed_winner_keeps_its_files_from_every_planned_wheel(
    drawn: Drawn, data: st.DataObject
) -> None:
    """The first wheel installed and preferred (`--prefer FIRST`), the others planned
    over it: on a path it lists, its file stays against every planned wheel installed
    there with other bytes or mode, however those differ among themselves, and one
    installed with the same shares it; an overlap it is not part of is refused as
    without it."""
    claims = claimants(drawn)
    first = min(drawn)
    unsettled = {path for path in differing(claims) if first not in claims[path]}
    with planned(drawn, data.draw(algorithms_for(drawn))) as (paths, target):
        wheel = next(path for path in paths if Path(path).name.startswith(f"{first}-"))
        apply_plan(
            make_plan(Request(wheels=(wheel,)), target), "plan", Options(confirm_target=False)
        )
        scanned = fake_target(Path(target.prefix), scan_installed(target.prefix, SCHEMES))
        request = Request(wheels=tuple(p for p in paths if p != wheel), prefer=frozenset({first}))
        plan = plan_or_refusal(request, scanned, unsettled)
    if plan is None:
        return
    assert conflict_problems(plan) == []
    files = plan.file_map()
    conflicts = {conflict.path: conflict for conflict in plan.conflicts}
    for path, by_owner in claims.items():
        if first not in by_owner or len(by_owner) == 1:
            continue
        alike = tuple(
            sorted(owner for owner, theirs in by_owner.items() if theirs == by_owner[first])
        )
        if alike == (first,):
            assert path not in files
        else:
            assert (files[path].action, files[path].owners) == ("replace", alike)
        settled = (
            ("identical", "shared")
            if len(alike) == len(by_owner)
            else ("different", f"prefer:{first}")
        )
        assert (conflicts[path].owners, conflicts[path].kind, conflicts[path].resolution) == (
            tuple(sorted(by_owner)),
            *settled,
        )


@settings(PROPERTY, max_examples=100)
@given(wheel_sets(pool=("pkg/a.py", "bin/tool"), min_files=1), st.data())
def test_a_planned_winner_takes_its_files_from_an_installed_wheel_as_its_overlaps_say(
    drawn: Drawn, data: st.DataObject
) -> None:
    """The first wheel installed, the others planned over it with one of them preferred
    (or none): whatever the planner settles, its conflicts agree with its files, so
    `show` and `apply` take the plan, and the apply does it."""
    claims = claimants(drawn)
    first = min(drawn)
    others = sorted(set(drawn) - {first})
    prefer = frozenset(data.draw(st.sets(st.sampled_from(others), max_size=1)))
    with planned(drawn, data.draw(algorithms_for(drawn))) as (paths, target):
        wheel = next(path for path in paths if Path(path).name.startswith(f"{first}-"))
        apply_plan(
            make_plan(Request(wheels=(wheel,)), target), "plan", Options(confirm_target=False)
        )
        scanned = fake_target(Path(target.prefix), scan_installed(target.prefix, SCHEMES))
        request = Request(wheels=tuple(p for p in paths if p != wheel), prefer=prefer)
        try:
            plan = make_plan(request, scanned)
        except Refused:
            return  # which overlaps are refused, the properties above say
        assert conflict_problems(plan) == []
        apply_plan(plan, "plan", Options(confirm_target=False))
    won = {c.path for c in plan.conflicts if c.resolution.startswith("prefer:")}
    assert won == differing(claims)


@PROPERTY
@given(wheel_sets(), st.data())
def test_prefer_settles_exactly_the_overlaps_it_is_part_of(
    drawn: Drawn, data: st.DataObject
) -> None:
    winner = data.draw(st.sampled_from(sorted(drawn)))
    claims = claimants(drawn)
    unsettled = {path for path in differing(claims) if winner not in claims[path]}
    with planned(drawn) as (paths, target):
        request = Request(wheels=tuple(paths), prefer=frozenset({winner}))
        plan = plan_or_refusal(request, target, unsettled)
    if plan is None:
        return
    assert conflict_problems(plan) == []
    files = plan.file_map()
    for path in differing(claims):
        content = claims[path][winner]
        source = files[path].source
        assert source is not None and source.wheel == f"{winner}-1.0-py3-none-any.whl"
        assert files[path].owners == tuple(
            sorted(owner for owner, theirs in claims[path].items() if theirs == content)
        )
    assert {c.path: c.resolution for c in plan.conflicts if c.kind == "different"} == {
        path: f"prefer:{winner}" for path in differing(claims)
    }
    assert unit_counts(plan) == Counter(writes(plan))


def _unhashed(plan: Plan) -> list[FileEntry]:
    """The plan's files with every source's hash left out."""
    return [
        attrs.evolve(entry, source=attrs.evolve(entry.source, hash=""))
        if entry.source is not None
        else entry
        for entry in plan.files
    ]


@PROPERTY
@given(wheel_sets(), st.data())
def test_the_algorithms_wheels_hash_with_change_nothing_but_the_hashes(
    drawn: Drawn, data: st.DataObject
) -> None:
    """The same wheels, their RECORDs hashing by sha256 or by any drawn algorithms: the
    same refusal, or the same files, overlaps and units but for the hashes, where each
    owner whose RECORD hashes a shared file unlike its writer's is given its own."""
    algorithms = data.draw(algorithms_for(drawn))
    prefer = frozenset(data.draw(st.sets(st.sampled_from(sorted(drawn)), max_size=1)))
    outcomes: list[Plan | list[str]] = []
    for chosen in ({}, algorithms):
        with planned(drawn, chosen) as (paths, target):
            request = Request(wheels=tuple(paths), prefer=prefer, direct_url=False)
            try:
                outcomes.append(make_plan(request, target))
            except Refused as refused:
                outcomes.append([str(problem) for problem in refused.problems])
    alike, mixed = outcomes
    if not isinstance(alike, Plan) or not isinstance(mixed, Plan):
        assert alike == mixed
        return
    assert alike.owner_hashes == ()
    assert conflict_problems(alike) == conflict_problems(mixed) == []
    assert _unhashed(alike) == _unhashed(mixed)
    assert (alike.conflicts, alike.units) == (mixed.conflicts, mixed.units)
    content = {
        (destination(dest), name): file.content
        for name, files in drawn.items()
        for dest, file in files.items()
    }
    expected = []
    for entry in mixed.files:
        if entry.source is None or entry.source.wheel is None:
            continue
        writer = entry.source.wheel.split("-")[0]
        expected += [
            OwnerHash(entry.path, owner, record_hash(content[entry.path, owner], algorithm))
            for owner in entry.owners
            if (algorithm := algorithms[owner]) != algorithms[writer]
        ]
    assert mixed.owner_hashes == tuple(expected)


@PROPERTY
@given(wheel_sets(), st.permutations(range(5)), st.booleans())
def test_permuting_the_input_never_changes_the_plan(
    drawn: Drawn, order: list[int], prefer_first: bool
) -> None:
    names = sorted(drawn)
    prefer = frozenset(names[:1]) if prefer_first else frozenset()
    with planned(drawn) as (paths, target):
        shuffled = [paths[index] for index in order if index < len(paths)]
        outcomes = []
        for wheels in (paths, shuffled, list(reversed(paths))):
            try:
                outcomes.append(
                    dumps(make_plan(Request(wheels=tuple(wheels), prefer=prefer), target))
                )
            except Refused as refused:
                outcomes.append("\n".join(map(str, refused.problems)))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    if outcomes[0].startswith("{"):
        # `dumps` writes the text itself: it must be the canonical JSON, line breaks aside.
        canonical = json.dumps(
            json.loads(outcomes[0]), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert outcomes[0].replace("\n", "") == canonical


@PROPERTY
@given(wheel_sets(identical=True, pool=(*DESTINATIONS, "pkg/sub", "top.py/inner.txt")))
def test_a_path_is_never_planned_as_both_a_file_and_a_directory(drawn: Drawn) -> None:
    claims = claimants(drawn)
    folders = {path[:cut] for path in claims for cut, char in enumerate(path) if char == "/"}
    clashes = {path for path in claims if path in folders}
    with planned(drawn) as (paths, target):
        plan = plan_or_refusal(Request(wheels=tuple(paths)), target, clashes)
    assert plan is None or not {entry.path for entry in plan.files} & set(plan.directories)


def _entry(index: int, wheel: int, size: int) -> FileEntry:
    source = Source(
        kind="member", hash=f"h{index}", size=size, mode=0o644, wheel=f"w{wheel}.whl", offset=index
    )
    return FileEntry(
        path=f"w{wheel}/f{index:04}", action="write", owners=(f"w{wheel}",), source=source
    )


@PROPERTY
@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.one_of(st.integers(0, 4096), st.integers(0, 12 * 1024**2))),
        min_size=1,
        max_size=300,
    )
)
def test_units_partition_the_writes_in_balanced_pieces(files: list[tuple[int, int]]) -> None:
    entries = [_entry(index, wheel, size) for index, (wheel, size) in enumerate(files)]
    parts = units.partition(entries)
    assert Counter(path for unit in parts for path in unit.paths) == Counter(
        e.path for e in entries
    )
    assert [unit.index for unit in parts] == list(range(len(parts)))
    by_path = {entry.path: entry for entry in entries}
    total = sum(units.weight(entry) for entry in entries)
    limit = max(total // units.TARGET_UNITS + 1, units.MIN_UNIT_WEIGHT)
    heaviest = max(units.weight(entry) for entry in entries)
    for number, unit in enumerate(parts):
        load = sum(units.weight(by_path[path]) for path in unit.paths)
        assert unit.bytes == sum(by_path[path].source.size for path in unit.paths)  # type: ignore[union-attr]
        # Every unit but the last is full, and none overflows by more than one file.
        assert load < limit + heaviest
        if number < len(parts) - 1:
            assert load >= limit


def _every_field(cls: type) -> st.SearchStrategy[Any]:
    """Instances of a plan class with every field drawn, the defaulted ones too."""
    hints = typing.get_type_hints(cls)
    fields = {field.name: _values(hints[field.name]) for field in attrs.fields(cls)}
    if cls is Plan:
        fields["format"] = st.just(FORMAT)
    return st.builds(cls, **fields)


def _values(kind: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(kind)
    if attrs.has(kind):
        return _every_field(kind)
    if origin is tuple:
        return st.lists(_values(typing.get_args(kind)[0]), max_size=3).map(tuple)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*map(_values, typing.get_args(kind)))
    if origin is Mapping:  # the planner's mappings are dicts
        return st.dictionaries(st.text(), st.text(), max_size=3)
    # Text is any characters but lone surrogates, which no UTF-8 plan can hold.
    return st.from_type(kind)


@PROPERTY
@given(_every_field(Plan))
def test_any_plan_is_written_as_canonical_json_and_read_back_unchanged(plan: Plan) -> None:
    written = b"".join(planjson.encode(plan))  # what `plan -o` writes
    text = written.decode()
    assert dumps(plan) == text
    data = json.loads(text)
    # msgspec writes the text; the standard library's canonical JSON defines it.
    assert text.replace("\n", "") == json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert data["digest"] == digest_of(data)
    # One line a member, and one more for each element of a top-level list.
    lines = sum(1 + len(value) if type(value) is list and value else 1 for value in data.values())
    assert text.count("\n") == lines
    # Read the fast way, whether its digest was checked first or is checked there.
    signed = planjson._signed_as_written(written)
    assert signed == data["digest"]
    assert planjson._canonical_plan(written, signed) == plan
    assert planjson._canonical_plan(written, None) == plan
    assert loads(written, "plan.json") == loads(text, "plan.json") == plan


@PROPERTY
@given(_every_field(Plan), st.data())
def test_any_one_byte_edit_of_a_plan_breaks_its_digest(plan: Plan, data: st.DataObject) -> None:
    """The digest is checked before anything a plan names is run or read: no byte of a
    written plan can change, line breaks included, and still pass that check."""
    written = b"".join(planjson.encode(plan))
    at = data.draw(st.integers(0, len(written) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda value: value != written[at]))
    edited = written[:at] + bytes([byte]) + written[at + 1 :]
    assert planjson._signed_as_written(edited) is None


# Normalized names where one is another's start followed by a digit or a dash, which
# sort before the colon that ends a subject: `a2: ...` is text before `a: ...`.
SUBJECT_NAMES = st.from_regex(r"[ab][ab2]{0,2}(-[ab2]{1,2})?", fullmatch=True)


@PROPERTY
@given(st.lists(SUBJECT_NAMES, min_size=2, max_size=6, unique=True), st.data())
def test_a_plans_warnings_keep_each_subject_together_in_name_order(
    names: list[str], data: st.DataObject
) -> None:
    """Some names removed though not installed (one warning each), the others planned
    as wheels that require two names nothing installs (two warnings each)."""
    planned_names = data.draw(st.sets(st.sampled_from(names)))
    specs = [WheelSpec(name, requires=("absent-x", "absent-y")) for name in planned_names]
    with tempfile.TemporaryDirectory(prefix="wheelplan-prop-") as folder:
        prefix = Path(folder) / "prefix"
        prefix.mkdir()
        removed = frozenset(names) - planned_names
        plan = plan_specs(specs, Path(folder) / "wheels", fake_target(prefix), remove=removed)
    subjects = [re.split(r"[:\s]", line)[0] for line in plan.warnings]
    assert sorted(subjects) == subjects
    assert sorted(set(subjects)) == sorted(names)
    assert len(plan.warnings) == len(removed) + 2 * len(planned_names)
