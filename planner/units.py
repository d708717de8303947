"""Work units: a partition of every write into disjoint, byte-balanced groups.

Each destination lands in exactly one unit, so workers that own whole units never
touch the same path and need no locks. Units are cut from the writes in archive
order, which keeps each worker reading a wheel front to back, and are balanced by
bytes plus a per-file cost, so one huge wheel is split and many small ones grouped.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.plan import FileEntry, Unit

# What one file costs beyond its bytes (open, write, close, chmod), in byte-equivalents.
PER_FILE_COST = 16 * 1024
# Enough units to balance any worker count a machine is likely to have.
TARGET_UNITS = 64
MIN_UNIT_WEIGHT = 4 * 1024**2


def _order(entry: FileEntry) -> tuple[str, int, str]:
    source = entry.source
    assert source is not None
    return (source.wheel or "", source.offset or 0, entry.path)


def weight(entry: FileEntry) -> int:
    assert entry.source is not None
    return entry.source.size + PER_FILE_COST


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
            units.append(_unit(len(units), ordered[start:end], weights[start:end]))
            start, load = end, 0
    if start < len(ordered):
        units.append(_unit(len(units), ordered[start:], weights[start:]))
    return tuple(units)


def _unit(index: int, entries: Sequence[FileEntry], weights: Sequence[int]) -> Unit:
    # A unit's bytes: its files' weights without their per-file cost.
    nbytes = sum(weights) - PER_FILE_COST * len(entries)
    return Unit(index, nbytes, tuple(entry.path for entry in entries))
