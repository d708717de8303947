"""Which folders in the target are mount points, which stay whatever an apply removes.

No `rmdir` takes a mount point (EBUSY), so a `.dist-info` that is one, or holds one,
would outlive its distribution, and still name it. A mount point is a folder on
another device than its parent's, or one the mount table lists: a bind mount of the
same filesystem keeps its device number. The applier reads the same table to back up
each moved file on its own mount (`applier/mounts.py`). Nothing here writes.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping

from planner.errors import Problem
from planner.listing import is_real_dir
from planner.trees import walk

# Where the kernel lists the mounts this process sees (Linux; elsewhere the device
# numbers alone tell the mounts apart).
MOUNTINFO = "/proc/self/mountinfo"
# A mount point's space, tab, newline and backslash are written as octal escapes.
_ESCAPE = re.compile(rb"\\([0-7]{3})")
# Why a `.dist-info` that goes is refused where it is, or holds, a mount point.
_STAYS = "which would then still name a distribution that is gone; unmount it first"


def mounts_staying(mounted: Mapping[str, str]) -> list[Problem]:
    """One problem for each going `.dist-info` that is, or holds, a mount point (as
    `MountPoints.of_folders` gives them), for the planner and the preflight alike."""
    return [
        Problem(
            folder,
            f"is a mount point, which no rmdir removes: it would stay, {_STAYS}"
            if point == folder
            else f"{point} would stay in this metadata folder (a mount point, which no"
            f" rmdir removes), {_STAYS}",
        )
        for folder, point in mounted.items()
    ]


def mount_points(real_prefix: str) -> frozenset[str]:
    """The mount points below `real_prefix` that the mount table lists, relative to it."""
    try:
        with open(MOUNTINFO, "rb") as table:
            lines = table.read().splitlines()
    except OSError:
        return frozenset()
    inside = os.fsencode(os.path.join(real_prefix, ""))
    points = set()
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4:  # the fifth is the mount point
            point = _ESCAPE.sub(lambda match: bytes([int(match[1], 8)]), fields[4])
            if point.startswith(inside) and len(point) > len(inside):
                points.add(os.fsdecode(point[len(inside) :]).rstrip("/"))
    return frozenset(points)


class MountPoints:
    """Tells the mount points among folders under `prefix`; the table is read once."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.listed: frozenset[str] | None = None

    @functools.cached_property
    def real_prefix(self) -> str:
        """Resolved only once a folder is looked up in the table: an apply with nothing
        to remove asks nothing of the file system here."""
        return os.path.realpath(self.prefix)

    def at_or_below(self, directory: str) -> list[str]:
        """The mount points at `directory` (relative) or at any depth in it, parents
        first. A folder that cannot be listed is not looked into: `left_below` names it."""
        top = os.path.join(self.prefix, directory)
        if not is_real_dir(top):
            return []
        return [
            relative
            for folder in walk(top, follow=False)
            if self._is_mount(
                relative := f"{directory}/{folder.path}" if folder.path else directory,
                os.fstat(folder.fd).st_dev,
            )
        ]

    def of_folders(self, folders: Iterable[str]) -> dict[str, str]:
        """Each of `folders` that is, or holds, a mount point, with the first one."""
        return {folder: points[0] for folder in folders if (points := self.at_or_below(folder))}

    def _is_mount(self, folder: str, device: int) -> bool:
        full = os.path.join(self.prefix, folder)
        try:
            if device != os.lstat(os.path.dirname(full)).st_dev:
                return True
        except OSError:
            return False
        if self.listed is None:
            self.listed = mount_points(self.real_prefix)
        if not self.listed:
            return False
        # Compared by where the folder really is: a venv's `lib64/...` is `lib/...`.
        return os.path.relpath(os.path.realpath(full), self.real_prefix) in self.listed

    def is_mount(self, folder: str) -> bool:
        """Whether `folder` (relative) is a mount point; one that is missing is not."""
        try:
            device = os.lstat(os.path.join(self.prefix, folder)).st_dev
        except OSError:
            return False
        return self._is_mount(folder, device)


__all__ = ["MOUNTINFO", "MountPoints", "mount_points", "mounts_staying"]
