"""Shared fixtures: fresh target environments, the CLI, and tree snapshots."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from applier import cachedir
from tests import deeptrees
from tests.realwheels import download

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _private_wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The CLI caches unpacked wheels under $XDG_CACHE_HOME: one for this test session,
    so tests neither fill nor read the user's cache (and its hardlinks)."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(autouse=True, scope="session")
def _no_user_netrc(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Downloads send the login a netrc file gives their host: not the user's, here."""
    os.environ["NETRC"] = str(tmp_path_factory.mktemp("netrc") / "absent")


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_heard() -> None:
    """A suite started in the background (`cmd &` in a script, `nohup`) inherits Ctrl-C
    ignored, and so would every wheelplan it starts: the tests that interrupt one would
    fail for how the suite was started. A handler of Python's own is reset at `exec`."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the block, and the processes it starts, under the umask `mask`."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def pips_mode(executable: bool, mask: int) -> int:
    """The mode pip gives a file it installs under the umask `mask`: as `open` makes it,
    and for an executable its chmod to `0o777 & ~umask | 0o111`."""
    return 0o777 & ~mask | 0o111 if executable else 0o666 & ~mask


def make_env(path: Path) -> Path:
    """A fresh, empty virtual environment; returns its interpreter."""
    venv.create(path, with_pip=False, symlinks=True)
    return path / "bin" / "python"


def make_system_python(path: Path) -> Path:
    """A Python installation of its own at `path`, not a venv (its sys.prefix is its
    sys.base_prefix), with an empty site-packages; returns its interpreter.

    It runs a copy of this Python's binary (a symlink would lead the interpreter back
    to its real home) over symlinks to this Python's standard library, so a test can
    mark it up (EXTERNALLY-MANAGED) without touching the real one.
    """
    stdlib = Path(sysconfig.get_path("stdlib"))
    home = path / stdlib.relative_to(sys.base_prefix)
    home.mkdir(parents=True)
    for entry in stdlib.parent.iterdir():  # beside the stdlib: libpythonX.Y.so, if shared
        if entry != stdlib:
            (home.parent / entry.name).symlink_to(entry)
    for entry in stdlib.iterdir():
        if entry.name not in ("site-packages", "dist-packages", "EXTERNALLY-MANAGED"):
            (home / entry.name).symlink_to(entry)
    (path / "bin").mkdir()
    interpreter = path / "bin" / "python3"
    shutil.copy2(os.path.realpath(getattr(sys, "_base_executable", sys.executable)), interpreter)
    return interpreter


def dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def temporary_entry(pid: int, suffix: str = "") -> str:
    """The name of a temporary cache entry that `pid` in this PID namespace made."""
    return f"{'ab' * 32}-{cachedir.pid_namespace()}-{pid}-0123abcd{suffix}"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """The interpreter of a fresh venv for one test."""
    return make_env(tmp_path / "env")


def run_cli(
    *args: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
    memory: int | None = None,
    stdin: int | None = None,
    module: str = "wheelplan",
) -> subprocess.CompletedProcess[str]:
    """Run `wheelplan` as a user would, in its own process (from `cwd`, default the repo).

    `memory` caps the process's address space in bytes, so that a test of a read that
    must stop fails (MemoryError) rather than taking the machine's memory when it does not.
    `stdin`, a descriptor, is the process's standard input and stays open in it under
    its own number too, as `<(...)` leaves one. `module` is what `python -m` runs:
    `tests.clihooks` runs the command with its test seams.
    """

    def cap() -> None:
        assert memory is not None
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        preexec_fn=None if memory is None else cap,
        stdin=stdin,
        pass_fds=() if stdin is None else (stdin,),
    )


def run_in_pty(args: Sequence[str | os.PathLike[str]]) -> tuple[int, str]:
    """Run wheelplan with stdout and stderr on a pseudo-terminal; return its screen text."""
    leader, follower = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "wheelplan", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        cwd=REPO,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    code = process.wait(timeout=120)
    os.close(leader)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every entry under `root`: files by sha256 and mode, links by target, folders by mode."""
    state: dict[str, tuple[str, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            relative = str(path.relative_to(root))
            info = path.lstat()
            if path.is_symlink():
                state[relative] = ("link:" + os.readlink(path), 0)
            elif path.is_dir():
                state[relative] = ("dir", info.st_mode & 0o7777)
            else:
                state[relative] = (
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    info.st_mode & 0o7777,
                )
    return state


# An entry's `snapshot` state, then its owner, group, inode and mtime in nanoseconds.
ExactTree = dict[str, tuple[str, int, int, int, int, int]]


def exact_snapshot(root: Path) -> ExactTree:
    """`snapshot`, and what only an entry left alone keeps: every entry's owner and
    group, and a file's or link's inode and modification time in nanoseconds.

    For a target that must be exactly as it was (after a refusal or a rollback): a
    rollback that put a file back by copying it, or touched it, or lost a folder's
    owner, shows here while `snapshot` sees the same bytes. Not for comparing two
    installs. A folder's inode and time are not here: a rollback recreates a removed
    folder, and `txsupport.folder_mtimes` compares folders' times where they must hold.
    """
    state: ExactTree = {}
    for relative, (kind, mode) in snapshot(root).items():
        info = (root / relative).lstat()
        if stat.S_ISDIR(info.st_mode):
            state[relative] = (kind, mode, info.st_uid, info.st_gid, 0, 0)
        else:
            state[relative] = (kind, mode, info.st_uid, info.st_gid, info.st_ino, info.st_mtime_ns)
    return state


def give_to_another_user(path: Path) -> tuple[int, int]:
    """Make `path` another user's, of another group: its new uid and gid. Only root (or
    CAP_CHOWN) may, as CI runs; elsewhere the test is skipped, saying so, rather than
    passing on a folder that was ours all along."""
    uid, gid = os.getuid() + 4242, os.getgid() + 4343
    try:
        os.chown(path, uid, gid, follow_symlinks=False)
    except OSError as error:
        # EPERM: not root; EINVAL: root of a user namespace that maps no other ids.
        if error.errno not in (errno.EPERM, errno.EINVAL):
            raise
        pytest.skip(f"cannot give a file another owner here (needs root or CAP_CHOWN): {error}")
    return uid, gid


@pytest.fixture
def deep_tree(tmp_path: Path) -> Iterator[deeptrees.DeepTree]:
    """`deeptrees.deep_tree`, and `tmp_path` removed afterwards with `rm -rf`: pytest's
    clean-up of old test folders would stop at the first tree too deep for it."""
    yield deeptrees.deep_tree
    deeptrees.remove(tmp_path)


@pytest.fixture(scope="session")
def real_wheels() -> Callable[..., list[Path]]:
    """Download (once, cached outside the repo) and return the wheels for some pins."""
    return download
