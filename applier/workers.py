"""The parallel phase: each worker writes whole work units, alone.

The plan guarantees that units are disjoint, so workers share nothing they write
to: no lock, no semaphore, no queue between writers. Each worker opens its own
handle on every wheel it reads and keeps its results and its progress in its own
slot.

Workers are forked processes where the OS has `fork`: with thousands of small files
the work per file is Python code, and threads would take turns on the interpreter
lock (zlib and hashlib release it only for the bytes). Each process inherits the
plan, writes its own units and reports back over its own pipe: progress after each
unit, then the few results that differ from what the plan already says (rewritten
scripts) and the wheels whose cache entry it found a
changed file in, or the error that stopped it. A failure stops the others: the
driver kills them before it rolls back. A worker whose parent is gone stops at its
next file, and until it has exited it still holds the environment's lock (an
inherited descriptor), so no recovery can run under it.

Threads are used where there is no `fork`, with `WHEELPLAN_WORKERS=threads`, and
under fault injection (`WHEELPLAN_FAULT`), whose "N-th file operation" counter only
threads share.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import marshal
import os
import pickle
import select
import signal
import struct
import threading
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

import attrs

from applier.unitwriter import Slot, WriteContext, write_units
from planner.plan import Unit
from planner.units import LINK_NS, weight


@attrs.define
class Abort:
    """Set once by a failing worker or the driver, read by all: a plain flag, not a lock."""

    requested: bool = False


class Worker(Protocol):
    """What the driver sees of a worker, thread or process."""

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...


def unit_cost(unit: Unit, context: WriteContext) -> int:
    """What writing `unit` will cost a worker in this apply, in nanoseconds (estimated):
    a file linked from the cache costs a link, any other what the plan's weight says
    (and a link more when it is extracted into a new cache entry first)."""
    files, linked, staged = context.files, context.linked, context.staged
    cost = 0
    for path in unit.paths:
        if path in linked:
            cost += LINK_NS
        else:
            cost += weight(files[path]) + (LINK_NS if path in staged else 0)
    return cost


def assign(units: Sequence[Unit], jobs: int, costs: Sequence[int]) -> list[list[Unit]]:
    """Costliest unit first (`costs[i]` is `units[i]`'s), each to the least loaded worker.

    One unit holding a huge member then gets a worker of its own while the others
    share the rest, instead of a round-robin that stacks more units behind it.
    """
    count = max(1, min(jobs, len(units)))
    assigned: list[list[Unit]] = [[] for _ in range(count)]
    loads = [0] * count
    for position in sorted(range(len(units)), key=lambda i: (-costs[i], units[i].index)):
        lightest = loads.index(min(loads))
        assigned[lightest].append(units[position])
        loads[lightest] += costs[position]
    for units_of_one in assigned:
        units_of_one.sort(key=lambda unit: unit.index)  # archive order within a worker
    return assigned


# --- threads -----------------------------------------------------------------------


def _thread_work(context: WriteContext, units: list[Unit], slot: Slot, abort: Abort) -> None:
    try:
        write_units(context, units, slot, lambda: abort.requested)
    except BaseException as error:
        slot.error = error
        abort.requested = True


def _start_threads(
    context: WriteContext, assignments: list[list[Unit]], slots: list[Slot], abort: Abort
) -> list[Worker]:
    threads = [
        threading.Thread(
            target=_thread_work, args=(context, assigned, slot, abort), name=f"wheelplan-{index}"
        )
        for index, (assigned, slot) in enumerate(zip(assignments, slots, strict=True))
    ]
    for thread in threads:
        thread.start()
    return list(threads)


# --- processes ---------------------------------------------------------------------

_FRAME = struct.Struct("<I")
_PROGRESS, _RESULTS, _ERROR = "p", "w", "e"


def _send(fd: int, message: Any) -> None:
    payload = marshal.dumps(message)
    data = memoryview(_FRAME.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


def _child(context: WriteContext, units: list[Unit], fd: int, parent: int) -> NoReturn:
    """The body of a forked worker; never returns (it must not run the parent's code)."""
    code = 0
    try:
        gc.disable()  # short-lived: collecting would only copy the parent's pages
        slot = Slot()
        write_units(
            context,
            units,
            slot,
            lambda: os.getppid() != parent,
            lambda: _send(fd, (_PROGRESS, slot.bytes_done)),
        )
        differing = {}
        for path, result in slot.written.items():
            source = context.files[path].source
            assert source is not None
            if result != (source.hash, source.size):
                differing[path] = result
        results = (differing, sorted(slot.damaged), sorted(slot.dropped), slot.stamps)
        _send(fd, (_RESULTS, results))
    except BaseException as error:
        code = 1
        try:
            payload = pickle.dumps(error)
        except Exception:
            payload = pickle.dumps(RuntimeError(f"{type(error).__name__}: {error}"))
        with contextlib.suppress(BaseException):
            _send(fd, (_ERROR, payload))
    finally:
        os._exit(code)


@attrs.define(eq=False)
class Child:
    """A forked worker as the driver sees it: its pid, its pipe, and its slot."""

    pid: int
    fd: int
    slot: Slot
    units: list[Unit]
    context: WriteContext
    abort: Abort
    buffer: bytearray = attrs.field(factory=bytearray)
    finished: bool = False
    reported: bool = False
    reaped: bool = False

    def fileno(self) -> int:
        return self.fd

    def read(self, block: bool) -> None:
        """Take what the pipe holds (waiting for it when `block`); handle whole frames."""
        if self.finished:
            return
        if not block and not select.select([self.fd], [], [], 0)[0]:
            return
        data = os.read(self.fd, 1 << 16)
        if not data:
            self.finished = True
            os.close(self.fd)
            return
        self.buffer += data
        while len(self.buffer) >= _FRAME.size:
            (length,) = _FRAME.unpack_from(self.buffer)
            if len(self.buffer) < _FRAME.size + length:
                break
            kind, value = marshal.loads(bytes(self.buffer[_FRAME.size : _FRAME.size + length]))
            del self.buffer[: _FRAME.size + length]
            self._handle(kind, value)

    def _handle(self, kind: str, value: Any) -> None:
        if kind == _PROGRESS:
            self.slot.bytes_done = value
            return
        self.reported = True
        if kind == _ERROR:
            self.slot.error = pickle.loads(value)
            self.abort.requested = True
        elif kind == _RESULTS:
            differing, damaged, dropped, stamps = value
            self.slot.damaged.update(damaged)
            self.slot.dropped.update(dropped)
            self.slot.stamps.update(stamps)
            written = self.slot.written
            files = self.context.files
            for unit in self.units:
                for path in unit.paths:
                    source = files[path].source
                    assert source is not None
                    written[path] = differing.get(path) or (source.hash, source.size)
            self.slot.bytes_done = sum(unit.bytes for unit in self.units)

    def kill(self) -> None:
        if not self.reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def reap(self) -> None:
        """Wait for the process to exit; an exit without a report is an error."""
        if self.reaped:
            return
        while not self.finished:
            self.read(block=True)
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped by a wait an interrupt cut short after it
            self.reaped = True
            return
        self.reaped = True
        # Killed because another worker (or the driver) failed: that error is the one.
        if not self.reported and not self.abort.requested:
            how = (
                f"signal {os.WTERMSIG(status)}"
                if os.WIFSIGNALED(status)
                else f"exit code {os.waitstatus_to_exitcode(status)}"
            )
            self.slot.error = ChildProcessError(
                errno.ECHILD, f"worker process {self.pid} died ({how}) before reporting"
            )
            self.abort.requested = True

    def is_alive(self) -> bool:
        if self.abort.requested and not self.finished:
            return False
        self.read(block=False)
        return not self.finished

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker; once an abort is requested, kill it first."""
        if self.abort.requested:
            self.kill()
        self.reap()


_INTERRUPTS = frozenset((signal.SIGINT, signal.SIGTERM))


def _start_processes(
    context: WriteContext, assignments: list[list[Unit]], slots: list[Slot], abort: Abort
) -> list[Worker]:
    parent = os.getpid()
    children: list[Worker] = []
    started: list[Child] = []
    try:
        for assigned, slot in zip(assignments, slots, strict=True):
            read_fd, write_fd = os.pipe()
            # Ctrl-C or SIGTERM between the fork and the child's being known would leave a
            # worker writing through the rollback: they wait until it is known.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
            try:
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child's coverage is not collected
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    os.close(read_fd)
                    _child(context, assigned, write_fd, parent)
                os.close(write_fd)
                child = Child(pid, read_fd, slot, assigned, context, abort)
                started.append(child)
                children.append(child)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    except BaseException:
        abort.requested = True
        for child in started:
            child.join()
        raise
    return children


def _use_processes() -> bool:
    choice = os.environ.get("WHEELPLAN_WORKERS", "")
    if choice == "threads" or os.environ.get("WHEELPLAN_FAULT"):
        return False
    return hasattr(os, "fork")


def start(
    context: WriteContext, units: Sequence[Unit], jobs: int, abort: Abort | None = None
) -> tuple[list[Worker], list[Slot]]:
    """Start the workers; the caller joins them (and may watch the slots for progress).

    A caller that passes `abort` can stop them by setting it and joining them (the
    driver does, when it fails itself, before it rolls back).
    """
    abort = abort if abort is not None else Abort()
    assignments = assign(units, jobs, [unit_cost(unit, context) for unit in units])
    slots = [Slot() for _ in assignments]
    if len(assignments) > 1 and _use_processes():
        return _start_processes(context, assignments, slots, abort), slots
    return _start_threads(context, assignments, slots, abort), slots


def _gather(children: Sequence[Child]) -> None:
    """Read every pipe as data comes; on the first error, kill the other workers."""
    pending = [child for child in children if not child.finished]
    while pending:
        ready, _, _ = select.select(pending, [], [])
        for child in ready:
            child.read(block=True)
            if child.slot.error is not None:
                for other in children:
                    other.kill()
        pending = [child for child in pending if not child.finished]
    for child in children:
        child.reap()


def finish(workers: Sequence[Worker], slots: Sequence[Slot]) -> dict[str, tuple[str, int]]:
    """Wait for every worker; raise the first error, or return every file's hash and size."""
    children = [worker for worker in workers if isinstance(worker, Child)]
    if children:
        try:
            _gather(children)
        except BaseException:
            for child in children:
                child.kill()
            for child in children:
                child.reap()
            raise
    for worker in workers:
        worker.join()
    for slot in slots:
        if slot.error is not None:
            raise slot.error
    written: dict[str, tuple[str, int]] = {}
    for slot in slots:
        written.update(slot.written)
    return written
