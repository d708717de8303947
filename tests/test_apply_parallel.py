"""The parallel phase: any partition, any job count, one result; and no locks to get it.

A plan's units may be cut any way that partitions the writes; applying it with 1, 2
or 8 workers must give exactly the tree a plain sequential writer (written here,
reading members with zipfile, not with the applier's streams) would give.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import posixpath
import random
import shutil
import signal
import tempfile
import tracemalloc
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from applier import unitwriter, workers
from applier.apply import apply_plan
from applier.options import Options
from applier.streams import READ_BACK_BLOCK, write_file
from planner import units
from planner.build import Request, make_plan
from planner.errors import Refused
from planner.installed import scan_installed
from planner.plan import Plan, Unit
from planner.target import one_library_name
from tests import clihooks, lockscan
from tests.applytools import SCHEMES, fake_target, plan_for, with_units, writes_of
from tests.conftest import exact_snapshot, pips_mode, run_cli, snapshot
from tests.recordcheck import record_digest
from tests.wheelfactory import Member, WheelSpec, build_wheel

JOBS = (1, 2, 8)


# --- the sequential reference --------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def reference(plan: Plan, wheels: Mapping[str, Path]) -> dict[str, object]:
    """The tree `plan` must produce, computed one file at a time with zipfile.

    Files map to (sha256, mode), folders to ("dir", mode) and RECORDs to their set of
    rows, so a RECORD is compared by content rather than by row order or line endings.
    """
    mask = _umask()
    data: dict[str, bytes] = {}
    tree: dict[str, object] = {}
    for entry in plan.files:
        source = entry.source
        if source is None or source.kind == "record":
            continue
        if source.kind == "inline":
            assert source.content is not None
            content = source.content.encode()
        else:
            assert source.wheel is not None and source.member is not None
            with zipfile.ZipFile(wheels[source.wheel]) as archive:
                content = archive.read(source.member)
            if source.rewrite_shebang and content.startswith(b"#!python"):
                interpreter = plan.target.interpreter
                assert " " not in interpreter and len(interpreter) < 127
                rest = content.split(b"\n", 1)[1] if b"\n" in content else b""
                content = b"#!" + interpreter.encode() + b"\n" + rest
        data[entry.path] = content
        tree[entry.path] = (
            hashlib.sha256(content).hexdigest(),
            pips_mode(bool(source.mode & 0o111), mask),
        )
    for entry in plan.files:
        if entry.source is None or entry.source.kind != "record":
            continue
        (owner,) = entry.owners
        base = posixpath.dirname(posixpath.dirname(entry.path))
        rows = {
            (posixpath.relpath(path, base), record_digest(content), str(len(content)))
            for path, content in data.items()
            if owner in plan.file_map()[path].owners
        }
        rows.add((posixpath.relpath(entry.path, base), "", ""))
        tree[entry.path] = frozenset(rows)
    for path in list(tree):
        head = posixpath.dirname(path)
        while head:
            tree[head] = ("dir", 0o777 & ~mask)
            head = posixpath.dirname(head)
    return tree


def applied(prefix: Path, plan: Plan) -> dict[str, object]:
    """The tree on disk, in the reference's terms."""
    tree: dict[str, object] = dict(snapshot(prefix))
    for entry in plan.files:
        if entry.source is not None and entry.source.kind == "record":
            text = (prefix / entry.path).read_text(encoding="utf-8")
            tree[entry.path] = frozenset(tuple(row) for row in csv.reader(io.StringIO(text)))
    return tree


# --- generated wheel sets ------------------------------------------------------------


def _member(path: str, data: bytes, executable: bool = False, stored: bool = False) -> Member:
    return Member(
        path,
        data,
        0o755 if executable else 0o644,
        compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
    )


@st.composite
def wheel_sets(draw: st.DrawFn) -> tuple[list[WheelSpec], frozenset[str]]:
    """1-4 wheels: private and shared modules, a contested module, exec bits, stored and
    deflated members, .data scripts (`#!python` and binary), data, headers, purelib and
    platlib, entry points."""
    names = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True))
    specs = []
    contested = []
    for name in sorted(names):
        package = f"pkg{name}"
        data_dir = f"{package}-1.0.data"
        members = [
            _member(
                f"{package}/mod{index}.py",
                draw(st.binary(max_size=300)),
                executable=draw(st.booleans()),
                stored=draw(st.booleans()),
            )
            for index in range(draw(st.integers(0, 4)))
        ]
        for shared in sorted(draw(st.sets(st.sampled_from(["__init__.py", "util.py", "x.bin"])))):
            members.append(_member(f"common/{shared}", f"shared {shared}\n".encode() * 50))
        if draw(st.booleans()):
            members.append(_member("common/engine.py", f"ENGINE = {name!r}\n".encode()))
            contested.append(package)
        if draw(st.booleans()):
            line_end = draw(st.sampled_from([b"\n", b"\r\n", b""]))
            script = b"#!python" + line_end + draw(st.binary(max_size=200))
            members.append(_member(f"{data_dir}/scripts/{package}-run", script))
        if draw(st.booleans()):
            binary = draw(st.binary(min_size=1, max_size=200))
            members.append(_member(f"{data_dir}/scripts/{package}-bin", binary))
        if draw(st.booleans()):
            data = draw(st.binary(max_size=300))
            members.append(_member(f"{data_dir}/data/share/{package}/data.txt", data))
        if draw(st.booleans()):
            members.append(_member(f"{data_dir}/headers/{package}.h", b"/* h */\n", stored=True))
        for key in draw(st.sets(st.sampled_from(["purelib", "platlib"]))):
            members.append(_member(f"{data_dir}/{key}/{package}_{key}.py", key.encode()))
        if not members:
            members.append(_member(f"{package}/__init__.py", b""))
        entry_points = None
        if draw(st.booleans()):
            entry_points = (
                f"[console_scripts]\n{package}-cli = {package}.mod0:main\n"
                f"[gui_scripts]\n{package}-gui = {package}:main\n"
            )
        files: dict[str, bytes | Member] = {member.path: member for member in members}
        specs.append(WheelSpec(package, files=files, entry_points=entry_points))
    prefer = frozenset(contested[:1]) if len(contested) > 1 else frozenset()
    return specs, prefer


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(wheel_sets(), st.randoms(use_true_random=False), st.integers(1, 12))
def test_any_partition_with_any_jobs_gives_the_sequential_tree(
    case: tuple[list[WheelSpec], frozenset[str]], rng: random.Random, unit_count: int
) -> None:
    specs, prefer = case
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        wheels = [build_wheel(spec, root / "wheels") for spec in specs]
        by_name = {path.name: path for path in wheels}
        trees = []
        prefix = root / "env"
        for jobs in JOBS:
            # The same prefix each time: shebangs and wrappers name it.
            shutil.rmtree(prefix, ignore_errors=True)
            prefix.mkdir()
            plan = plan_for(wheels, prefix, prefer)
            groups: list[list[str]] = [[] for _ in range(unit_count)]
            for path in writes_of(plan):
                groups[rng.randrange(unit_count)].append(path)
            plan = with_units(plan, groups)
            shown, draw = _drawn()
            summary = apply_plan(plan, "plan", Options(confirm_target=False, jobs=jobs), draw)
            _check_progress(plan, shown, summary.bytes)
            expected = reference(plan, by_name)
            got = applied(prefix, plan)
            assert got == expected
            dirs = sum(
                1 for value in expected.values() if isinstance(value, tuple) and value[0] == "dir"
            )
            assert summary.files == len(expected) - dirs
            trees.append(snapshot(prefix))
        # Byte for byte the same, RECORDs included, whatever the jobs and the partition.
        assert trees[0] == trees[1] == trees[2]


def _drawn() -> tuple[list[tuple[int, int]], Callable[[int, int], None]]:
    """What an apply's progress draws, and the progress that records it."""
    shown: list[tuple[int, int]] = []

    def draw(done: int, total: int) -> None:
        shown.append((done, total))

    return shown, draw


def _check_progress(plan: Plan, shown: list[tuple[int, int]], written: int) -> None:
    """The bar never runs past its total, and ends at the bytes the apply wrote, RECORDs
    included, as the summary counts them (it stopped at the units' bytes, short of
    that); its total is exact from the start where no `#!python` line is rewritten, which
    changes a script's size."""
    assert shown, "a plan that writes bytes draws its progress"
    assert all(0 <= done <= total for done, total in shown)
    assert shown[-1] == (written, written)
    if not any(entry.source and entry.source.rewrite_shebang for entry in plan.files):
        assert {total for _, total in shown} == {written}


def test_an_apply_in_threads_leaves_no_wheel_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker opens each wheel once, however many of its files it writes, and closes
    it when done: an apply run in this process (as `install` runs one) keeps no
    descriptor, where one a file would run out of them at a wheel of 17,000 files."""
    monkeypatch.setenv("WHEELPLAN_WORKERS", "threads")
    files = {f"many/m{index}.py": f"x = {index}\n".encode() for index in range(40)}
    wheel = build_wheel(WheelSpec("many", files=files), tmp_path / "wheels")
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    before = sorted(os.listdir("/proc/self/fd"))
    apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_large_members_stream_in_chunks_with_any_jobs(tmp_path: Path) -> None:
    """Members bigger than the one-shot limit, stored and deflated, in several units."""
    rng = random.Random(7)
    big = rng.randbytes(6 * 1024 * 1024)
    text = b"".join(b"line %d of a long text member\n" % n for n in range(300_000))
    files: dict[str, bytes | Member] = {
        "bulk/random.bin": Member("bulk/random.bin", big, compress_type=zipfile.ZIP_STORED),
        "bulk/text.txt": text,
        "bulk/__init__.py": b"",
    }
    wheel = build_wheel(WheelSpec("bulk", files=files), tmp_path / "wheels")
    trees = []
    for jobs in JOBS:
        prefix = tmp_path / f"env-{jobs}"
        prefix.mkdir()
        plan = plan_for([wheel], prefix)
        plan = with_units(plan, [[path] for path in writes_of(plan)])
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=jobs))
        assert applied(prefix, plan) == reference(plan, {wheel.name: wheel})
        trees.append(snapshot(prefix))
    assert trees[0] == trees[1] == trees[2]
    site = tmp_path / "env-8" / SCHEMES["purelib"]
    assert (site / "bulk/random.bin").read_bytes() == big
    assert (site / "bulk/text.txt").read_bytes() == text


# --- units partition the writes ------------------------------------------------------


def _two_wheels(directory: Path) -> list[Path]:
    shared = b"# shared\n"
    return [
        build_wheel(
            WheelSpec(
                name,
                files={"common/__init__.py": shared}
                | {f"{name}/m{index}.py": os.urandom(64) for index in range(40)},
            ),
            directory,
        )
        for name in ("one", "two")
    ]


def test_planned_units_partition_every_write_but_the_records(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for(_two_wheels(tmp_path / "wheels"), prefix)
    in_units = [path for unit in plan.units for path in unit.paths]
    assert sorted(in_units) == sorted(writes_of(plan))
    assert len(in_units) == len(set(in_units))
    records = {entry.path for entry in plan.files if entry.source and entry.source.kind == "record"}
    assert len(records) == 2 and not records & set(in_units)
    # The shared file is one write, owned by both.
    (shared,) = (entry for entry in plan.files if entry.path.endswith("common/__init__.py"))
    assert shared.owners == ("one", "two") and shared.path in in_units


@given(st.lists(st.integers(0, 10**9), max_size=80), st.integers(1, 8))
def test_units_go_to_workers_so_none_carries_more_than_its_share_and_one_unit(
    costs: list[int], jobs: int
) -> None:
    units = [Unit(index, 0, (f"f{index}",)) for index in range(len(costs))]
    assigned = workers.assign(units, jobs, costs)
    assert len(assigned) == max(1, min(jobs, len(units)))
    given_out = [unit for one in assigned for unit in one]
    assert sorted(unit.index for unit in given_out) == list(range(len(units)))
    # Each worker writes its units in the plan's (archive) order.
    assert all(
        [unit.index for unit in one] == sorted(unit.index for unit in one) for one in assigned
    )
    # Costliest first to the least loaded: no worker ends more than one unit past an even share.
    loads = [sum(costs[unit.index] for unit in one) for one in assigned]
    assert max(loads) <= sum(costs) / len(assigned) + max(costs, default=0)


def test_the_costliest_unit_is_given_out_first() -> None:
    # In plan order the big last unit would land on a worker already holding two small
    # ones (6 against 2); given out first, it gets a worker of its own (4 against 4).
    units_in_order = [Unit(index, 0, (f"f{index}",)) for index in range(5)]
    assigned = workers.assign(units_in_order, 2, [1, 1, 1, 1, 4])
    assert sorted([unit.index for unit in one] for one in assigned) == [[0, 1, 2, 3], [4]]


def test_a_unit_costs_what_its_files_cost_to_write_or_to_link(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for(_two_wheels(tmp_path / "wheels"), prefix)
    files = plan.file_map()
    paths = [path for unit in plan.units for path in unit.paths]
    linked, staged, written = paths[0], paths[1], paths[2:]
    context = unitwriter.WriteContext(
        base=str(prefix),
        files=files,
        wheel_paths={},
        shebang=b"#!python",
        umask=0o022,
        linked={linked: ("cached", 0, 0, 0o644)},
        staged={staged: "staging"},
    )
    whole = Unit(0, 0, tuple(paths))
    expected = (
        units.LINK_NS
        + units.weight(files[staged])
        + units.LINK_NS
        + sum(units.weight(files[path]) for path in written)
    )
    assert workers.unit_cost(whole, context) == expected
    # A file costs more with more bytes, and more again with bytes to inflate.
    source = files[written[0]].source
    assert source is not None
    stored = attrs.evolve(source, compression=0, compressed_size=source.size)
    bigger = attrs.evolve(stored, size=stored.size + 1000, compressed_size=stored.size + 1000)
    deflated = attrs.evolve(bigger, compression=8, compressed_size=500)
    costs = [
        units.weight(attrs.evolve(files[written[0]], source=one))
        for one in (stored, bigger, deflated)
    ]
    assert costs == sorted(set(costs))


@pytest.mark.parametrize("damage", ["overlap", "missing", "stranger"])
def test_units_that_do_not_partition_are_refused_before_writing(
    tmp_path: Path, damage: str
) -> None:
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for(_two_wheels(tmp_path / "wheels"), prefix)
    paths = writes_of(plan)
    groups = [paths[: len(paths) // 2], paths[len(paths) // 2 :]]
    if damage == "overlap":
        groups[1].append(groups[0][0])
    elif damage == "missing":
        groups[1].pop()
    else:
        record = next(e.path for e in plan.files if e.source and e.source.kind == "record")
        groups[1].append(record)
    with pytest.raises(Refused) as refused:
        apply_plan(with_units(plan, groups), "plan.json", Options(confirm_target=False, jobs=2))
    assert "work units" in str(refused.value)
    assert os.listdir(prefix) == []


# --- no lock primitives in the parallel phase ----------------------------------------

# What the parallel phase's modules hold of the primitives `lockscan` looks for, each
# allowed by its module and count, with why it does not synchronise the workers.
ALLOWED = {
    # `file_digest`'s stop flag, in the annotations of `mapped_sha256` and
    # `file_digest`: the planner's wheel hashing (planner/wheelhash.py `Hashing`) sets it
    # to give a hash up. The workers only call `open_regular`, and pass no flag.
    ("planner.hashing", "threading.Event"): 2,
    # Each worker's own report pipe, made by the driver before it forks that worker:
    # that worker alone writes it and the driver alone reads it, so no token passes
    # between workers.
    ("applier.workers", "os.pipe"): 1,
}


def test_the_parallel_phase_uses_no_lock_primitives() -> None:
    """Every first-party module the workers reach, applier's and planner's alike.

    applier/lock.py's `flock` is taken by the driver before the workers start; the
    workers do not reach it (they inherit the locked descriptor, and never touch it).
    """
    modules = lockscan.parallel_modules()
    assert {"applier.workers", "applier.streams", "applier.faults", "planner.hashing"} <= set(
        modules
    )
    assert "applier.lock" not in modules and "applier.apply" not in modules
    found = lockscan.findings()
    assert lockscan.beyond(found, ALLOWED) == {}
    # An allowance that no longer matches what is there is stale: narrow it again.
    assert {key: len(found.get(key, [])) for key in ALLOWED} == ALLOWED


# Each as a reviewer wrote it into the module, appended to its real source.
MUTATIONS = {
    "an aliased lock around the writes": (
        "applier.workers",
        "from threading import Lock as _Mutex\n\n_WRITER = _Mutex()\n\n\n"
        "def _write_alone(*args: Any) -> tuple[str, int]:\n"
        "    with _WRITER:\n"
        "        return write_file(*args)\n",
        "threading.Lock",
    ),
    "a lock in a planner module the workers call": (
        "planner.hashing",
        "def _open_alone(path: str) -> int:\n"
        "    with threading.Lock():\n"
        "        return open_regular(path)\n",
        "threading.Lock",
    ),
    "a POSIX record lock": (
        "applier.workers",
        "import fcntl\n\n\ndef _held(fd: int) -> None:\n"
        "    fcntl.fcntl(fd, fcntl.F_SETLKW, bytes(32))\n",
        "fcntl.F_SETLKW",
    ),
    "a record lock by its number": (
        "applier.links",
        "def _held(fd: int) -> None:\n    fcntl.fcntl(fd, 7, bytes(32))\n",
        "fcntl.fcntl with an unnamed command",
    ),
    "a token semaphore through a pipe": (
        "applier.workers",
        "_TOKENS = os.pipe()\n",
        "os.pipe",
    ),
    "a lock reached by getattr": (
        "applier.streams",
        "_GUARD = getattr(threading, 'RLock')()\n",
        "threading.RLock",
    ),
    "a queue in a planner module": (
        "planner.paths",
        "import queue as _q\n\n_RESULTS = _q.SimpleQueue()\n",
        "queue",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_the_scan_finds_a_lock_written_into_the_parallel_phase(mutation: str) -> None:
    """The scan above is only worth something if it sees a lock where there is one."""
    module, added, primitive = MUTATIONS[mutation]

    def mutated(name: str) -> str:
        source = lockscan.read_module(name)
        return source + "\n\n" + added if name == module else source

    assert (module, primitive) in lockscan.beyond(lockscan.findings(mutated), ALLOWED)


# fcntl commands that take or test a record lock.
LOCK_COMMANDS = {
    getattr(fcntl, name)
    for name in ("F_SETLK", "F_SETLKW", "F_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW", "F_OFD_GETLK")
    if hasattr(fcntl, name)
}


def _takes_a_lock(record: Mapping[str, Any]) -> bool:
    """Whether a `tests.clihooks` record is a lock taken, tested, made or used."""
    event = record["event"]
    if event == "fcntl.fcntl":
        return record["detail"] in LOCK_COMMANDS
    return event in clihooks.LOCK_EVENTS or event.split(".")[0] in clihooks.WATCHED_MODULES


@pytest.mark.parametrize("kind", ["processes", "threads"])
def test_no_worker_takes_a_lock_while_the_units_are_written(
    tmp_path: Path, target: Path, kind: str
) -> None:
    """The scan above reads the source; this watches real applies of several units by
    two workers, forked or threads, from the start of the parallel phase to its end:
    neither they nor the driver take a file or record lock or use a Python one, whether
    the files come from the wheel, go through a new cache entry or are linked from one."""
    rng = random.Random(5)
    files = {f"demo/m{index:02}.bin": rng.randbytes(256 * 1024) for index in range(16)}
    wheel = build_wheel(WheelSpec("demo", files=dict(files)), tmp_path / "wheels")
    cache = str(tmp_path / "cache")
    for run, options in enumerate(
        [
            ["--no-cache"],
            ["--cache-dir", cache, "--reinstall"],
            ["--cache-dir", cache, "--reinstall"],
        ]
    ):
        folder = tmp_path / f"records-{run}"
        folder.mkdir()
        watch = {"WHEELPLAN_TEST_WATCH": str(folder), "WHEELPLAN_FAULT": ""}
        watch["WHEELPLAN_WORKERS"] = "threads" if kind == "threads" else ""
        completed = run_cli(
            *("install", "--python", target, "--jobs", "2", *options, wheel),
            env=watch,
            module="tests.clihooks",
        )
        assert completed.returncode == 0, completed.stderr
        records = [
            json.loads(line) for path in folder.iterdir() for line in path.read_text().splitlines()
        ]
        (driver,) = {record["pid"] for record in records if record["event"] == clihooks.PHASE_START}
        phase = [record for record in records if record["phase"]]
        # The hooks work: they saw the environment's lock taken before the phase, and,
        # without a cache, the planner make its hashing's stop flag (with one, a wheel
        # settled two seconds before its hash was indexed is not hashed again).
        before = [record for record in records if not record["phase"]]
        assert any(record["event"] == "fcntl.flock" for record in before)
        if run == 0:
            assert any(record["event"] == "threading.Event" for record in before)
        # Two workers ran under them.
        seen = {
            (record["pid"], record["thread"])
            for record in phase
            if record["event"] == clihooks.FIRST_EVENT
        }
        if kind == "processes":
            assert sum(record["event"] == "os.fork" for record in phase) == 2
            assert len({pid for pid, _ in seen if pid != driver}) == 2
        else:
            assert not any(record["event"] == "os.fork" for record in phase)
            assert len({name for _, name in seen if name.startswith("wheelplan-")}) == 2
        assert [record for record in phase if _takes_a_lock(record)] == []


def test_memory_stays_flat_while_a_large_member_streams(tmp_path: Path) -> None:
    """A 32 MiB member, stored or deflated, is written with a few MiB of Python memory.

    The deflated one is hashed by a thread reading back what is written, which on a
    busy machine lags and then reads up to READ_BACK_BLOCK at once: 11.9 MiB at the
    peak in one of twelve runs beside three busy processes (4.2-6.0 MiB in the rest).
    """
    size = 32 * 1024 * 1024
    # Compressible enough to deflate (well under the zip-bomb ratio), never repeating.
    rng = random.Random(11)
    data = b"".join(b"%08x\n" % rng.getrandbits(32) for _ in range(size // 9 + 1))[:size]
    files: dict[str, bytes | Member] = {
        "huge/stored.bin": Member("huge/stored.bin", data, compress_type=zipfile.ZIP_STORED),
        "huge/deflated.bin": data,
    }
    wheel = build_wheel(WheelSpec("huge", files=files), tmp_path / "wheels")
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    destination = tmp_path / "out"
    destination.mkdir()
    for name in ("stored.bin", "deflated.bin"):
        (entry,) = (e for e in plan.files if e.path.endswith(f"huge/{name}"))
        assert entry.source is not None
        fd = os.open(wheel, os.O_RDONLY)
        tracemalloc.start()
        try:
            result = write_file(str(destination / name), entry.source, fd, b"", umask=0o022)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            os.close(fd)
        assert result == (entry.source.hash, size)
        # Half the member: holding it whole would take 32 MiB.
        assert peak < READ_BACK_BLOCK + 8 * 1024 * 1024, f"{name}: {peak} bytes at the peak"
        assert (destination / name).read_bytes() == data


def test_one_library_folder_by_two_names_is_planned_by_one(tmp_path: Path) -> None:
    """Fedora's platlib is under `lib64`, which a venv links to `lib`. Planned by both
    names, a pure and a platform wheel sharing `ns/` both created it: the apply failed
    with "File exists" and rolled back."""
    prefix = tmp_path / "env"
    (prefix / SCHEMES["purelib"]).mkdir(parents=True)
    (prefix / "lib64").symlink_to("lib")
    schemes = one_library_name(str(prefix), dict(SCHEMES))
    assert schemes == {**SCHEMES, "platlib": SCHEMES["purelib"]}
    shared = {"ns/__init__.py": b"# ns\n"}
    pure = WheelSpec("pure", files={**shared, "ns/pure.py": b"P = 1\n"})
    plat = WheelSpec("plat", files={**shared, "ns/plat.py": b"Q = 1\n"}, root_is_purelib=False)
    wheels = [build_wheel(spec, tmp_path / "wheels") for spec in (pure, plat)]
    target = attrs.evolve(fake_target(prefix), schemes=schemes)
    plan = make_plan(Request(wheels=tuple(map(str, wheels))), target)
    owners = {entry.path: entry.owners for entry in plan.files}
    assert owners[f"{SCHEMES['purelib']}/ns/__init__.py"] == ("plat", "pure")
    apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    site = prefix / SCHEMES["purelib"] / "ns"
    assert sorted(path.name for path in site.iterdir()) == ["__init__.py", "plat.py", "pure.py"]


def test_a_platform_wheel_upgrades_where_its_library_has_two_names(tmp_path: Path) -> None:
    """Installed distributions are read by purelib's name: with platlib planned by the
    other, the upgrade met its own old files as "belongs to no distribution"."""
    prefix = tmp_path / "env"
    (prefix / SCHEMES["purelib"]).mkdir(parents=True)
    (prefix / "lib64").symlink_to("lib")
    schemes = one_library_name(str(prefix), dict(SCHEMES))

    def install(version: str, files: dict[str, bytes]) -> None:
        spec = WheelSpec("plat", version, files=files, root_is_purelib=False)
        wheel = build_wheel(spec, tmp_path / "wheels")
        installed = scan_installed(str(prefix), schemes)
        target = attrs.evolve(fake_target(prefix), schemes=schemes, installed=installed)
        plan = make_plan(Request(wheels=(str(wheel),)), target)
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))

    install("1.0", {"plat/__init__.py": b"V = 1\n", "plat/old.py": b""})
    install("2.0", {"plat/__init__.py": b"V = 2\n"})
    site = prefix / SCHEMES["purelib"]
    assert (site / "plat" / "__init__.py").read_bytes() == b"V = 2\n"
    assert not (site / "plat" / "old.py").exists()
    assert sorted(path.name for path in site.glob("*.dist-info")) == ["plat-2.0.dist-info"]


def test_two_library_folders_keep_their_names(tmp_path: Path) -> None:
    """Only one folder by two names is renamed: a real `lib64`, or none, is left as given."""
    prefix = tmp_path / "env"
    assert one_library_name(str(prefix), dict(SCHEMES)) == SCHEMES
    (prefix / "lib64").mkdir(parents=True)
    (prefix / "lib").mkdir()
    assert one_library_name(str(prefix), dict(SCHEMES)) == SCHEMES


def _two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: Mapping[str, bytes]
) -> tuple[Plan, Path]:
    """A plan of one wheel of `files` in two units, applied by two worker processes."""
    wheel = build_wheel(WheelSpec("demo", files=dict(files)), tmp_path / "wheels")
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    paths = writes_of(plan)
    monkeypatch.delenv("WHEELPLAN_WORKERS", raising=False)
    monkeypatch.delenv("WHEELPLAN_FAULT", raising=False)
    return with_units(plan, [paths[::2], paths[1::2]]), prefix


def test_an_interrupt_as_a_worker_is_forked_stops_that_worker_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM, which wheelplan reads as it) landing between a worker's fork
    and its being known left that worker writing through the rollback, unreaped."""
    files = {f"demo/m{index}.py": f"X = {index}\n".encode() * 2000 for index in range(40)}
    plan, prefix = _two_workers(tmp_path, monkeypatch, files)
    before = exact_snapshot(prefix)
    known = workers.Child.__init__

    def interrupted(self: workers.Child, *args: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # as the child is made known
        known(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(workers.Child, "__init__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    with pytest.raises(ChildProcessError):  # every worker was stopped and reaped
        os.waitpid(-1, os.WNOHANG)
    assert exact_snapshot(prefix) == before


def test_an_interrupt_as_a_worker_is_reaped_still_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt after `waitpid` returned but before the worker was marked reaped
    made the rollback's own wait fail (No child processes), so no rollback ran."""
    files = {f"demo/m{index}.py": f"X = {index}\n".encode() for index in range(20)}
    plan, prefix = _two_workers(tmp_path, monkeypatch, files)
    before = exact_snapshot(prefix)
    waited: list[int] = []
    wait = os.waitpid

    def cut_short(pid: int, options: int) -> tuple[int, int]:
        result = wait(pid, options)
        if not waited:
            waited.append(pid)
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(os, "waitpid", cut_short)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    assert waited and exact_snapshot(prefix) == before
