"""Small files replaced whole: a reader sees the old bytes or the new, never a mix.

The journal's intent and commit marker, the cache's entry markers and the wheel
index are all written this way.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence

from planner.errors import name_the_file

# "<name>.<pid>.<8 hex digits>.tmp": which file it was for, and which process wrote it.
_TEMPORARY = re.compile(r"(.+)\.([0-9]+)\.[0-9a-f]{8}\.tmp")
# The longest file name, in bytes, of Linux's filesystems (ext4, xfs, btrfs, tmpfs).
_NAME_MAX = 255


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as error:
        name_the_file(error, path)
        raise
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes | Sequence[bytes], *, fsync: bool = False) -> None:
    """Write `data` (or its pieces, one after another) to a unique temporary name beside
    `path`, then rename it over `path`.

    With `fsync` the bytes and the rename are flushed to disk before this returns. An
    `OSError` that names no file (a failed write says only why) names `path`.
    """
    temporary = _temporary_beside(path)
    try:
        with open(temporary, "wb") as stream:
            stream.writelines([data] if isinstance(data, bytes) else data)
            if fsync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        name_the_file(error, path)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    if fsync:
        fsync_dir(os.path.dirname(path))


def fitting(name: str, around: int) -> str:
    """`name` cut, if it must be, so that a name of `around` more bytes still fits in a
    folder: a temporary name made from a file's near the longest a folder takes."""
    room = _NAME_MAX - around
    if len(os.fsencode(name)) > room:  # cut bytes: a name's bytes are all Linux asks
        name = os.fsdecode(os.fsencode(name)[:room])
    return name


def _temporary_beside(path: str) -> str:
    """A unique name for `path`'s new bytes, in its folder. The suffix must stay whole
    to say which process wrote it (a plan file may be given any name the folder takes)."""
    folder, name = os.path.split(path)
    suffix = f".{os.getpid()}.{os.urandom(4).hex()}.tmp"
    return os.path.join(folder, fitting(name, len(suffix)) + suffix)


def temporary_for(name: str) -> tuple[str, int] | None:
    """For a file name `write_atomic` writes first: the name it replaces and the writer's
    pid (a writer killed before its rename leaves the file behind). Else None."""
    match = _TEMPORARY.fullmatch(name)
    return None if match is None else (match.group(1), int(match.group(2)))
