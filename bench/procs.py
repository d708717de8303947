"""Process and filesystem helpers: timed runs with per-process peak memory, venvs, tree counts.

Kept apart from the rows so the timing method is the same for every installer and can be
reviewed in one place.
"""

import mmap
import os
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Timed:
    """Wall time, exit code, peak RSS (KiB) and KiB read from storage of one command and the
    children it waited for."""

    seconds: float
    returncode: int
    max_rss_kb: int
    # ru_inblock, in KiB: what had to come from the disk rather than the page cache (the
    # program's own files or the wheels, paged out since their last use).
    read_kb: int = 0


def run_timed(
    command: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Timed:
    """Run one command with its output appended to `log`, timing from spawn to reap.

    os.wait4 gives this child's own rusage: getrusage(RUSAGE_CHILDREN) would report the largest
    child so far, so one big earlier process would hide every later one's peak memory. Output
    goes to a file rather than a pipe so no reader thread competes with the process timed.
    """
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(command)}\n".encode())
        out.flush()
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env
            )
        except OSError as exc:
            out.write(f"cannot start: {exc}\n".encode())
            return Timed(0.0, 127, 0)
        killer = threading.Timer(timeout, proc.kill) if timeout else None
        if killer:
            killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if killer:
                killer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen
    return Timed(seconds, proc.returncode, usage.ru_maxrss, usage.ru_inblock // 2)


def log_tail(log: Path, lines: int = 12, width: int = 240) -> list[str]:
    """The end of a command log, long lines (the wheel list) cut, for saying why a row failed."""
    try:
        text = log.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return []
    return [line if len(line) <= width else line[: width - 3] + "..." for line in text[-lines:]]


def make_venv(python: Path, where: Path) -> Path:
    """Create an empty venv (no pip) and return its python; never inside the timed region."""
    subprocess.run(
        [str(python), "-m", "venv", "--without-pip", str(where)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return where / "bin" / "python"


@dataclass(frozen=True)
class TreeCount:
    """Regular files (and symlinks) under a folder and their total size."""

    files: int
    bytes: int

    def minus(self, other: "TreeCount") -> "TreeCount":
        """What an install added on top of a baseline tree."""
        return TreeCount(self.files - other.files, self.bytes - other.bytes)


def count_tree(root: Path) -> TreeCount:
    """Walk without following links; a file hard-linked from a cache still counts in full."""
    files = size = 0
    for folder, _, names in os.walk(root):
        for name in names:
            info = os.lstat(os.path.join(folder, name))
            files += 1
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
    return TreeCount(files, size)


def remove_tree(path: Path) -> None:
    """Delete a tree even where an installer or cache left read-only files or folders."""
    if not path.exists():
        return

    def retry(function: Callable[..., Any], target: str, *_: object) -> None:
        os.chmod(os.path.dirname(target), 0o755)
        if os.path.lexists(target) and not os.path.islink(target):
            os.chmod(target, 0o755)
        function(target)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


def read_all(paths: Sequence[Path]) -> None:
    """Pull the wheels into the page cache so the first timed row does not pay for disk reads."""
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def warm_memory(size: int) -> None:
    """Touch `size` bytes of fresh memory and free them, so the next run's new pages are ones
    the machine already backs.

    Some virtual machines give memory the guest freed back to the host (this one's virtio
    balloon reports free pages), and touching such a page again costs far more: writing 1 GiB into
    tmpfs took 0.31 s in memory used just before and 2.8 s in memory handed back. A run that
    needs more memory than the last few rows freed (the first round of a set, after the
    warm caches took theirs) would pay that; on torch, with 6 GiB held in tmpfs and 40 s
    idle, `apply` took 1.6-2.0 s against 1.06-1.08 s right after 3 GiB were touched.
    """
    available = meminfo_bytes("MemAvailable")
    size = min(size, available // 2) if available else size
    if size <= 0:
        return
    # In a child of its own: a process's peak RSS passes to the children it starts, and
    # every run's peak memory is measured.
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            zeros = bytes(1 << 26)
            with mmap.mmap(-1, size) as memory:
                for start in range(0, size, len(zeros)):
                    memory.write(zeros[: size - start])
            code = 0
        finally:
            os._exit(code)
    os.waitpid(pid, 0)


def meminfo_bytes(key: str) -> int | None:
    """A /proc/meminfo value (`MemTotal`, `MemAvailable`) in bytes; None when unreadable."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
