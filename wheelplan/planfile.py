"""The plan file `plan -o` writes: whole or not at all, or through the descriptor it
names.

A plan a reviewer read must not be left half-written by a full disk or a file size
limit, so an ordinary file is replaced whole (applier/atomic.py). A path that is one of
this process's descriptors (`-o /dev/stdout > plan.json`, `-o /dev/stderr 2>>log`) is
written through it, as its holder writes it: opened again by name it was truncated and
overwritten from offset 0.
"""

from __future__ import annotations

import fcntl
import os
import sys

from applier.atomic import write_atomic
from planner.errors import Refused
from planner.inputfiles import named_descriptor


def _descriptor_of(path: str) -> int | None:
    """The descriptor of ours that `path` is (`/dev/stdout`, `/dev/fd/3`, or the file
    standard output goes to), or None. Opened again by name, such a file is truncated
    and written from offset 0 under what the descriptor's holder writes (`2>>log`)."""
    named = named_descriptor(path)
    descriptor = 1 if named is None else named
    try:
        given, held = os.stat(path), os.fstat(descriptor)
        access = fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_ACCMODE
    except (OSError, ValueError):
        return None
    if (given.st_dev, given.st_ino) != (held.st_dev, held.st_ino) or access == os.O_RDONLY:
        return None  # not ours, or not ours to write (`-o /dev/stdin`): opened by name
    return descriptor


def _in_place(path: str) -> bool:
    """Whether the plan file cannot be replaced: a device or pipe, or a file reached
    through another process's descriptor, whose holder would not see a new one."""
    if os.path.exists(path) and not os.path.isfile(path):
        return True
    return os.path.abspath(path).startswith(("/dev/fd/", "/dev/std", "/proc/"))


def save(path: str, pieces: list[bytes]) -> bool:
    """The plan file, whole or not at all: a write that fails (a full disk, a file size
    limit, Ctrl-C) leaves the file that was there. A device or a pipe cannot be
    replaced, and is written in place; a descriptor of ours is written through, as
    its holder writes it (standard output through its stream, so that the review
    follows the plan). True when it went to standard output.

    A failure is refused naming `path` and that the plan was being written there: the
    bare errno (`outdir: Is a directory`) did not say what was done with it."""
    descriptor = _descriptor_of(path)
    try:
        if descriptor == 1:
            sys.stdout.flush()
            sys.stdout.buffer.writelines(pieces)
            sys.stdout.buffer.flush()
        elif descriptor is not None:
            for piece in pieces:
                view = memoryview(piece)
                while view:
                    view = view[os.write(descriptor, view) :]
        elif _in_place(path):
            with open(path, "wb") as stream:
                stream.writelines(pieces)
        else:
            write_atomic(os.path.realpath(path), pieces)
    except OSError as error:
        # `path`, not the temporary file's name.
        raise Refused.one(path, f"cannot write the plan: {error.strerror or error}") from None
    return descriptor == 1


__all__ = ["save"]
