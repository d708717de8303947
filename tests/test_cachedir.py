"""`wheelplan cache dir|clean`: what cleaning removes, and that it removes nothing else.

`--cache-dir` may name any folder, so `clean` must take only what wheelplan put there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from applier import cache, cachedir, wheelindex
from applier.manifests import DIRECTORY, Manifests
from planner.limits import Limits
from planner.wheelreader import read_wheels
from tests.conftest import dead_pid, make_env, snapshot, temporary_entry
from tests.deeptrees import DEPTH, LONG, LONG_DEPTH, DeepTree
from tests.test_cache import apply_fresh, demo_wheel

Cli = Callable[..., subprocess.CompletedProcess[str]]
SHA = "ab" * 32


def files_under(root: Path) -> set[str]:
    """Every file and symlink under `root` (symlinks not followed), relative."""
    found = set()
    for folder, dirs, names in os.walk(root):
        for name in names + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            found.add(str((Path(folder) / name).relative_to(root)))
    return found


def test_cache_dir_follows_xdg_and_cache_dir(tmp_path: Path, cli: Cli) -> None:
    done = cli("cache", "dir", env={"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert (done.returncode, done.stdout) == (0, f"{tmp_path / 'xdg' / 'wheelplan'}\n")
    done = cli("cache", "dir", "--cache-dir", "moved", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"{tmp_path / 'moved'}\n")
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "moved").exists()


def test_cache_dir_is_taken_before_the_cache_command_too(tmp_path: Path, cli: Cli) -> None:
    """`cache --cache-dir DIR dir` was a usage error that called DIR an invalid choice of
    command; pip 26.3's and uv 0.13.9's `cache --cache-dir DIR dir` print DIR."""
    done = cli("cache", "--cache-dir", "moved", "dir", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{tmp_path / 'moved'}\n", "")
    # Given on both sides, the later one counts, as a repeated option does.
    done = cli("cache", "--cache-dir", "first", "dir", "--cache-dir", "second", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"{tmp_path / 'second'}\n")
    done = cli("cache", "--cache-dir", tmp_path / "none", "clean")
    assert (done.returncode, done.stdout) == (0, f"nothing to remove in {tmp_path / 'none'}\n")


def test_clean_of_a_missing_folder_changes_nothing(tmp_path: Path, cli: Cli) -> None:
    done = cli("cache", "clean", "--cache-dir", tmp_path / "none")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"nothing to remove in {tmp_path / 'none'}\n"
    assert not (tmp_path / "none").exists()
    # A folder named with a line break is still named on one line.
    done = cli("cache", "clean", "--cache-dir", tmp_path / "a\nb")
    assert done.stdout == f"nothing to remove in {tmp_path}/a\\nb\n"


@pytest.mark.parametrize("below", [False, True], ids=["file", "below"])
def test_a_cache_dir_that_is_a_file_is_refused_by_every_command_that_uses_the_cache(
    tmp_path: Path, target: Path, cli: Cli, below: bool
) -> None:
    """plan, install and apply went on without a word and cached nothing, `cache clean`
    said there was nothing to remove: each says the folder is a file, once, and writes
    nothing, as uv 0.13.9 refuses it ('failed to create directory'). `cache dir` prints it
    still, as pip's and uv's do; --no-cache uses none, as uv's does."""
    wheel = demo_wheel(tmp_path / "wheels")
    plan = tmp_path / "plan.json"
    assert cli("plan", wheel, "--python", target, "-o", plan, "--no-cache").returncode == 0
    given = tmp_path / "a-file"
    given.write_bytes(b"not a folder")
    named = given / "cache" if below else given
    expected = (
        f"error: {given}: is a file, not a folder: --cache-dir names {named if below else 'it'}\n"
    )
    before = snapshot(tmp_path)
    for command in (
        ("plan", wheel, "--python", target),
        ("plan", wheel, "--python", target, "-o", tmp_path / "other.json"),
        ("install", wheel, "--python", target),
        ("install", wheel, "--python", target, "--dry-run"),
        ("apply", plan),
        ("cache", "clean"),
    ):
        done = cli(*command, "--cache-dir", named)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", expected), command
    assert snapshot(tmp_path) == before
    done = cli("cache", "dir", "--cache-dir", named)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{named}\n", "")
    done = cli("install", wheel, "--python", target, "--no-cache", "--cache-dir", named, "-q")
    assert (done.returncode, done.stderr) == (0, "")
    assert given.read_bytes() == b"not a folder"


def test_clean_removes_what_installs_left_and_keeps_the_rest(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    store = tmp_path / "cache"
    first = make_env(tmp_path / "first")
    done = cli("install", wheel, "--python", first, "--quiet", "--cache-dir", store)
    assert done.returncode == 0, done.stderr
    # The wheel is too new for the install to have indexed it (nor so written its
    # manifest): index and read it here, as a plan of an older wheel would.
    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 0)
    index = wheelindex.WheelIndex(str(store))
    manifests = Manifests(str(store))
    read_wheels([str(wheel)], Limits(), index, manifests)
    manifests.save(index)
    index.save()
    ours = {cachedir.ENTRIES, cachedir.MANIFESTS, cachedir.INDEX}
    assert ours <= set(os.listdir(store))
    removable = {name for name in files_under(store) if name.split(os.sep)[0] in ours}
    assert any(name.endswith(cache.MARKER) for name in removable)
    assert any(name.startswith(DIRECTORY) for name in removable)
    assert wheelindex.INDEX in removable
    # What `clean` must leave: the user's files, look-alikes, a running apply's entry.
    running = temporary_entry(os.getpid())
    kept = {
        "notes.txt",
        f"{cachedir.STAGING}/{running}/files/x.py",
        f"{cachedir.STAGING}/{SHA}-12-notahex/files/x.py",
        f"{cachedir.DOWNLOADS}/mine/y.whl",
        f"{cachedir.DOWNLOADS}/{SHA}/keep.txt",
    }
    stale = {
        f"{cachedir.STAGING}/{temporary_entry(dead_pid())}/files/x.py",
        f"{cachedir.STAGING}/{temporary_entry(dead_pid(), '-old')}/files/x.py",
        f"{cachedir.DOWNLOADS}/{SHA}/demo-1.0-py3-none-any.whl",
        f"{cachedir.DOWNLOADS}/sha384-{'cd' * 48}/.demo.whl.x1y2.part",
    }
    for name in kept | stale:
        (store / name).parent.mkdir(parents=True, exist_ok=True)
        (store / name).write_bytes(b"12345")
    removed = len(removable) + len(stale)
    done = cli("cache", "clean", "--cache-dir", store)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["kept 1 temporary entry that may still be in use"]
    assert done.stdout.startswith(f"removed {removed} files (")
    assert files_under(store) == kept
    # A clean cache is a cold one: the next install extracts the wheel again.
    second = make_env(tmp_path / "second")
    done = cli("install", wheel, "--python", second, "--quiet", "--cache-dir", store)
    assert done.returncode == 0, done.stderr
    assert snapshot(second.parent / "lib") == snapshot(first.parent / "lib")
    assert any((store / cachedir.ENTRIES).rglob(cache.MARKER))


def test_clean_empties_and_removes_a_cache_of_its_own(tmp_path: Path, cli: Cli) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    xdg = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env = make_env(tmp_path / "env")
    done = cli("install", wheel, "--python", env, "--quiet", env=xdg)
    assert done.returncode == 0, done.stderr
    done = cli("cache", "clean", env=xdg)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("removed ")
    assert os.listdir(tmp_path / "xdg") == []
    done = cli("cache", "clean", env=xdg)
    assert done.stdout == f"nothing to remove in {tmp_path / 'xdg' / 'wheelplan'}\n"


@pytest.mark.parametrize(
    ("depth", "name"), [(DEPTH, "d"), (LONG_DEPTH, LONG)], ids=["deep", "past-path-max"]
)
def test_clean_removes_a_tree_however_deep_or_long(
    tmp_path: Path, cli: Cli, deep_tree: DeepTree, depth: int, name: str
) -> None:
    """A tree deeper than a recursive walk goes once stopped `clean` with a traceback;
    one whose paths pass PATH_MAX, with an error and everything else left."""
    store = tmp_path / "cache"
    deep_tree(store / cachedir.ENTRIES / "ab" / SHA / "files", depth, name)
    deep_tree(store / cachedir.STAGING / temporary_entry(dead_pid()), depth, name)
    done = cli("cache", "clean", "--cache-dir", store)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"removed 2 files (0 B) from {store}\n",
        "",
    )
    assert not store.exists()


def test_clean_removes_an_index_its_writer_was_killed_writing(tmp_path: Path, cli: Cli) -> None:
    store = tmp_path / "cache"
    store.mkdir()
    # A process killed between writing the index and renaming it into place.
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from applier import atomic;"
            " os.replace = lambda *_: os._exit(9); atomic.write_atomic(sys.argv[1], b'{}')",
            str(store / cachedir.INDEX),
        ],
        cwd=Path(__file__).parent.parent,
    )
    assert killed.returncode == 9
    (left,) = os.listdir(store)
    assert left.startswith(f"{cachedir.INDEX}.") and left.endswith(".tmp")
    (store / "notes.txt").write_text("mine")
    done = cli("cache", "clean", "--cache-dir", store)
    assert (done.returncode, done.stdout) == (0, f"removed 1 file (2 B) from {store}\n")
    assert os.listdir(store) == ["notes.txt"]


@pytest.mark.parametrize("pid", ["0", "9" * 30])
def test_clean_removes_what_no_process_can_be_writing(tmp_path: Path, cli: Cli, pid: str) -> None:
    """Names of temporary files with a pid no process has: 0 (os.kill would ask after
    a process group, which is always there) or one larger than any pid."""
    store = tmp_path / "cache"
    (store / "tmp").mkdir(parents=True)
    (store / f"{cachedir.INDEX}.{pid}.0123abcd.tmp").write_text("{}")
    entry = store / "tmp" / f"{SHA}-{cachedir.pid_namespace()}-{pid}-0123abcd"
    entry.mkdir()
    done = cli("cache", "clean", "--cache-dir", store)
    assert (done.returncode, done.stderr) == (0, "")
    assert not (store / f"{cachedir.INDEX}.{pid}.0123abcd.tmp").exists()
    assert not entry.exists()


def test_clean_takes_an_entry_published_while_it_empties_the_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "cache"
    entries = store / cachedir.ENTRIES
    (entries / "ab" / SHA).mkdir(parents=True)
    (entries / "ab" / SHA / "x.py").write_bytes(b"old")
    real_rmdir = os.rmdir
    published: list[str] = []

    def rmdir_as_an_apply_publishes(path: str, **dir_fd: int) -> None:
        # An apply renames its entry in just before the entries' folder is removed.
        if path == str(entries) and not published:
            (entries / "cd" / "new").mkdir(parents=True)
            (entries / "cd" / "new" / "y.py").write_bytes(b"new")
            published.append(path)
        real_rmdir(path, **dir_fd)

    monkeypatch.setattr(os, "rmdir", rmdir_as_an_apply_publishes)
    cleaned = cachedir.clean(str(store))
    assert published
    assert (cleaned.files, cleaned.bytes) == (2, 6)
    assert not store.exists()


# --- temporary entries of other PID namespaces ----------------------------------------

OURS, THEIRS = "1" * 16, "2" * 16


def entry_named_in(
    store: Path, monkeypatch: pytest.MonkeyPatch, namespace: str | None, pid: int
) -> Path:
    """A temporary entry, named as an apply with `pid` in PID namespace `namespace`
    names it (None: one that cannot tell its namespace)."""
    with monkeypatch.context() as patch:
        patch.setattr(cachedir, "pid_namespace", lambda: namespace, raising=False)
        patch.setattr(os, "getpid", lambda: pid)
        path = store / cachedir.STAGING / cachedir.staging_name(SHA, os.urandom(4).hex())
    (path / "files").mkdir(parents=True)
    (path / "files" / "x.py").write_bytes(b"12345")
    return path


@pytest.mark.parametrize("sweeper", ["clean", "apply"])
def test_a_temporary_entry_of_another_pid_namespace_goes_only_when_a_day_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sweeper: str
) -> None:
    """A cache shared between containers (the README's BuildKit cache mount) holds the
    temporary entries of applies in other PID namespaces, whose pids mean nothing here:
    one whose pid no process here has was swept while its apply ran, which then failed.
    Such an entry (or one whose namespace is unknown) now goes once untouched for a
    day; one of this namespace, as soon as its pid is gone."""
    store = tmp_path / "cache"
    dead = dead_pid()
    theirs = entry_named_in(store, monkeypatch, THEIRS, dead)
    unknown = entry_named_in(store, monkeypatch, None, dead)
    ours_dead = entry_named_in(store, monkeypatch, OURS, dead)
    ours_running = entry_named_in(store, monkeypatch, OURS, os.getpid())
    monkeypatch.setattr(cachedir, "pid_namespace", lambda: OURS, raising=False)

    def sweep() -> None:
        if sweeper == "clean":
            cachedir.clean(str(store))
        else:
            wheel = demo_wheel(tmp_path / "wheels")
            shutil.rmtree(store / cachedir.ENTRIES, ignore_errors=True)  # a miss sweeps
            shutil.rmtree(tmp_path / "env", ignore_errors=True)
            apply_fresh(tmp_path, "env", wheel, cache_dir=str(store))

    sweep()
    assert (theirs.exists(), unknown.exists(), ours_dead.exists()) == (True, True, False)
    assert ours_running.exists()
    day_ago = time.time() - 24 * 3600 - 60
    for path in (theirs, unknown):
        os.utime(path, (day_ago, day_ago))
    sweep()
    assert (theirs.exists(), unknown.exists(), ours_running.exists()) == (False, False, True)


def test_the_pid_namespace_is_named_by_boot_and_namespace() -> None:
    """Two containers on one machine differ by their PID namespace; two machines sharing
    a folder, by their boot id (both host namespaces have one inode number)."""
    namespace = cachedir.pid_namespace()
    assert namespace is not None and re.fullmatch("[0-9a-f]{16}", namespace)
    name = cachedir.staging_name(SHA, "0123abcd")
    assert name == f"{SHA}-{namespace}-{os.getpid()}-0123abcd"


# --- nothing but wheelplan's own ----------------------------------------------------

ALIVE = os.getpid()
DEAD = dead_pid()
NAMES = [
    cachedir.ENTRIES,
    cachedir.MANIFESTS,
    cachedir.INDEX,
    cachedir.STAGING,
    cachedir.DOWNLOADS,
    SHA,
    f"sha512-{'ef' * 64}",
    temporary_entry(DEAD),
    temporary_entry(DEAD, "-old"),
    temporary_entry(ALIVE),
    temporary_entry(DEAD, "-new"),
    f"{SHA}-{THEIRS}-{DEAD}-0123abcd",  # another namespace's: kept until a day old
    f"{SHA}-{DEAD}-0123abcd",  # of a namespace unknown: the same
    f"{cachedir.INDEX}.{DEAD}.0123abcd.tmp",
    f"{cachedir.INDEX}.{ALIVE}.0123abcd.tmp",
    f"{cachedir.INDEX}.{DEAD}.xyz.tmp",
    f"notes.{DEAD}.0123abcd.tmp",
    "a-1-b",
    "x.whl",
    ".x.whl.1234.part",
    "x.part",
    "files",
    "notes",
]


def _removed(parts: tuple[str, ...], kind: str) -> bool:
    """The rule `clean` follows, stated once more for the property below."""
    top = parts[0]
    if top in (cachedir.ENTRIES, cachedir.MANIFESTS):
        return len(parts) > 1
    if top in (cachedir.INDEX, f"{cachedir.INDEX}.{DEAD}.0123abcd.tmp"):
        return len(parts) == 1 and kind == "file"
    if top == cachedir.STAGING:
        stale = (temporary_entry(DEAD), temporary_entry(DEAD, "-old"))
        return len(parts) > 2 and parts[1] in stale
    if top == cachedir.DOWNLOADS and len(parts) == 3 and kind == "file":
        key, name = parts[1], parts[2]
        keyed = key == SHA or key.startswith("sha512-")
        return keyed and (name.endswith(".whl") or (name[0] == "." and name.endswith(".part")))
    return False


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map(tuple),
            st.sampled_from(["file", "file", "link"]),
        ),
        max_size=25,
    )
)
def test_clean_removes_only_wheelplans_own_names(
    entries: list[tuple[tuple[str, ...], str]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root, outside = Path(scratch) / "cache", Path(scratch) / "outside"
        # What a symlink to it would expose: names `clean` removes inside the cache.
        for name in ("deep", SHA, temporary_entry(DEAD)):
            (outside / name).mkdir(parents=True)
            (outside / name / "x.whl").write_bytes(b"outside")
        (outside / "x.whl").write_bytes(b"outside")
        planted: dict[tuple[str, ...], str] = {}
        for parts, kind in entries:
            clash = any(
                parts[: len(other)] == other or other[: len(parts)] == parts for other in planted
            )
            if not clash:
                planted[parts] = kind
        for parts, kind in planted.items():
            path = root.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "link":
                path.symlink_to(outside, target_is_directory=True)
            else:
                path.write_bytes(b"data")
        root.mkdir(exist_ok=True)
        before = snapshot(outside)
        cleaned = cachedir.clean(str(root))
        expected = {
            os.sep.join(parts) for parts, kind in planted.items() if not _removed(parts, kind)
        }
        assert (files_under(root) if root.exists() else set()) == expected
        assert cleaned.files == len(planted) - len(expected)
        assert snapshot(outside) == before
