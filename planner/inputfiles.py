"""Whole files read in one piece: a plan or lock file a user names, the metadata of
what is installed in the target, and the files wheelplan writes for itself (its
journal, its cache's index, manifests and markers).

Read under a ceiling, because any of them may be something that never ends:
`/dev/zero`, or a pipe whose writer keeps writing. A plan or lock is not refused for
being a pipe, unlike a wheel (`hashing.open_regular`): `wheelplan apply <(...)` hands
the plan over as one. wheelplan's own files and installed metadata are regular files,
so anything else there is refused unread (`read_own`, `regular=True`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import BinaryIO

from planner.errors import Refused
from planner.hashing import open_regular

# A plan for the 17,000 files of the 101-wheel bench set is 9 MB: room for 25 times that.
MAX_PLAN_BYTES = 256 * 1024**2
# A lock for 5 packages is 4 KB: room for tens of thousands.
MAX_LOCK_BYTES = 64 * 1024**2
# An installed distribution's METADATA, RECORD or INSTALLER: torch's RECORD, for its
# 12,000 files, is 1.3 MB.
MAX_METADATA_BYTES = 64 * 1024**2

_CHUNK = 1024**2

_DESCRIPTOR = re.compile(r"/(?:dev/fd|proc/self/fd)/([0-9]+)")
_STANDARD = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def named_descriptor(path: str) -> int | None:
    """The descriptor number `path` names (`/dev/stdin`, `/dev/fd/3`, `/proc/self/fd/3`,
    or this process's `/proc/PID/fd/3`: what `<(...)` and a pipe give), or None for a
    path that names a file. Whether this process holds that descriptor is not asked."""
    absolute = os.path.abspath(path)
    named = _STANDARD.get(absolute)
    own = f"/proc/{os.getpid()}/fd"
    if named is None and (match := _DESCRIPTOR.fullmatch(absolute.replace(own, "/dev/fd"))):
        named = int(match.group(1))
    return named


def read_at_most(path: str, limit: int, *, regular: bool = False) -> bytes:
    """The bytes at `path`; OSError (EFBIG) when there are more than `limit`.

    A regular file is read in one call when its size allows (a 9 MB plan is read on
    every apply) and refused unread when it does not; anything else is read in chunks,
    up to one byte past the limit. With `regular`, anything else is refused unread
    instead (OSError, as `open_regular` refuses it): for files only wheelplan writes.
    """
    with open(open_regular(path), "rb") if regular else open(path, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            data = _read_stream(stream, limit)
        elif info.st_size <= limit:
            data = stream.read()
        else:
            data = None
    if data is None or len(data) > limit:
        raise OSError(errno.EFBIG, f"it is larger than {_amount(limit)}", path)
    return data


def read_input(path: str, limit: int, what: str, subject: str | None = None) -> bytes:
    """The bytes of a plan, lock or requirements file the user names, refused in one
    line calling it `what` when they cannot be read: input is said alike. `subject` is
    what the refusal names, the file itself unless another line led to it."""
    try:
        return read_at_most(path, limit)
    except OSError as error:
        raise Refused.one(subject or path, f"cannot read {what}: {error.strerror}") from None


def _amount(limit: int) -> str:
    whole, part = divmod(limit, 1024**2)
    return f"{whole} MiB" if whole and not part else f"{limit} bytes"


def _read_stream(stream: BinaryIO, limit: int) -> bytes:
    parts = []
    total = 0
    while total <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


def read_own(path: str) -> bytes:
    """A file wheelplan wrote for itself; OSError for anything but a regular file (a
    FIFO would hang the read), refused unread, and past the plan's ceiling, since none
    of them lists more than a plan does."""
    return read_at_most(path, MAX_PLAN_BYTES, regular=True)
