"""Folder trees too deep for a recursive walk, or too long for a path, made fast; and
a folder a walk cannot list.

Each folder is made relative to its parent's descriptor, so a tree of any depth takes
milliseconds and no path is ever too long; `rm -rf` removes what a test leaves, where
pytest's own clean-up (`shutil.rmtree`) would stop with RecursionError.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Deeper than a recursive walk can go, from any test's stack.
DEPTH = sys.getrecursionlimit() + 500
# A folder name that takes 20 levels past PATH_MAX (4,096 bytes): a tree too long for
# paths, and not deep at all.
LONG = "n" * 250
LONG_DEPTH = 20
# What the `deep_tree` fixture gives: `deep_tree` below.
DeepTree = Callable[..., str]


def deep_tree(folder: Path, depth: int = DEPTH, name: str = "d", leaf: str = "stray.txt") -> str:
    """`depth` folders named `name`, each in the one before, in `folder` (made if
    missing; so are the others), and an empty file `leaf` in the last; the file's path
    from `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    return "/".join([*[name] * depth, leaf])


def remove(path: Path) -> None:
    """Remove a tree of any depth, as `rm` does, whatever the code under test did."""
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


def refuse_listing(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make listing `folder` by its descriptor fail as an unreadable folder does: the
    tests run as root, whom no mode keeps out."""
    inode = folder.stat().st_ino
    listing = os.scandir

    def refusing(fd: Any) -> Any:
        if isinstance(fd, int) and os.fstat(fd).st_ino == inode:
            raise PermissionError(errno.EACCES, "Permission denied")
        return listing(fd)

    monkeypatch.setattr(os, "scandir", refusing)
