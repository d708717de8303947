"""The wheel index: a wheel's sha256 by its path, trusted while its stat is unchanged.

`index-v1.json` in the cache directory maps a wheel path to its device, inode, size,
mtime, ctime and sha256. A wheel whose stat is unchanged since it was hashed is not
hashed again; the planner (for the plan's sha256) and the applier (to prove the wheel
is the one planned) both use it. A wheel modified less than two seconds before it was
hashed is not indexed, since its timestamps might not change on a further write in
the same tick. Every member is still checked against its RECORD hash whenever it is
read from the wheel, whatever the index says.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from applier.atomic import write_atomic
from applier.cachedir import INDEX, WHEEL_SHA256
from planner.hashing import file_sha256, file_stamp
from planner.inputfiles import read_own

FORMAT = 1
# Wheels modified this recently are hashed but not indexed (see the module docstring).
_SETTLED_NS = 2_000_000_000
_MAX_INDEX = 10_000


def _sha256_of(entry: object) -> str | None:
    """The sha256 of a well-formed index entry (its stamp's five numbers, then the hash
    as 64 hex digits: it goes into plans, cache paths and direct_url.json)."""
    if (
        isinstance(entry, list)
        and len(entry) == 6
        and isinstance(entry[5], str)
        and WHEEL_SHA256.fullmatch(entry[5])
    ):
        return entry[5]
    return None


class WheelIndex:
    """sha256 of wheels by path, trusted while the file's stat is unchanged.

    With no `directory` (--no-cache) it is held in memory only: one process that plans
    and applies (`install`) then hashes each wheel once, as it does with a cache.
    """

    def __init__(self, directory: str | None) -> None:
        self.path = os.path.join(directory, INDEX) if directory is not None else None
        self.entries: dict[str, list[int | str]] = {}
        self.changed = False
        if self.path is None:
            return
        try:
            data = json.loads(read_own(self.path))
            if data.get("format") == FORMAT and isinstance(data.get("wheels"), dict):
                self.entries = data["wheels"]
        except (OSError, ValueError, AttributeError, RecursionError):
            pass  # no index yet, or a damaged one: start afresh

    def known(self, path: str, info: os.stat_result) -> str | None:
        """The indexed sha256 of the wheel at `path` with stat `info`, if still valid."""
        entry = self.entries.get(os.path.abspath(path), [])
        sha256 = _sha256_of(entry)
        if sha256 is not None and entry[:5] == file_stamp(info):
            return sha256
        return None

    def sha256s(self) -> set[str]:
        """Every sha256 the index holds."""
        return {sha256 for sha256 in map(_sha256_of, self.entries.values()) if sha256 is not None}

    def remember(self, path: str, info: os.stat_result, sha256: str) -> None:
        """Index a hash taken after `info` was read (so a later write changes the stamp)."""
        if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) < _SETTLED_NS:
            return
        self.entries[os.path.abspath(path)] = [*file_stamp(info), sha256]
        self.changed = True

    def digest_fd(self, path: str, fd: int, compute: Callable[[int], str]) -> str:
        """The sha256 of the open wheel `fd`: indexed, or `compute(fd)` and indexed."""
        info = os.fstat(fd)
        known = self.known(path, info)
        if known is not None:
            return known
        sha256 = compute(fd)
        self.remember(path, info, sha256)
        return sha256

    def abandon(self, path: str) -> None:
        """Nothing to stop: `compute` is the caller's, and the caller stops it."""

    def save(self) -> None:
        """Write the index if it changed; the cache is an optimisation, so errors are ignored."""
        if not self.changed or self.path is None:
            return
        entries = dict(list(self.entries.items())[-_MAX_INDEX:])
        data = json.dumps({"format": FORMAT, "wheels": entries}, sort_keys=True).encode()
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            write_atomic(self.path, data)
        self.changed = False


# What `Digests` gives for a wheel whose size is not the one expected (no sha256 is).
SIZE_DIFFERS = "size differs"


class Digests:
    """The sha256 of each wheel (or why it cannot be read), started now, collected later.

    Wheels the index knows are looked up; the others are hashed by two threads split by
    size. hashlib releases the interpreter lock on large buffers, so both cores hash,
    and the caller can go on (validating the plan) meanwhile.
    """

    def __init__(
        self,
        paths: Sequence[str],
        index: WheelIndex | None,
        sizes: Mapping[str, int | None] | None = None,
    ) -> None:
        self.index = index
        self.results: dict[str, str | OSError] = {}
        missing: list[tuple[str, os.stat_result]] = []
        for path in paths:
            try:
                info = os.stat(path)
            except OSError as error:
                self.results[path] = error
                continue
            expected = sizes.get(path) if sizes is not None else None
            # (Not a FIFO or a device, whose size says nothing: reading refuses those.)
            if expected is not None and stat.S_ISREG(info.st_mode) and info.st_size != expected:
                self.results[path] = SIZE_DIFFERS  # not read: it may be a huge sparse file
                continue
            known = index.known(path, info) if index is not None else None
            if known is not None:
                self.results[path] = known
            else:
                missing.append((path, info))
        self.shares: list[list[tuple[str, os.stat_result]]] = [[], []]
        loads = [0, 0]
        for path, info in sorted(missing, key=lambda item: -item[1].st_size):
            lighter = 0 if loads[0] <= loads[1] else 1
            self.shares[lighter].append((path, info))
            loads[lighter] += info.st_size
        self.found: list[dict[str, str | OSError]] = [{}, {}]
        self.threads = [
            threading.Thread(target=_hash_share, args=(share, out), daemon=True)
            for share, out in zip(self.shares, self.found, strict=True)
            if share
        ]
        for thread in self.threads:
            thread.start()

    def result(self) -> dict[str, str | OSError]:
        """Wait for the hashing; index what was hashed."""
        for thread in self.threads:
            thread.join()
        for share in self.shares:
            for path, info in share:
                result = self.found[0].get(path) or self.found[1][path]
                self.results[path] = result
                if self.index is not None and isinstance(result, str):
                    self.index.remember(path, info, result)
        self.shares = [[], []]
        return self.results


def _hash_share(share: list[tuple[str, os.stat_result]], out: dict[str, str | OSError]) -> None:
    for path, _ in share:
        try:
            out[path] = file_sha256(path)
        except OSError as error:
            out[path] = error


def wheel_digests(paths: Sequence[str], index: WheelIndex | None) -> dict[str, str | OSError]:
    """The sha256 of each wheel (or why it cannot be read): indexed, else hashed."""
    return Digests(paths, index).result()
