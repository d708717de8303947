"""Which mount each file the apply moves aside is on, so that its backup is on it too.

A file is moved aside by a rename, which keeps its inode, owner and times, and is
atomic, as a copy is not. A rename cannot leave its mount: not for another filesystem
(a container's site-packages volume, a btrfs subvolume: another device number), nor
for a bind mount of the same one (the same device number, which only the mount table
tells). So a file below a folder mounted on its own inside the environment is backed
up in a folder made at the top of that mount (`journal.py`), and only the others in
the prefix's journal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from planner.listing import RealPaths
from planner.mounts import mount_points

# The folders backed up in, each with the indices (in the apply's moved files) of
# the files whose backups are there; the prefix, where the rest go, is not among them.
Homes = tuple[tuple[str, tuple[int, ...]], ...]


class _Tops:
    """The top of the mount each folder is on ("" is the prefix's), each found once."""

    def __init__(self, base: str) -> None:
        self.real = RealPaths(base)
        self.points = mount_points(self.real.real_prefix)
        self.devices: dict[str, int] = {}
        self.tops: dict[str, str] = {"": ""}

    def device(self, folder: str) -> int:
        if folder not in self.devices:
            self.devices[folder] = os.stat(os.path.join(self.real.real_prefix, folder)).st_dev
        return self.devices[folder]

    def is_top(self, folder: str) -> bool:
        """Whether `folder` (a real, relative folder) is a mount of its own."""
        parent = folder.rpartition("/")[0]
        return folder in self.points or self.device(folder) != self.device(parent)

    def of(self, folder: str) -> str:
        """The top of the mount `folder` (a real, relative folder) is on."""
        below = []  # the folders on the way up whose top is not known yet
        while folder not in self.tops:
            if self.is_top(folder):
                self.tops[folder] = folder
                break
            below.append(folder)
            folder = folder.rpartition("/")[0]
        top = self.tops[folder]
        self.tops.update(dict.fromkeys(below, top))
        return top


def backup_homes(base: str, moved: Sequence[str]) -> Homes:
    """Where on their own mounts the `moved` files (relative to `base`) are backed up:
    the top of each mount inside the environment that holds some, with their indices.

    Compared by where each file's folder really is: a venv's `lib64/...` is `lib/...`.
    """
    if not moved:
        return ()
    tops = _Tops(base)
    homes: dict[str, list[int]] = {}
    for index, path in enumerate(moved):
        folder = tops.real.folder(path.rpartition("/")[0])
        # None leads outside, which the preflight refused: never moved all the same.
        top = tops.of(folder) if folder is not None else ""
        if top:
            homes.setdefault(top, []).append(index)
    return tuple((top, tuple(indices)) for top, indices in sorted(homes.items()))


def not_mounted(base: str, tops: Iterable[str]) -> list[str]:
    """Those of `tops` (real folders relative to `base`) that are no mount of their own
    now: a mount that `backup_homes` found there was unmounted since (or its folder is
    gone), so the backups made on it are not there."""
    found = _Tops(base)
    missing = []
    for top in tops:
        try:
            own = found.is_top(top)
        except OSError:
            own = False
        if not own:
            missing.append(top)
    return missing


__all__ = ["Homes", "backup_homes", "not_mounted"]
