"""The mounts the kernel lists inside the environment, read for the planner and the
applier alike: a bind mount of the environment's own filesystem has its device
number, so only this table tells it apart (`applier/mounts.py`). Nothing here writes.
"""

from __future__ import annotations

import os
import re

# Where the kernel lists the mounts this process sees (Linux; elsewhere the device
# numbers alone tell the mounts apart).
MOUNTINFO = "/proc/self/mountinfo"
# A mount point's space, tab, newline and backslash are written as octal escapes.
_ESCAPE = re.compile(rb"\\([0-7]{3})")


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


__all__ = ["MOUNTINFO", "mount_points"]
