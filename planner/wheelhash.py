"""A wheel file's sha256, taken while its archive is parsed, or found without hashing.

Apart from `planner.hashing`, which the applier's workers reach as they open each wheel:
this runs a thread and stops it with an Event, and the parallel phase must reach no
such primitive (tests/lockscan.py).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Protocol

from planner.hashing import mapped_sha256


class DigestCache(Protocol):
    """Remembers wheel hashes (applier.wheelindex.WheelIndex); `compute` hashes on a miss.

    The reading thread calls `abandon` when it refuses a wheel that `digest_fd` may
    still be hashing in another thread (planner.digests.ForkedDigests waits for a child).
    """

    def digest_fd(self, path: str, fd: int, compute: Callable[[int], str]) -> str: ...

    def known(self, path: str, info: os.stat_result) -> str | None: ...

    def abandon(self, path: str) -> None: ...


# Wheels at least this big are hashed by a second thread while the archive is parsed.
BACKGROUND_HASH = 8 * 1024 * 1024


class Hashing:
    """A wheel's sha256: computed at once for a small wheel, else by a thread while the
    archive is parsed (hashlib releases the interpreter lock on large buffers, so one
    core hashes the file while the other parses the central directory).

    A wheel the parsing refuses is not hashed to the end: any file can be given as a
    wheel, a sparse terabyte too.
    """

    def __init__(
        self, path: str, fd: int, digests: DigestCache | None, *, background: bool
    ) -> None:
        self._path = path
        self._digests = digests
        self._stop = threading.Event()
        self._outcome: list[str | BaseException] = []
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, args=(fd,), daemon=True)
            self._thread.start()
        else:
            self._run(fd)

    def _run(self, fd: int) -> None:
        compute = functools.partial(mapped_sha256, stop=self._stop)
        try:
            if self._digests is None:
                self._outcome.append(compute(fd))
            else:
                self._outcome.append(self._digests.digest_fd(self._path, fd, compute))
        except BaseException as error:  # raised again by `result`, in the reading thread
            self._outcome.append(error)

    def abandon(self) -> None:
        """Stop the hash wherever it is: the wheel is refused, and `result` is not asked."""
        self._stop.set()
        if self._digests is not None:
            self._digests.abandon(self._path)

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def result(self) -> str:
        self.join()
        outcome = self._outcome[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome
