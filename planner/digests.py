"""Wheel hashes taken ahead by a forked child, while this process parses the wheels.

Parsing archives is interpreter work and hashing them is not, but a hashing thread
beside a parsing one waits for the interpreter lock at every step (up to the 5 ms
switch interval each time), so the two barely overlap. A child process started
before anything else runs hashes the wheels in the order they will be read and
reports each hash as it is done; reading the 101 bench wheels takes 0.18 s instead
of 0.26 s.

A hash from the child is used for a descriptor only when that file's stat stamp
(device, inode, size, mtime, ctime) is the one the child saw on its own descriptor,
the rule the wheel index already follows; otherwise, or if the child failed, the
wheel is hashed here.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Sequence

from planner.hashing import file_stamp, mapped_sha256, open_regular
from planner.wheelhash import DigestCache

# Fewer bytes of wheels than this are hashed here: a process costs more than it saves.
MIN_BYTES = 4 * 1024 * 1024


class ForkedDigests:
    """A DigestCache whose misses were hashed ahead by a child; `inner` is asked first."""

    def __init__(self, paths: Sequence[str], inner: DigestCache | None = None) -> None:
        self.inner = inner
        self.pid = 0
        self.fd = -1
        self.pending = b""
        # Absolute path -> (stamp, sha256) as the child reported them; None: it could not.
        self.found: dict[str, tuple[list[int], str] | None] = {}
        # The paths the child hashes, in its order (its reports name them by position).
        self.order: list[str] = []
        self.hashed_ahead: frozenset[str] = frozenset()
        wanted = []
        total = 0
        for path in dict.fromkeys(os.path.abspath(path) for path in paths):
            try:
                info = os.stat(path)
            except OSError:
                continue  # the reader names the problem
            if inner is None or inner.known(path, info) is None:
                wanted.append(path)
                total += info.st_size
        if hasattr(os, "fork") and total >= MIN_BYTES:
            self.order = wanted
            self.hashed_ahead = frozenset(wanted)
            self._fork()

    def _fork(self) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child, which never returns
            os.close(read_end)
            _hash_all(self.order, write_end)
        os.close(write_end)
        self.pid, self.fd = pid, read_end

    def known(self, path: str, info: os.stat_result) -> str | None:
        return self.inner.known(path, info) if self.inner is not None else None

    def digest_fd(self, path: str, fd: int, compute: Callable[[int], str]) -> str:
        def ahead(fd: int) -> str:
            stamp = file_stamp(os.fstat(fd))
            found = self._wait_for(path)
            if found is not None and found[0] == stamp:
                return found[1]
            return compute(fd)

        if self.inner is None:
            return ahead(fd)
        return self.inner.digest_fd(path, fd, ahead)

    def abandon(self, path: str) -> None:
        """Stop the child if it has yet to report `path`, which the reader refused: it
        would hash that file to the end (a sparse terabyte, say) before any other.

        Called from the reading thread while a hashing thread may wait in `_wait_for`,
        which then reads the end of the pipe; the child is reaped by `close` alone, so
        the pid signalled here is still the child's.
        """
        if self.pid and path in self.hashed_ahead and path not in self.found:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        if self.inner is not None:
            self.inner.abandon(path)

    def _wait_for(self, path: str) -> tuple[list[int], str] | None:
        """The child's report on `path`, reading reports until it comes (or never will)."""
        while path not in self.found and self.fd >= 0 and path in self.hashed_ahead:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                os.close(self.fd)  # the child is gone: every other wheel is hashed here
                self.fd = -1
                break
            self.pending += chunk
            *lines, self.pending = self.pending.split(b"\n")
            for line in lines:
                self._take(line.decode())
        return self.found.get(path)

    def _take(self, line: str) -> None:
        index, _, rest = line.partition(" ")
        path = self.order[int(index)]
        if rest == "-":
            self.found[path] = None
            return
        *stamp, sha256 = rest.split(" ")
        self.found[path] = ([int(value) for value in stamp], sha256)

    def close(self) -> None:
        """Stop and reap the child (it may still be hashing wheels no one asks about)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(self.pid, 0)
            self.pid = 0


def _hash_all(paths: Sequence[str], out: int) -> None:  # pragma: no cover - in the child
    """Report `index stamp... sha256` (or `index -`) per path, in order, then exit."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for index, path in enumerate(paths):
            try:
                fd = open_regular(path)
                try:
                    stamp = file_stamp(os.fstat(fd))
                    line = f"{index} {' '.join(map(str, stamp))} {mapped_sha256(fd)}\n"
                finally:
                    os.close(fd)
            except OSError:
                line = f"{index} -\n"
            data = line.encode()
            while data:
                data = data[os.write(out, data) :]
    except BaseException:
        code = 1
    finally:
        os._exit(code)
