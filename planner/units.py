"""Work units: a partition of every write into disjoint groups of about equal cost.

Each destination lands in exactly one unit, so workers that own whole units never
touch the same path and need no locks. Units are cut from the writes in archive
order, which keeps each worker reading a wheel front to back, and are balanced by
what each file costs to write (per file, per byte, per byte inflated), so one huge
wheel is split and many small ones grouped.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from planner.plan import FileEntry, Unit

# What writing a file costs a worker, in nanoseconds of one core: fitted to the 16,735
# members of the 101 bench wheels, each timed as a worker writes it (2 cores, tmpfs).
# A file costs about 17 µs (open, write, close and the Python around them), each of its
# bytes 1.5 ns (hashed and written), and each byte it is inflated from 3 ns more.
FILE_NS = 17_000
BYTE_NS = 1.5
DEFLATED_BYTE_NS = 3.0
# A file linked from the cache instead: one `lstat`, one `link` (timed in a warm apply).
LINK_NS = 14_000
# Enough units to balance any worker count a machine is likely to have.
TARGET_UNITS = 64
# A small install gets fewer units: none lighter than about 6 ms of work.
MIN_UNIT_WEIGHT = 6_000_000


def _order(entry: FileEntry) -> tuple[str, int, str]:
    source = entry.source
    assert source is not None
    return (source.wheel or "", source.offset or 0, entry.path)


def weight(entry: FileEntry) -> int:
    """What writing `entry` from its wheel costs a worker, in nanoseconds (an estimate)."""
    source = entry.source
    assert source is not None
    # A zip member's method 8 is deflate, zlib's own number for it.
    deflated = (source.compressed_size or 0) if source.compression == zlib.DEFLATED else 0
    return FILE_NS + int(BYTE_NS * source.size + DEFLATED_BYTE_NS * deflated)


def partition(writes: Sequence[FileEntry]) -> tuple[Unit, ...]:
    """Cut `writes` (entries whose bytes are known at plan time) into units."""
    ordered = sorted(writes, key=_order)
    weights = list(map(weight, ordered))
    limit = max(sum(weights) // TARGET_UNITS + 1, MIN_UNIT_WEIGHT)
    units: list[Unit] = []
    start = 0
    load = 0
    for end, entry_weight in enumerate(weights, 1):
        load += entry_weight
        if load >= limit:
            units.append(_unit(len(units), ordered[start:end]))
            start, load = end, 0
    if start < len(ordered):
        units.append(_unit(len(units), ordered[start:]))
    return tuple(units)


def _unit(index: int, entries: Sequence[FileEntry]) -> Unit:
    nbytes = sum(entry.source.size for entry in entries if entry.source is not None)
    return Unit(index, nbytes, tuple(entry.path for entry in entries))
