"""The unpacked-wheel cache: link modes, hits, misses, corrupted entries, the wheel index.

Whatever the cache does, the installed tree must be byte for byte the one an apply
without a cache writes; these tests check that first, then how the files got there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from applier import cache, links, streams, unitwriter, wheelindex, workers
from applier.apply import apply_plan
from applier.cachedir import INDEX, MANIFESTS
from applier.options import Options
from applier.streams import StreamError
from planner.build import Request, make_plan
from planner.errors import Refused
from planner.plan import Plan
from tests import conftest
from tests.applytools import SCHEMES, fake_target, plan_for, with_units, writes_of
from tests.conftest import make_env, snapshot
from tests.deeptrees import DEPTH, DeepTree
from tests.wheelfactory import Member, WheelSpec, build_wheel

BIG = bytes(range(256)) * 64  # 16 KiB, deflated
Cli = Callable[..., subprocess.CompletedProcess[str]]


def demo_wheel(directory: Path, version: str = "1.0", big: bytes = BIG) -> Path:
    data = f"demo-{version}.data/scripts"
    return build_wheel(
        WheelSpec(
            "demo",
            version=version,
            files={
                "demo/__init__.py": b"VALUE = 1\n",
                "demo/big.bin": big,
                "demo/stored.txt": Member(
                    "demo/stored.txt", b"stored bytes\n", compress_type=zipfile.ZIP_STORED
                ),
                "demo/tool.sh": Member("demo/tool.sh", b"#!/bin/sh\necho hi\n", mode=0o755),
                f"{data}/demo-run": Member(f"{data}/demo-run", b"#!python\nprint('run')\n"),
            },
            entry_points="[console_scripts]\ndemo-cli = demo:main\n",
        ),
        directory,
    )


def site(prefix: Path) -> Path:
    return prefix / SCHEMES["purelib"]


def apply_fresh(tmp_path: Path, name: str, wheel: Path, **options: Any) -> tuple[Path, Plan]:
    prefix = tmp_path / name
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    apply_plan(plan, "plan", Options(confirm_target=False, jobs=2, **options))
    return prefix, plan


def apply_split(tmp_path: Path, name: str, wheel: Path, **options: Any) -> tuple[Path, Plan]:
    """`apply_fresh` with one unit per file: two workers (processes, where there is fork)."""
    prefix = tmp_path / name
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    plan = with_units(plan, [[path] for path in writes_of(plan)])
    apply_plan(plan, "plan", Options(confirm_target=False, jobs=2, **options))
    return prefix, plan


def use_workers(monkeypatch: pytest.MonkeyPatch, kind: str) -> list[str]:
    """Have applies run their workers as `kind`; the list gets the kind each apply started."""
    if kind == "threads":
        monkeypatch.setenv("WHEELPLAN_WORKERS", "threads")
    else:
        monkeypatch.delenv("WHEELPLAN_WORKERS", raising=False)
    started: list[str] = []
    for name, what in (("_start_processes", "processes"), ("_start_threads", "threads")):
        real = getattr(workers, name)

        def spying(*args: Any, real: Any = real, what: str = what) -> Any:
            started.append(what)
            return real(*args)

        monkeypatch.setattr(workers, name, spying)
    return started


def spy_repairs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The wheels each call of `Cache.repair` was given, in order."""
    repairs: list[list[str]] = []
    real = cache.Cache.repair

    def spying(
        self: cache.Cache, placement: cache.Placement, damaged: Any, paths: Any, umask: int
    ) -> None:
        repairs.append(sorted(damaged))
        real(self, placement, damaged, paths, umask)

    monkeypatch.setattr(cache.Cache, "repair", spying)
    return repairs


def damage_file(cached: Path, damage: str) -> None:
    """Change a cached file the way `damage` says (see the tests that use it)."""
    data = cached.read_bytes()
    if damage == "content":
        cached.write_bytes(b"tampered")
    elif damage == "same-size":
        cached.write_bytes(b"\0" * len(data))  # same size, but a new mtime
    elif damage == "mode":
        cached.chmod(0o600)
    elif damage == "symlink":  # the same bytes, behind a symlink
        real = cached.with_name(cached.name + ".real")
        real.write_bytes(data)
        cached.unlink()
        cached.symlink_to(real.name)
    else:
        assert damage == "missing"
        cached.unlink()


def entry_of(cache_dir: Path, plan: Plan) -> Path:
    (dist,) = plan.distributions
    assert dist.wheel_sha256 is not None
    return Path(cache.Cache(str(cache_dir)).entry(dist.wheel_sha256))


def reference(tmp_path: Path, name: str, wheel: Path) -> dict[str, tuple[str, int]]:
    """The tree an apply without a cache writes at `tmp_path/name` (removed again)."""
    prefix, _ = apply_fresh(tmp_path, name, wheel)
    tree = snapshot(prefix)
    shutil.rmtree(prefix)
    return tree


def reflink_support(directory: Path) -> str | None:
    """None when FICLONE works in `directory`, else why not (for the skip message)."""
    source = directory / "reflink-probe-source"
    target = directory / "reflink-probe-target"
    source.write_bytes(b"x" * 4096)
    try:
        with source.open("rb") as src, target.open("wb") as dst:
            fcntl.ioctl(dst.fileno(), links.FICLONE, src.fileno())
    except OSError as error:
        return f"FICLONE fails here: {errno.errorcode.get(error.errno or 0, error)}"
    finally:
        source.unlink()
        target.unlink(missing_ok=True)
    return None


# --- link modes -------------------------------------------------------------------


def test_hardlink_shares_the_cached_inode_and_installs_the_same_tree(tmp_path: Path) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    expected = {name: reference(tmp_path, name, wheel) for name in ("first", "second")}
    store = tmp_path / "cache"
    first, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="hardlink")
    second, _ = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store), link_mode="hardlink")
    assert snapshot(first) == expected["first"]  # populated: extracted into the cache, linked
    assert snapshot(second) == expected["second"]  # a hit: linked
    cached = entry_of(store, plan) / cache.FILES / "demo" / "big.bin"
    for prefix in (first, second):
        assert (site(prefix) / "demo" / "big.bin").stat().st_ino == cached.stat().st_ino
    assert cached.stat().st_nlink == 3


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_the_progress_of_an_apply_counts_the_files_linked_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A file linked from the cache is placed as surely as one written: the bar of an
    apply whose files are hits ends at its total."""
    use_workers(monkeypatch, kind)
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="hardlink")
    second = tmp_path / "second"
    second.mkdir()
    shown: list[tuple[int, int]] = []
    options = Options(confirm_target=False, jobs=2, cache_dir=str(store), link_mode="hardlink")
    again = plan_for([wheel], second)
    summary = apply_plan(again, "plan", options, progress=lambda *now: shown.append(now))
    cached = entry_of(store, plan) / cache.FILES / "demo" / "big.bin"
    assert (site(second) / "demo" / "big.bin").stat().st_ino == cached.stat().st_ino  # a hit
    # Once the workers are done, before the RECORDs: every unit's bytes counted.
    units = sum(unit.bytes for unit in again.units)
    assert shown[-2][0] == units
    assert shown[-1] == (summary.bytes, summary.bytes)


def test_copy_gives_files_of_their_own(tmp_path: Path) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    expected = reference(tmp_path, "second", wheel)
    store = tmp_path / "cache"
    apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="copy")
    second, plan = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store), link_mode="copy")
    assert snapshot(second) == expected
    cached = entry_of(store, plan) / cache.FILES / "demo" / "big.bin"
    installed = site(second) / "demo" / "big.bin"
    assert installed.stat().st_ino != cached.stat().st_ino
    assert cached.stat().st_nlink == 1


# The demo wheel's members that its cache entry holds (the `#!python` script is rewritten).
ENTRY_FILES = ("__init__.py", "big.bin", "stored.txt", "tool.sh")


@pytest.mark.parametrize("link_mode", ["auto", "copy", "hardlink"])
def test_an_entry_made_under_another_umask_is_copied_from_never_hardlinked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, link_mode: str
) -> None:
    """A hardlink would give the file the mode its entry was made with; a copy gets its
    own inode and this apply's mode, at the cost of a copy rather than an inflate. With
    only hardlinks allowed, such files are written from the wheel."""
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    with conftest.umask(0o077):
        _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode=link_mode)
    files = entry_of(store, plan) / cache.FILES / "demo"
    entry_modes = {name: stat.S_IMODE((files / name).stat().st_mode) for name in ENTRY_FILES}
    assert entry_modes == {
        "__init__.py": 0o600,
        "big.bin": 0o600,
        "stored.txt": 0o600,
        "tool.sh": 0o711,
    }
    use_workers(monkeypatch, "threads")  # so the spy below sees every worker's writes
    from_wheel: list[str] = []
    real_write = unitwriter.write_file

    def spying(destination: str, *args: Any, **kwargs: Any) -> Any:
        from_wheel.append(os.path.basename(destination))
        return real_write(destination, *args, **kwargs)

    monkeypatch.setattr(unitwriter, "write_file", spying)
    repairs = spy_repairs(monkeypatch)
    with conftest.umask(0o022):
        expected = reference(tmp_path, "second", wheel)
        from_wheel.clear()
        second, _ = apply_fresh(
            tmp_path, "second", wheel, cache_dir=str(store), link_mode=link_mode
        )
    assert snapshot(second) == expected
    for name in ENTRY_FILES:
        installed = (site(second) / "demo" / name).stat()
        assert installed.st_nlink == 1
        assert installed.st_ino != (files / name).stat().st_ino
    copied = [name for name in ENTRY_FILES if name not in from_wheel]
    assert copied == ([] if link_mode == "hardlink" else list(ENTRY_FILES))
    # The entry stays as it was made: neither damaged nor replaced.
    assert {
        name: stat.S_IMODE((files / name).stat().st_mode) for name in ENTRY_FILES
    } == entry_modes
    assert repairs == []


def test_reflink_where_the_filesystem_clones(tmp_path: Path) -> None:
    why = reflink_support(tmp_path)
    if why is not None:
        pytest.skip(f"no reflink support in {tmp_path}: {why}")
    wheel = demo_wheel(tmp_path / "wheels")
    expected = reference(tmp_path, "second", wheel)
    store = tmp_path / "cache"
    apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="reflink")
    second, plan = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store), link_mode="reflink")
    assert snapshot(second) == expected
    cached = entry_of(store, plan) / cache.FILES / "demo" / "big.bin"
    assert (site(second) / "demo" / "big.bin").stat().st_ino != cached.stat().st_ino


def test_a_forced_reflink_that_cannot_work_is_refused_and_rolled_back(tmp_path: Path) -> None:
    if reflink_support(tmp_path) is None:
        pytest.skip(f"{tmp_path} supports reflinks, so a forced reflink works")
    wheel = demo_wheel(tmp_path / "wheels")
    prefix = tmp_path / "env"
    prefix.mkdir()
    with pytest.raises(Refused) as refused:
        apply_plan(
            plan_for([wheel], prefix),
            "plan",
            Options(
                confirm_target=False, jobs=2, cache_dir=str(tmp_path / "cache"), link_mode="reflink"
            ),
        )
    assert "--link-mode reflink does not work here (reflink:" in str(refused.value)
    assert "; --link-mode auto takes the first that does" in str(refused.value)
    assert os.listdir(prefix) == []


def test_auto_picks_a_mode_that_works(tmp_path: Path) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    expected = reference(tmp_path, "second", wheel)
    store = tmp_path / "cache"
    apply_fresh(tmp_path, "first", wheel, cache_dir=str(store))
    second, _ = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store))
    assert snapshot(second) == expected


def test_generated_and_rewritten_files_are_never_linked(tmp_path: Path) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="hardlink")
    second, plan = apply_fresh(
        tmp_path, "second", wheel, cache_dir=str(store), link_mode="hardlink"
    )
    fresh = [
        entry.path
        for entry in plan.files
        if entry.source is not None
        and (entry.source.kind != "member" or entry.source.rewrite_shebang)
    ]
    assert any(path.endswith("/RECORD") for path in fresh)
    assert any(path.endswith("/INSTALLER") for path in fresh)
    assert "bin/demo-run" in fresh and "bin/demo-cli" in fresh
    for path in fresh:
        assert (second / path).stat().st_nlink == 1, path
    marker = json.loads((entry_of(store, plan) / cache.MARKER).read_text())
    assert "demo-1.0.data/scripts/demo-run" not in marker["files"]


def test_source_date_epoch_never_hardlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting every file's mtime through a hardlink would change the cached copy."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    apply_fresh(tmp_path, "first", wheel, cache_dir=str(store))
    second, plan = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store))
    installed = site(second) / "demo" / "big.bin"
    assert installed.stat().st_nlink == 1
    assert installed.stat().st_mtime == 1600000000
    cached = entry_of(store, plan) / cache.FILES / "demo" / "big.bin"
    assert cached.stat().st_mtime != 1600000000


HARDLINK_WITH_EPOCH = (
    "error: --link-mode: hardlink cannot be used with SOURCE_DATE_EPOCH, which sets every"
    " file's mtime: a hardlinked file is the cached one; use reflink, copy or auto (which"
    " does not hardlink under SOURCE_DATE_EPOCH)\n"
)


def test_hardlink_named_with_source_date_epoch_is_refused_before_anything_is_written(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """Naming a link mode forces it, and under SOURCE_DATE_EPOCH a hardlink would set
    the cached file's mtime: the two together were a silent copy, and are refused."""
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    assert cli("install", wheel, "--python", target, "-q", "--cache-dir", store).returncode == 0
    cached = snapshot(store)
    python = make_env(tmp_path / "second")
    env = python.parent.parent
    before = snapshot(env)
    epoch = {"SOURCE_DATE_EPOCH": "0"}
    hardlink = ("--cache-dir", store, "--link-mode", "hardlink")
    installed = cli("install", wheel, "--python", python, "-q", *hardlink, env=epoch)
    assert (installed.returncode, installed.stderr) == (1, HARDLINK_WITH_EPOCH)
    assert snapshot(env) == before
    assert snapshot(store) == cached
    plan_file = tmp_path / "plan.json"
    planned = cli("plan", wheel, "--python", python, "-o", plan_file, "--cache-dir", store)
    assert planned.returncode == 0, planned.stderr
    cached = snapshot(store)  # the plan wrote its wheel manifest there
    applied = cli("apply", plan_file, "-q", *hardlink, env=epoch)
    assert (applied.returncode, applied.stderr) == (1, HARDLINK_WITH_EPOCH)
    assert snapshot(env) == before
    assert snapshot(store) == cached
    # auto, or no --link-mode, copies or reflinks under it.
    done = cli("apply", plan_file, "-q", "--cache-dir", store, env=epoch)
    assert done.returncode == 0, done.stderr
    assert (site(env) / "demo" / "big.bin").stat().st_nlink == 1


# --- hits, misses, corruption -------------------------------------------------------


def test_a_miss_populates_an_entry_and_a_hit_reuses_it(tmp_path: Path) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="hardlink")
    entry = entry_of(store, plan)
    marker = entry / cache.MARKER
    assert marker.is_file()
    assert (entry / cache.FILES / "demo" / "big.bin").read_bytes() == BIG
    assert os.listdir(store / cache.STAGING) == []
    before = marker.stat().st_mtime_ns, marker.stat().st_ino
    second, _ = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store), link_mode="hardlink")
    assert (marker.stat().st_mtime_ns, marker.stat().st_ino) == before
    assert os.listdir(store / cache.STAGING) == []
    assert (site(second) / "demo" / "stored.txt").stat().st_nlink == 3


# Ways a marker can be damaged while staying JSON: each makes the entry a miss.
MARKER_DAMAGE: dict[str, Callable[[dict[str, Any]], None]] = {
    "marker-row-short": lambda marker: marker["files"]["demo/big.bin"].pop(),
    "marker-size-text": lambda marker: marker["files"]["demo/big.bin"].__setitem__(1, "4"),
    "marker-mtime-bool": lambda marker: marker["files"]["demo/big.bin"].__setitem__(2, True),
    "marker-files-list": lambda marker: marker.__setitem__("files", []),
    "marker-other-size": lambda marker: marker["files"]["demo/big.bin"].__setitem__(1, 4),
    "marker-other-hash": lambda marker: marker["files"]["demo/big.bin"].__setitem__(0, "x"),
    "marker-other-wheel": lambda marker: marker.__setitem__("wheel_sha256", "0" * 64),
    "marker-other-format": lambda marker: marker.__setitem__("format", 0),
}


@pytest.mark.parametrize(
    "damage", ["content", "same-size", "same-time", "missing", "marker", *MARKER_DAMAGE]
)
def test_a_corrupted_entry_is_detected_and_re_extracted(tmp_path: Path, damage: str) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    expected = reference(tmp_path, "second", wheel)
    store = tmp_path / "cache"
    _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="copy")
    entry = entry_of(store, plan)
    cached = entry / cache.FILES / "demo" / "big.bin"
    if damage == "content":
        cached.write_bytes(b"tampered")
    elif damage == "same-size":
        cached.write_bytes(b"\0" * len(BIG))  # same size, but a new mtime
    elif damage == "same-time":
        stamp = cached.stat().st_mtime_ns
        cached.write_bytes(b"tampered")  # another size, its mtime set back
        os.utime(cached, ns=(stamp, stamp))
    elif damage == "missing":
        cached.unlink()
    elif damage == "marker":
        (entry / cache.MARKER).write_text("{not json")
    else:
        marker = json.loads((entry / cache.MARKER).read_text())
        MARKER_DAMAGE[damage](marker)
        (entry / cache.MARKER).write_text(json.dumps(marker))
    second, _ = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store), link_mode="copy")
    assert snapshot(second) == expected
    assert cached.read_bytes() == BIG
    # Extracted again: a marker written afresh.
    marker = json.loads((entry / cache.MARKER).read_text())
    assert (marker["format"], marker["wheel_sha256"]) == (cache.FORMAT, entry.name)
    (record_hash,) = {
        entry.source.hash
        for entry in plan.files
        if entry.source is not None and entry.source.member == "demo/big.bin"
    }
    assert marker["files"]["demo/big.bin"][:3] == [
        record_hash,
        len(BIG),
        cached.stat().st_mtime_ns,
    ]
    assert os.listdir(store / cache.STAGING) == []


def test_a_damaged_entry_is_replaced_whole_however_deep_a_tree_in_it(
    tmp_path: Path, deep_tree: DeepTree
) -> None:
    """The old entry goes whatever someone left in it: a tree deeper than a recursive
    removal goes once raised RecursionError after every file was written, and the
    install was rolled back."""
    wheel = demo_wheel(tmp_path / "wheels")
    expected = reference(tmp_path, "second", wheel)
    store = tmp_path / "cache"
    _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="copy")
    entry = entry_of(store, plan)
    (entry / cache.MARKER).write_text("{not json")
    deep_tree(entry / cache.FILES / "left", DEPTH)
    second, _ = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store), link_mode="copy")
    assert snapshot(second) == expected
    assert sorted(os.listdir(entry / cache.FILES)) == ["demo", "demo-1.0.dist-info"]
    assert json.loads((entry / cache.MARKER).read_text())["wheel_sha256"] == entry.name
    assert os.listdir(store / cache.STAGING) == []


def test_a_killed_applys_temporary_entry_is_swept_however_deep(
    tmp_path: Path, deep_tree: DeepTree
) -> None:
    """A miss sweeps what killed applies left, whatever it holds: a tree deeper than a
    recursive removal goes once made every apply with a miss stop with a traceback."""
    wheel = demo_wheel(tmp_path / "wheels")
    expected = reference(tmp_path, "env", wheel)
    store = tmp_path / "cache"
    deep_tree(store / cache.STAGING / conftest.temporary_entry(conftest.dead_pid()), DEPTH)
    prefix, _ = apply_fresh(tmp_path, "env", wheel, cache_dir=str(store))
    assert snapshot(prefix) == expected
    assert os.listdir(store / cache.STAGING) == []


@pytest.mark.parametrize("kind", ["processes", "threads"])
@pytest.mark.parametrize("link_mode", ["hardlink", "copy"])
@pytest.mark.parametrize("damage", ["content", "same-size", "mode", "symlink", "missing"])
def test_a_changed_file_is_written_from_the_wheel_and_its_entry_re_extracted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, link_mode: str, damage: str
) -> None:
    """The worker that links a file checks it first; a changed one is written from the
    wheel, and its entry is extracted again once the install is complete."""
    wheel = demo_wheel(tmp_path / "wheels")
    expected = {name: reference(tmp_path, name, wheel) for name in ("second", "third")}
    store = tmp_path / "cache"
    _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode=link_mode)
    files = entry_of(store, plan) / cache.FILES / "demo"
    # Two files, in units of their own: with processes, each is found by another worker.
    damaged = {"big.bin": BIG, "stored.txt": b"stored bytes\n"}
    for name in damaged:
        damage_file(files / name, damage)
    kept = (files / "__init__.py").stat().st_ino
    started = use_workers(monkeypatch, kind)
    repairs = spy_repairs(monkeypatch)
    second, _ = apply_split(tmp_path, "second", wheel, cache_dir=str(store), link_mode=link_mode)
    assert started == [kind]
    assert repairs == [[wheel.name]]
    assert snapshot(second) == expected["second"]
    marker = json.loads((files.parent.parent / cache.MARKER).read_text())
    for name, data in damaged.items():
        cached = files / name
        info = cached.lstat()
        assert stat.S_ISREG(info.st_mode)
        assert cached.read_bytes() == data
        assert marker["files"][f"demo/{name}"][1:] == [
            len(data),
            info.st_mtime_ns,
            stat.S_IMODE(info.st_mode),
        ]
        assert stat.S_IMODE(info.st_mode) == stat.S_IMODE(
            (site(second) / "demo" / name).stat().st_mode
        )
    assert (files / "__init__.py").stat().st_ino != kept  # the whole entry was extracted
    assert os.listdir(store / cache.STAGING) == []
    # The next apply links every file from the repaired entry, and repairs nothing.
    third, _ = apply_split(tmp_path, "third", wheel, cache_dir=str(store), link_mode=link_mode)
    assert snapshot(third) == expected["third"]
    assert repairs == [[wheel.name]]
    if link_mode == "hardlink":
        for name in damaged:
            assert (site(third) / "demo" / name).stat().st_ino == (files / name).stat().st_ino


@pytest.mark.parametrize("failure", ["write", "verify", "publish", "unexpected"])
def test_a_failed_re_extraction_never_fails_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """Re-extracting a damaged entry runs after the commit: if it fails, the install
    stands, the old entry stays (found damaged again next time), nothing is left in tmp."""
    wheel = demo_wheel(tmp_path / "wheels")
    expected = {name: reference(tmp_path, name, wheel) for name in ("second", "third")}
    store = tmp_path / "cache"
    _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="copy")
    cached = entry_of(store, plan) / cache.FILES / "demo" / "big.bin"
    cached.write_bytes(b"tampered")

    def failing(*args: Any, **kwargs: Any) -> Any:
        if failure == "verify":
            raise StreamError("'demo/big.bin' does not match its RECORD hash or size")
        if failure == "unexpected":
            raise RuntimeError("a bug")
        raise OSError(errno.ENOSPC, "No space left on device")

    # The workers hold their own `write_file`; only the re-extraction gets this one.
    if failure == "publish":
        monkeypatch.setattr(cache, "write_atomic", failing)
    else:
        monkeypatch.setattr(streams, "write_file", failing)
    repairs = spy_repairs(monkeypatch)
    second, _ = apply_split(tmp_path, "second", wheel, cache_dir=str(store), link_mode="copy")
    assert repairs == [[wheel.name]]
    assert snapshot(second) == expected["second"]
    assert cached.read_bytes() == b"tampered"
    assert os.listdir(store / cache.STAGING) == []
    monkeypatch.undo()
    third, _ = apply_split(tmp_path, "third", wheel, cache_dir=str(store), link_mode="copy")
    assert snapshot(third) == expected["third"]
    assert cached.read_bytes() == BIG
    assert os.listdir(store / cache.STAGING) == []


def test_only_the_sha256_proven_against_the_wheel_chooses_its_entry(tmp_path: Path) -> None:
    """An edited plan added an unchanged distribution naming the installed wheel's file
    with another wheel's sha256 (never checked: only installed wheels are read), and
    gave a member that wheel's RECORD hash: a warm apply linked the other wheel's
    bytes, where without the cache the member does not match its hash."""
    wheel = demo_wheel(tmp_path / "wheels")
    other = demo_wheel(tmp_path / "other", big=BIG[::-1])  # the same file name
    assert other.name == wheel.name
    store = tmp_path / "cache"
    _, populated = apply_fresh(tmp_path, "first", other, cache_dir=str(store), link_mode="copy")
    (foreign,) = populated.distributions
    (foreign_hash,) = {
        entry.source.hash
        for entry in populated.files
        if entry.source is not None and entry.source.member == "demo/big.bin"
    }
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    (dist,) = plan.distributions
    kept = attrs.evolve(foreign, name="kept", display_name="kept", action="unchanged")
    kept = attrs.evolve(kept, wheel_size=dist.wheel_size)
    edited = attrs.evolve(
        plan,
        distributions=(dist, kept),
        files=tuple(
            attrs.evolve(entry, source=attrs.evolve(entry.source, hash=foreign_hash))
            if entry.source is not None and entry.source.member == "demo/big.bin"
            else entry
            for entry in plan.files
        ),
    )
    refusals = []
    for cache_dir in (None, str(store)):
        with pytest.raises(Refused) as refused:
            apply_plan(
                edited,
                "plan",
                Options(confirm_target=False, jobs=2, cache_dir=cache_dir, link_mode="copy"),
            )
        refusals.append(str(refused.value))
        assert os.listdir(prefix) == []
    assert refusals[0] == refusals[1]


def test_one_member_at_two_destinations_installs_as_without_the_cache(tmp_path: Path) -> None:
    """A hand-edited plan may write one member at two paths, as an apply without the
    cache does; a cold cache staged both at the member's one name in its entry, and
    the second failed with EEXIST."""
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"

    def apply_doubled(name: str, cache_dir: str | None) -> Path:
        prefix = tmp_path / name
        prefix.mkdir()
        plan = plan_for([wheel], prefix)
        (big,) = [entry for entry in plan.files if entry.path.endswith("/demo/big.bin")]
        copy = attrs.evolve(big, path=big.path.replace("big.bin", "copy.bin"))
        plan = attrs.evolve(plan, files=(*plan.files, copy))
        plan = with_units(plan, [[path] for path in writes_of(plan)])
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2, cache_dir=cache_dir))
        return prefix

    for name in ("cold", "warm"):
        expected = snapshot(apply_doubled(name, None))
        shutil.rmtree(tmp_path / name)
        prefix = apply_doubled(name, str(store))
        assert snapshot(prefix) == expected
        assert (site(prefix) / "demo" / "copy.bin").read_bytes() == BIG
    assert os.listdir(store / cache.STAGING) == []


def test_a_failed_apply_repairs_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rolled back: the damaged entry is left for the next apply, and tmp stays empty."""
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="copy")
    cached = entry_of(store, plan) / cache.FILES / "demo" / "big.bin"
    cached.write_bytes(b"tampered")
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    # A file never cached, whose RECORD hash its bytes do not match: a worker fails.
    files = tuple(
        attrs.evolve(entry, source=attrs.evolve(entry.source, hash="sha256=" + "A" * 43))
        if entry.path == "bin/demo-run" and entry.source is not None
        else entry
        for entry in plan.files
    )
    repairs = spy_repairs(monkeypatch)
    with pytest.raises(Refused) as refused:
        apply_plan(
            attrs.evolve(plan, files=files),
            "plan",
            Options(confirm_target=False, jobs=2, cache_dir=str(store), link_mode="copy"),
        )
    assert "does not match its RECORD hash" in str(refused.value)
    assert os.listdir(prefix) == []
    assert repairs == []
    assert cached.read_bytes() == b"tampered"
    assert os.listdir(store / cache.STAGING) == []


def test_editing_a_hardlinked_file_is_seen_by_the_next_apply(tmp_path: Path) -> None:
    """Installed and cached file are one inode; the edit shows in the cache's mtime."""
    wheel = demo_wheel(tmp_path / "wheels")
    expected = reference(tmp_path, "second", wheel)
    store = tmp_path / "cache"
    first, _ = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="hardlink")
    edited = site(first) / "demo" / "__init__.py"
    edited.write_bytes(b"VALUE = 2\n")  # same size, in place: the cached copy changes too
    second, _ = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store), link_mode="hardlink")
    assert snapshot(second) == expected
    assert edited.read_bytes() == b"VALUE = 2\n"


def refused_leaving_nothing(plan: Plan, store: Path) -> str:
    """Why an apply of `plan` with the cache at `store` was refused; it must leave the
    target empty and no entry in the cache, complete or temporary."""
    with pytest.raises(Refused) as refused:
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2, cache_dir=str(store)))
    assert os.listdir(plan.target.prefix) == []
    assert not list((store / cache.ENTRIES).rglob(cache.MARKER))
    assert os.listdir(store / cache.STAGING) == []
    return str(refused.value)


def test_a_failed_apply_leaves_no_entry_behind(tmp_path: Path) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    # A RECORD hash the member's bytes do not match: a worker fails, the apply rolls back.
    files = tuple(
        attrs.evolve(entry, source=attrs.evolve(entry.source, hash="sha256=" + "A" * 43))
        if entry.path.endswith("demo/big.bin") and entry.source is not None
        else entry
        for entry in plan.files
    )
    refusal = refused_leaving_nothing(attrs.evolve(plan, files=files), tmp_path / "cache")
    assert "does not match its RECORD hash" in refusal


# --- the cache failing -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["processes", "threads"])
@pytest.mark.parametrize(
    "failure", ["full", "deleted", "deleted-before-linking", "deleted-once-linked"]
)
def test_a_cache_that_fails_mid_apply_leaves_the_install_as_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, failure: str
) -> None:
    """A write into a temporary entry that fails (the cache's filesystem full, or the
    cache folder deleted, which the README calls safe) rolled the whole install back,
    where --no-cache installs it. Now that entry is dropped, its files written from the
    wheel, and the next apply extracts it again."""
    wheel = demo_wheel(tmp_path / "wheels")
    expected = {name: reference(tmp_path, name, wheel) for name in ("second", "third")}
    store = tmp_path / "cache"
    if failure == "full":
        real_write = unitwriter.write_file

        def full(destination: str, *args: Any, **kwargs: Any) -> Any:
            if destination.endswith("/demo/big.bin") and destination.startswith(str(store)):
                Path(destination).write_bytes(BIG[:100])  # as far as it got
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(destination, *args, **kwargs)

        monkeypatch.setattr(unitwriter, "write_file", full)
    elif failure.startswith("deleted-"):
        real_place = links.Linker.place
        before = failure == "deleted-before-linking"

        def delete_as_placing(self: links.Linker, cached: str, *args: Any) -> str:
            if before and cached.startswith(str(store)):
                shutil.rmtree(store, ignore_errors=True)  # the copy to link goes with it
            placed = real_place(self, cached, *args)
            if cached.startswith(str(store)):
                shutil.rmtree(store, ignore_errors=True)  # with the copy just linked
            return placed

        monkeypatch.setattr(links.Linker, "place", delete_as_placing)
    else:
        real_prepare = cache.Cache.prepare

        def prepare_then_delete(self: cache.Cache, *args: Any) -> cache.Placement:
            placement = real_prepare(self, *args)
            assert placement.staged
            shutil.rmtree(store)
            return placement

        monkeypatch.setattr(cache.Cache, "prepare", prepare_then_delete)
    started = use_workers(monkeypatch, kind)
    second, plan = apply_split(tmp_path, "second", wheel, cache_dir=str(store))
    assert started == [kind]
    assert snapshot(second) == expected["second"]
    entry = entry_of(store, plan)
    assert not entry.exists()
    assert not (store / cache.STAGING).exists() or os.listdir(store / cache.STAGING) == []
    monkeypatch.undo()
    third, _ = apply_split(tmp_path, "third", wheel, cache_dir=str(store))
    assert snapshot(third) == expected["third"]
    assert (entry / cache.FILES / "demo" / "big.bin").read_bytes() == BIG


def test_a_failed_write_into_the_target_still_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the cache's side may fail without failing the apply."""
    wheel = demo_wheel(tmp_path / "wheels")
    real_place = links.Linker.place

    def full_target(self: links.Linker, cached: str, destination: str, *args: Any) -> str:
        if destination.endswith("/demo/big.bin"):
            raise OSError(errno.ENOSPC, "No space left on device", destination)
        return real_place(self, cached, destination, *args)

    monkeypatch.setattr(links.Linker, "place", full_target)
    prefix = tmp_path / "env"
    prefix.mkdir()
    refusal = refused_leaving_nothing(plan_for([wheel], prefix), tmp_path / "cache")
    assert "No space left on device" in refusal


# --- the wheel index ----------------------------------------------------------------


def test_the_index_spares_rehashing_an_unchanged_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 0)
    wheel = demo_wheel(tmp_path / "wheels")
    prefix = tmp_path / "env"
    prefix.mkdir()
    hashed: list[int] = []
    from planner import wheelhash

    real = wheelhash.mapped_sha256

    def counting(fd: int, **options: Any) -> str:
        hashed.append(fd)
        return real(fd, **options)

    monkeypatch.setattr(wheelhash, "mapped_sha256", counting)

    def plan_once() -> Plan:
        index = wheelindex.WheelIndex(str(tmp_path / "cache"))
        request = Request(wheels=(str(wheel),), digests=index)
        plan = make_plan(request, fake_target(prefix))
        index.save()
        return plan

    first = plan_once()
    assert len(hashed) == 1
    second = plan_once()
    assert len(hashed) == 1  # served by the index
    assert second.distributions == first.distributions
    # A wheel rewritten in place (new mtime and ctime) is hashed again.
    os.utime(wheel, ns=(0, 1_000_000_000))
    plan_once()
    assert len(hashed) == 2


@pytest.mark.parametrize("sha256", ["../../x", "a\nb", "A" * 64, ""])
def test_an_index_entry_whose_hash_is_no_sha256_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sha256: str
) -> None:
    """Its stamp matched the wheel, and the hash went into the plan and the installed
    direct_url.json as it was."""
    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 0)
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    index = wheelindex.WheelIndex(str(store))
    index.remember(str(wheel), os.stat(wheel), sha256)
    index.save()
    prefix = tmp_path / "env"
    prefix.mkdir()
    request = Request(wheels=(str(wheel),), digests=wheelindex.WheelIndex(str(store)))
    (dist,) = make_plan(request, fake_target(prefix)).distributions
    assert dist.wheel_sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_a_fresh_wheel_is_hashed_but_not_indexed(tmp_path: Path) -> None:
    """Timestamps of a file written just now may not change on a second write."""
    wheel = demo_wheel(tmp_path / "wheels")
    index = wheelindex.WheelIndex(str(tmp_path / "cache"))
    digests = wheelindex.wheel_digests([str(wheel)], index)
    assert isinstance(digests[str(wheel)], str)
    assert not index.changed


def test_apply_uses_the_index_and_still_refuses_a_replaced_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 0)
    hashed: list[str] = []
    real = wheelindex.file_sha256

    def counting(path: str) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(wheelindex, "file_sha256", counting)
    wheel = demo_wheel(tmp_path / "wheels")
    store = str(tmp_path / "cache")
    apply_fresh(tmp_path, "first", wheel, cache_dir=store)
    apply_fresh(tmp_path, "second", wheel, cache_dir=store)
    assert hashed == [str(wheel)]  # the second apply found it in the index
    prefix = tmp_path / "third"
    prefix.mkdir()
    plan = plan_for([wheel], prefix)
    other = build_wheel(WheelSpec("demo", files={"demo/__init__.py": b"X = 2\n"}), tmp_path / "w2")
    os.replace(other, wheel)  # same path, another file
    with pytest.raises(Refused) as refused:
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2, cache_dir=store))
    assert "wheel changed since the plan was made" in str(refused.value)
    assert os.listdir(prefix) == []


@pytest.mark.parametrize("replaced", [False, True])
def test_install_without_a_cache_hashes_each_wheel_once(
    tmp_path: Path,
    target: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    replaced: bool,
) -> None:
    """`install --no-cache` applies with the hashes its plan took a moment ago, kept in
    memory by their stat stamps as the wheel index keeps them; a wheel replaced between
    the plan and the apply has another stamp, so it is hashed again, and refused. (By
    a file of the same size: one of another size is refused unread.)"""
    from applier import preflight
    from planner import wheelhash
    from wheelplan import cli as command_line

    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 0)
    hashed: list[str] = []
    for module, name in ((wheelhash, "mapped_sha256"), (wheelindex, "file_sha256")):
        real = getattr(module, name)

        def counting(source: Any, real: Any = real, name: str = name, **options: Any) -> str:
            hashed.append(name)
            return str(real(source, **options))

        monkeypatch.setattr(module, name, counting)
    wheel = demo_wheel(tmp_path / "wheels")
    other = tmp_path / "w2" / wheel.name
    other.parent.mkdir()
    changed = bytearray(wheel.read_bytes())
    changed[len(changed) // 2] ^= 0xFF
    other.write_bytes(changed)
    real_start = preflight.start_preflight

    def starting(*args: Any) -> preflight.Preflight:
        if replaced:
            os.replace(other, wheel)  # same path, another file, once the plan is made
        return real_start(*args)

    monkeypatch.setattr(preflight, "start_preflight", starting)
    env = target.parent.parent
    before = snapshot(env)
    code = command_line.main(["install", "--python", str(target), "-q", "--no-cache", str(wheel)])
    if replaced:
        assert code == command_line.EXIT_REFUSED
        assert "wheel changed since the plan was made" in capsys.readouterr().err
        assert snapshot(env) == before
        assert hashed == ["mapped_sha256", "file_sha256"]
    else:
        assert code == 0
        assert (site(env) / "demo" / "big.bin").read_bytes() == BIG
        assert hashed == ["mapped_sha256"]  # by the plan; the apply found it in memory


# --- the command line ---------------------------------------------------------------


def test_cli_cache_location_and_no_cache(tmp_path: Path, target: Path, cli: Cli) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    xdg = tmp_path / "xdg"
    env = {"XDG_CACHE_HOME": str(xdg)}
    plan_file = tmp_path / "plan.json"
    done = cli("plan", wheel, "--python", target, "-o", plan_file, "--no-cache", env=env)
    assert done.returncode == 0, done.stderr
    # pip's spelling, which Dockerfiles carry over, means the same.
    done = cli("apply", plan_file, "--quiet", "--no-cache-dir", env=env)
    assert done.returncode == 0, done.stderr
    assert not xdg.exists()
    python = make_env(tmp_path / "other-env")
    done = cli("install", wheel, "--python", python, "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    assert any((xdg / "wheelplan" / cache.ENTRIES).rglob(cache.MARKER))
    moved = tmp_path / "moved"
    third = make_env(tmp_path / "third-env")
    done = cli(
        "install", wheel, "--python", third, "--quiet", "--cache-dir", moved, "--link-mode", "copy"
    )
    assert done.returncode == 0, done.stderr
    assert any((moved / cache.ENTRIES).rglob(cache.MARKER))


@pytest.fixture(scope="module")
def settled_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo wheel, old enough (by its ctime) for the index and manifests to keep."""
    wheel = demo_wheel(tmp_path_factory.mktemp("wheels"))
    time.sleep(wheelindex._SETTLED_NS / 1e9 + 0.1)
    return wheel


@pytest.mark.parametrize("kind", ["fifo", "device", "nested"])
@pytest.mark.parametrize("part", ["index", "manifest", "marker"])
def test_a_cache_file_that_is_no_file_is_a_miss_and_is_replaced(
    tmp_path: Path, cli: Cli, settled_wheel: Path, part: str, kind: str
) -> None:
    """A FIFO at the wheel index, a manifest or an entry's marker hung every command that
    read it, and a link there to /dev/zero filled its memory; JSON nested past Python's
    recursion limit was a traceback. wheelplan writes regular files of flat JSON there:
    anything else is a miss, as a damaged file is, and is replaced."""
    cache_dir = tmp_path / "cache"
    first = make_env(tmp_path / "first")
    args = ("install", settled_wheel, "--quiet", "--cache-dir", cache_dir)
    done = cli(*args, "--python", first)
    assert done.returncode == 0, done.stderr
    (path,) = {
        "index": [cache_dir / INDEX],
        "manifest": list((cache_dir / MANIFESTS).rglob("*.json")),
        "marker": list((cache_dir / cache.ENTRIES).rglob(cache.MARKER)),
    }[part]
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:
        path.write_text("[" * 200_000 + "]" * 200_000)
    second = make_env(tmp_path / "second")
    done = cli(*args, "--python", second, memory=2 * 1024**3)
    assert (done.returncode, done.stderr) == (0, "")
    package = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages/demo"
    assert snapshot(second.parent.parent / package) == snapshot(first.parent.parent / package)
    assert stat.S_ISREG(path.lstat().st_mode)


def test_an_entry_removed_while_applying_falls_back_to_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another apply may replace an entry between the check and the link."""
    wheel = demo_wheel(tmp_path / "wheels")
    expected = reference(tmp_path, "second", wheel)
    store = tmp_path / "cache"
    apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode="hardlink")
    checked = cache.Cache.prepare

    def prepare_then_lose_a_file(self: cache.Cache, *args: Any) -> cache.Placement:
        placement = checked(self, *args)
        assert placement.linked
        os.unlink(next(iter(placement.linked.values()))[0])
        return placement

    monkeypatch.setattr(cache.Cache, "prepare", prepare_then_lose_a_file)
    second, _ = apply_fresh(tmp_path, "second", wheel, cache_dir=str(store), link_mode="hardlink")
    assert snapshot(second) == expected


@pytest.mark.parametrize("link_mode", ["hardlink", "copy"])
def test_a_cached_file_gone_at_link_time_comes_from_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, link_mode: str
) -> None:
    """Another apply may replace an entry between a worker's check and its link."""
    wheel = demo_wheel(tmp_path / "wheels")
    expected = {name: reference(tmp_path, name, wheel) for name in ("second", "third")}
    store = tmp_path / "cache"
    _, plan = apply_fresh(tmp_path, "first", wheel, cache_dir=str(store), link_mode=link_mode)
    real = links.Linker.place

    def lose_then_place(self: links.Linker, cached: str, *args: Any) -> str:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(cached)
        return real(self, cached, *args)

    monkeypatch.setattr(links.Linker, "place", lose_then_place)
    second, _ = apply_split(tmp_path, "second", wheel, cache_dir=str(store), link_mode=link_mode)
    assert snapshot(second) == expected["second"]
    monkeypatch.undo()
    # The files it lost are found missing by the next apply, which repairs the entry.
    third, _ = apply_split(tmp_path, "third", wheel, cache_dir=str(store), link_mode=link_mode)
    assert snapshot(third) == expected["third"]
    assert (entry_of(store, plan) / cache.FILES / "demo" / "big.bin").read_bytes() == BIG
