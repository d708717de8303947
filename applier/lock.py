"""One apply or recover per environment at a time, and none while uv changes it.

wheelplan's own lock is on the environment's directory, held for the whole
transaction and never inside the parallel phase. uv locks a venv with `flock` on
`<venv>/.lock`, which it leaves behind after its first `uv pip` command: when that
file is there, it is locked too, so uv waits for an apply and an apply refuses while
uv runs. It is never created (a refused apply must leave the target as it was), so a
venv uv has not changed yet is not guarded from it. The kernel drops both locks when
the process dies, so a killed apply cannot leave a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from planner.errors import Refused

UV_LOCK = ".lock"


def _take(fd: int, subject: str, busy: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise Refused.one(subject, busy) from None


def _open_uv_lock(base: str) -> int | None:
    """uv's lock file, opened without following a link or blocking on a FIFO; None when
    there is no regular file of that name."""
    try:
        fd = os.open(
            os.path.join(base, UV_LOCK),
            os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
        )
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


@contextmanager
def target_lock(base: str) -> Iterator[None]:
    with contextlib.ExitStack() as held:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        held.callback(os.close, fd)
        _take(fd, base, "another wheelplan apply or recover is running on this environment")
        uv_fd = _open_uv_lock(base)
        if uv_fd is not None:
            held.callback(os.close, uv_fd)
            _take(
                uv_fd,
                os.path.join(base, UV_LOCK),
                "locked by another installer (uv holds it while it changes the environment);"
                " try again when it is done",
            )
        yield
