"""The parallel phase: each worker writes whole work units, alone.

The plan guarantees that units are disjoint, so workers share nothing they write
to: no lock, no semaphore, no queue between writers. Each worker opens its own
handle on every wheel it reads, keeps its results and its progress count in its
own slot, and stops at the next file once any worker has failed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence

import attrs

from applier.streams import write_file
from planner.plan import FileEntry, Unit


@attrs.define
class Slot:
    """Everything one worker produces; only that worker writes to it."""

    written: dict[str, tuple[str, int]] = attrs.field(factory=dict)
    bytes_done: int = 0
    error: BaseException | None = None


@attrs.define
class Abort:
    """Set once by a failing worker, read by all: a plain flag, not a lock."""

    requested: bool = False


def assign(units: Sequence[Unit], jobs: int) -> list[list[Unit]]:
    """Round-robin over byte-balanced units: worker i takes units i, i+jobs, ..."""
    return [list(units[index::jobs]) for index in range(max(1, min(jobs, len(units))))]


@attrs.frozen
class WriteContext:
    base: str
    files: Mapping[str, FileEntry]
    wheel_paths: Mapping[str, str]
    shebang: bytes
    fsync: bool = False
    mtime: int | None = None


def _work(context: WriteContext, units: list[Unit], slot: Slot, abort: Abort) -> None:
    handles: dict[str, int] = {}
    try:
        for unit in units:
            for path in unit.paths:
                if abort.requested:
                    return
                source = context.files[path].source
                assert source is not None
                wheel_fd = None
                if source.wheel is not None:
                    wheel_fd = handles.get(source.wheel)
                    if wheel_fd is None:
                        wheel_fd = os.open(
                            context.wheel_paths[source.wheel], os.O_RDONLY | os.O_CLOEXEC
                        )
                        handles[source.wheel] = wheel_fd
                slot.written[path] = write_file(
                    os.path.join(context.base, path),
                    source,
                    wheel_fd,
                    context.shebang,
                    fsync=context.fsync,
                    mtime=context.mtime,
                )
                slot.bytes_done += source.size
    except BaseException as error:
        slot.error = error
        abort.requested = True
    finally:
        for fd in handles.values():
            os.close(fd)


def start(
    context: WriteContext, units: Sequence[Unit], jobs: int
) -> tuple[list[threading.Thread], list[Slot]]:
    """Start the workers; the caller joins them (and may watch the slots for progress)."""
    abort = Abort()
    assignments = assign(units, jobs)
    slots = [Slot() for _ in assignments]
    threads = [
        threading.Thread(
            target=_work, args=(context, assigned, slot, abort), name=f"wheelplan-{index}"
        )
        for index, (assigned, slot) in enumerate(zip(assignments, slots, strict=True))
    ]
    for thread in threads:
        thread.start()
    return threads, slots


def finish(
    threads: Sequence[threading.Thread], slots: Sequence[Slot]
) -> dict[str, tuple[str, int]]:
    for thread in threads:
        thread.join()
    for slot in slots:
        if slot.error is not None:
            raise slot.error
    written: dict[str, tuple[str, int]] = {}
    for slot in slots:
        written.update(slot.written)
    return written
