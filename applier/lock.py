"""One apply or recover per environment at a time.

This is the single lock wheelplan takes: on the environment's own directory, held
for the whole transaction and never inside the parallel phase. The kernel drops it
when the process dies, so a killed apply cannot leave a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from planner.errors import Refused


@contextmanager
def target_lock(base: str) -> Iterator[None]:
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused.one(
                base, "another wheelplan apply or recover is running on this environment"
            ) from None
        yield
    finally:
        os.close(fd)
