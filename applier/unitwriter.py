"""What one worker does with the units it is given, in a thread or a forked process
alike: each file linked from the unpacked-wheel cache, extracted into a new cache entry
and linked from there, or written from its wheel, its result kept in the worker's slot.

Apart from `workers.py`, which runs the workers in parallel and gathers what they
report: how a file is placed is the same whichever way they run.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence

import attrs

from applier.links import Linker
from applier.streams import write_file
from planner.hashing import open_regular
from planner.plan import FileEntry, Source, Unit


@attrs.define
class Slot:
    """Everything one worker produces; only that worker (or its reader) writes to it."""

    written: dict[str, tuple[str, int]] = attrs.field(factory=dict)
    # Wheels whose cache entry had a changed file (written from the wheel instead).
    damaged: set[str] = attrs.field(factory=set)
    # Wheels whose new cache entry could not take a file: not published, this time.
    dropped: set[str] = attrs.field(factory=set)
    # Planned path -> size, mtime (ns) and mode of the copy extracted into a new cache
    # entry for it: that entry's marker, stat'ed here in parallel, not by the driver.
    stamps: dict[str, tuple[int, int, int]] = attrs.field(factory=dict)
    bytes_done: int = 0
    error: BaseException | None = None


@attrs.frozen
class WriteContext:
    base: str
    files: Mapping[str, FileEntry]
    wheel_paths: Mapping[str, str]
    shebang: bytes
    # The apply's umask, read once: the mode of every file created (`modes.file_mode`).
    umask: int
    fsync: bool = False
    mtime: int | None = None
    # From the unpacked-wheel cache (see applier/cache.py): planned path -> cached file to
    # link from, with the size, mtime (ns) and mode its entry's marker records (a
    # `cache.CachedFile`); planned path -> file of a new cache entry to extract into,
    # then link.
    linked: Mapping[str, tuple[str, int, int, int]] = attrs.field(factory=dict)
    staged: Mapping[str, str] = attrs.field(factory=dict)
    link_modes: tuple[str, ...] = ()


def _intact(cached: tuple[str, int, int, int]) -> bool:
    """Whether a cached file is still the regular file its marker describes: one `lstat`."""
    path, size, mtime_ns, mode = cached
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        info.st_mode == stat.S_IFREG | mode
        and info.st_size == size
        and info.st_mtime_ns == mtime_ns
    )


def write_units(
    context: WriteContext,
    units: Sequence[Unit],
    slot: Slot,
    stop: Callable[[], bool],
    unit_done: Callable[[], None] | None = None,
) -> None:
    """Write `units` in order; results and progress go to `slot`, errors propagate."""
    handles: dict[str, int] = {}
    files = context.files
    # Planned paths are relative to `base`: one concatenation, not os.path.join's checks.
    inside = os.path.join(context.base, "")
    linked, staged = context.linked, context.staged
    linker = Linker(context.link_modes, context.umask, context.fsync, context.mtime)
    written = slot.written
    try:
        for unit in units:
            for path in unit.paths:
                if stop():
                    return
                source = files[path].source
                assert source is not None
                cached = linked.get(path)
                if cached is not None:
                    if _intact(cached):
                        try:
                            linker.place(
                                cached[0], inside + path, source.mode, source.size, cached[3]
                            )
                        except FileNotFoundError:
                            pass  # the entry went away (another apply replaced it): from the wheel
                        else:
                            written[path] = (source.hash, source.size)
                            slot.bytes_done += source.size
                            continue
                    else:
                        # Changed, missing or replaced: written from the wheel, and the entry
                        # is extracted again once the install is complete.
                        assert source.wheel is not None
                        slot.damaged.add(source.wheel)
                wheel_fd = None
                if source.wheel is not None:
                    wheel_fd = handles.get(source.wheel)
                    if wheel_fd is None:
                        # A FIFO swapped in since the wheel was checked is refused, not
                        # waited on.
                        wheel_fd = open_regular(context.wheel_paths[source.wheel])
                        handles[source.wheel] = wheel_fd
                destination = inside + path
                staging = staged.get(path)
                result = None
                if staging is not None and source.wheel not in slot.dropped:
                    result = _through_cache(
                        staging, path, source, destination, wheel_fd, context, linker, slot
                    )
                if result is not None:
                    written[path] = result
                else:
                    written[path] = write_file(
                        destination,
                        source,
                        wheel_fd,
                        context.shebang,
                        umask=context.umask,
                        fsync=context.fsync,
                        mtime=context.mtime,
                    )
                slot.bytes_done += source.size
            if unit_done is not None:
                unit_done()
    finally:
        for fd in handles.values():
            os.close(fd)


def _through_cache(
    staging: str,
    path: str,
    source: Source,
    destination: str,
    wheel_fd: int | None,
    context: WriteContext,
    linker: Linker,
    slot: Slot,
) -> tuple[str, int] | None:
    """Write a planned file into its new cache entry, then place it from there: its
    RECORD hash and size, or None when it is still to be written from the wheel.

    A failure on the cache's side (its filesystem full, its folder deleted, which the
    README calls safe) drops the entry (`slot.dropped`) and never fails the apply: the
    install must not depend on the cache. The target's own failures are raised, and so
    is a member that does not match its RECORD hash (the wheel's fault, not the cache's).
    """
    assert source.wheel is not None
    try:
        written = write_file(staging, source, wheel_fd, context.shebang, umask=context.umask)
    except OSError:
        slot.dropped.add(source.wheel)
        return None
    try:
        linker.place(staging, destination, source.mode, source.size)
    except FileNotFoundError:
        # The copy went with the cache folder, before anything was made in the target;
        # a folder missing in the target fails the write from the wheel as well.
        slot.dropped.add(source.wheel)
        return None
    try:
        info = os.lstat(staging)
    except OSError:
        slot.dropped.add(source.wheel)  # placed all the same
    else:
        slot.stamps[path] = (info.st_size, info.st_mtime_ns, stat.S_IMODE(info.st_mode))
    return written
