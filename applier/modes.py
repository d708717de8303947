"""The mode of each file an apply creates: pip's and uv's rule, under any umask.

A plan records only whether a file is executable (0o755) or not (0o644), so that it
reads the same whatever umask applies it. pip and uv create a file as `open` does,
0o666 less the umask, and give an executable every execute bit on top. So under
umask 002 an environment stays writable by its group, and under 077 an executable is
0o711; under the usual 022 the modes are 0o644 and 0o755.
"""

from __future__ import annotations

import os


def current_umask() -> int:
    """The process's umask. Reading it means setting it for a moment (Python 3.11 has no
    `os.getumask`), so this is called before any other thread may create a file."""
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


def file_mode(planned: int, umask: int) -> int:
    """The permission bits of a file the plan gives `planned` (0o644 or 0o755)."""
    return (0o666 & ~umask) | (0o111 if planned & 0o111 else 0)


def create(path: str, flags: int, planned: int, umask: int) -> int:
    """`os.open` a new file (`flags` hold O_CREAT | O_EXCL) with its `file_mode`.

    The kernel takes the umask off the mode it is given; an executable whose execute
    bits the umask took (077 takes them from group and others) gets them back, as
    pip's `chmod` gives them.
    """
    mode = file_mode(planned, umask)
    fd = os.open(path, flags, mode)
    if mode & umask:
        try:
            os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            raise
    return fd


__all__ = ["create", "current_umask", "file_mode"]
