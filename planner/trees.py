"""Folder trees walked at any depth, each folder opened by its parent's descriptor.

`os.walk` calls itself once per level, so a tree some 1,000 folders deep raises
`RecursionError` (no `OSError`: nothing that expects one catches it); and it opens each
folder by its whole path, so a folder whose path passes PATH_MAX (4,096 bytes) is
skipped in silence, as if it were empty. `walk` keeps the folders still to visit on a
list of its own and opens each one relative to its parent, so no depth and no path
length stops it. It only reads: the planner walks the target with it, and the applier
removes trees with it (`applier/removal.py`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator

import attrs

_FOLDER = os.O_RDONLY | os.O_DIRECTORY
# How many folders of the way down keep their descriptors open. One deeper is closed on
# the way down and opened again as its child's "..", checked to be the same folder: a
# walk holds at most this many descriptors at any depth (often 1,024 are all a process
# may have), and a tree wheelplan makes (at most 256 deep) seldom needs any reopened.
_KEPT = 64


@attrs.frozen
class Folder:
    """One folder of a walk, as `os.walk` yields it but by a relative name, with the
    entries sorted into real folders and the rest."""

    path: str  # relative to the walk's top, POSIX; "" is the top itself
    fd: int  # open until the walk goes on: for `dir_fd`, so no path is too long
    folders: list[str]  # top-down, remove names from it to leave them unwalked
    others: list[str]  # everything else: a symlink, even to a folder, is an entry


@attrs.define
class _Frame:
    """A folder on the way down, and how far its subfolders are walked."""

    path: str
    fd: int | None  # None while a deep descendant is walked (see _KEPT)
    folders: list[str]
    others: list[str]
    walked: int = 0
    identity: tuple[int, int] = (0, 0)  # (device, inode), taken when `fd` is closed

    def folder(self) -> Folder:
        assert self.fd is not None
        return Folder(self.path, self.fd, self.folders, self.others)


OnError = Callable[[OSError], object]


def walk(
    top: str, *, topdown: bool = True, follow: bool = True, onerror: OnError | None = None
) -> Iterator[Folder]:
    """Every folder of the tree at `top`, parents first (`topdown`) or last.

    Symlinks inside are entries, never followed; one at `top` itself is followed unless
    `follow` is false (then it is an error, as a file there is). A folder that cannot
    be opened or listed is left out, as `os.walk` leaves it: given to `onerror` (its
    `filename` the whole path), else ignored. A folder moved elsewhere while the walk
    is far below it raises `OSError` (ESTALE): the way back up from it is its "..",
    which then leads into another folder, and the walk must not go on there.
    """
    try:
        fd = os.open(top, _FOLDER if follow else _FOLDER | os.O_NOFOLLOW)
    except OSError as error:
        if onerror is not None:
            onerror(error)
        return
    root = _listed(fd, "", top, onerror)
    if root is None:
        return
    stack = [root]
    try:
        if topdown:
            yield root.folder()
        while stack:
            frame = stack[-1]
            if frame.walked < len(frame.folders):
                name = frame.folders[frame.walked]
                frame.walked += 1
                path = f"{frame.path}/{name}" if frame.path else name
                assert frame.fd is not None
                try:
                    fd = os.open(name, _FOLDER | os.O_NOFOLLOW, dir_fd=frame.fd)
                except OSError as error:
                    _report(error, top, path, onerror)
                    continue
                child = _listed(fd, path, top, onerror)
                if child is None:
                    continue
                if len(stack) >= _KEPT:
                    info = os.fstat(frame.fd)
                    frame.identity = (info.st_dev, info.st_ino)
                    os.close(frame.fd)
                    frame.fd = None
                stack.append(child)
                if topdown:
                    yield child.folder()
                continue
            if not topdown:
                yield frame.folder()
            stack.pop()
            assert frame.fd is not None
            try:
                if stack and stack[-1].fd is None:
                    stack[-1].fd = _parent(frame.fd, stack[-1], top)
            finally:
                os.close(frame.fd)
    finally:
        for frame in stack:
            if frame.fd is not None:
                os.close(frame.fd)


def _listed(fd: int, path: str, top: str, onerror: OnError | None) -> _Frame | None:
    """The folder open at `fd`, listed; None (and `fd` closed) if it cannot be."""
    folders: list[str] = []
    others: list[str] = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    is_folder = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_folder = False  # as os.walk: gone, or not to be looked at
                (folders if is_folder else others).append(entry.name)
    except OSError as error:
        os.close(fd)
        _report(error, top, path, onerror)
        return None
    return _Frame(path, fd, folders, others)


def _parent(fd: int, frame: _Frame, top: str) -> int:
    """The folder of `frame` opened again, as the ".." of its child open at `fd`."""
    parent = os.open("..", _FOLDER, dir_fd=fd)
    info = os.fstat(parent)
    if (info.st_dev, info.st_ino) != frame.identity:
        os.close(parent)
        where = os.path.join(top, frame.path) if frame.path else top
        raise OSError(errno.ESTALE, "the folder was moved while it was walked", where)
    return parent


def _report(error: OSError, top: str, path: str, onerror: OnError | None) -> None:
    if onerror is not None:
        error.filename = os.path.join(top, path) if path else top
        onerror(error)


__all__ = ["Folder", "OnError", "walk"]
