"""Run the `wheelplan` command in this process, with seams no option gives.

    python -m tests.clihooks ARGUMENTS...     # does what `wheelplan ARGUMENTS...` does

Set in its environment:

- `WHEELPLAN_TEST_WATCH=DIR` records what could synchronise the workers, one JSON
  object a line in `DIR/PID` (a forked worker inherits the hooks and writes its own
  file): the audit events of file and record locks (`fcntl.flock`, `fcntl.lockf`,
  `os.lockf`, and `fcntl.fcntl` with its command), and every make or use of a
  `threading`, `_thread`, `queue` or `multiprocessing` primitive by first-party code
  (applier/, planner/, wheelplan/), which no audit event shows. Each record says
  whether the parallel phase was running: from the call of `workers.start` to the
  return of `workers.finish`. What shows that the workers ran under the hooks is
  recorded too: the driver's `os.fork` in that phase, and the first file each process
  or thread opened or linked in it.
- `WHEELPLAN_TEST_KILL=MEMBER` makes the worker process about to write the wheel
  member `MEMBER` write its pid and how many files it wrote before to the file
  `WHEELPLAN_TEST_KILLED` names, then SIGKILL itself, as the OOM killer would: it dies
  before it reports. (No thread is killed: under threads the member is written.)

The hooks are in place before anything first-party is imported, so a lock a module
makes as it is imported (`from threading import Lock as _Mutex; _WRITER = _Mutex()`)
is a watched one.
"""

from __future__ import annotations

import _thread
import json
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRST_PARTY = tuple(
    os.path.join(REPO, package, "") for package in ("applier", "planner", "wheelplan")
)
# Audit events that take or test a lock; `fcntl.fcntl` is recorded with its command,
# which says whether it is one.
LOCK_EVENTS = ("fcntl.flock", "fcntl.lockf", "os.lockf", "fcntl.fcntl")
PHASE_START, PHASE_END = "workers.start", "workers.finish"
FIRST_EVENT = "first write"
# What a worker does to place a file, whether it writes, copies, clones or links it.
WRITING = ("open", "os.link")
# Whose primitives are watched: a record's event names one of them, then the primitive.
WATCHED_MODULES = ("threading", "_thread", "queue", "multiprocessing")

_phase = [False]
_seen: set[tuple[int, str]] = set()


def _record(folder: str, event: str, detail: object) -> None:
    line = json.dumps(
        {
            "pid": os.getpid(),
            "thread": threading.current_thread().name,
            "phase": _phase[0],
            "event": event,
            "detail": detail,
        }
    )
    fd = os.open(os.path.join(folder, str(os.getpid())), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, line.encode() + b"\n")
    finally:
        os.close(fd)


def _audit(folder: str) -> Callable[[str, tuple[Any, ...]], None]:
    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in LOCK_EVENTS:
            _record(folder, event, args[1])
        elif not _phase[0]:
            return
        elif event == "os.fork":
            _record(folder, event, None)
        elif event in WRITING and not str(args[0]).startswith(folder):
            # By name: a thread started as another ended may be given its ident.
            worker = (os.getpid(), threading.current_thread().name)
            if worker not in _seen:
                _seen.add(worker)
                _record(folder, FIRST_EVENT, f"{event} {args[0]}")

    return hook


def _watch_primitives(folder: str) -> None:
    """Put watched primitives where first-party code finds them; each notes its
    making and its use, when the code making or using it is first-party."""

    def used(primitive: str, action: str) -> None:
        caller = sys._getframe(2)  # above this and the watched method
        path = caller.f_code.co_filename
        if path.startswith(FIRST_PARTY):
            _record(folder, primitive, f"{action} at {path}:{caller.f_lineno}")

    class WatchedLock:
        """A C lock (no Python subclass can be made of one) behind watched methods."""

        def __init__(self, real: Any, primitive: str) -> None:
            self._real = real
            self._primitive = primitive

        def acquire(self, *args: Any, **kwargs: Any) -> Any:
            used(self._primitive, "acquire")
            return self._real.acquire(*args, **kwargs)

        def __enter__(self) -> Any:
            used(self._primitive, "acquire")
            return self._real.__enter__()

        def __exit__(self, *exc: object) -> Any:
            return self._real.__exit__(*exc)

        def __getattr__(self, name: str) -> Any:  # release, locked, `_release_save`...
            return getattr(self._real, name)

    def noting(make: Callable[..., Any], primitive: str) -> Callable[..., Any]:
        def factory(*args: Any, **kwargs: Any) -> Any:
            used(primitive, "make")
            return make(*args, **kwargs)

        return factory

    def lock_factory(make: Callable[[], Any], primitive: str) -> Callable[[], Any]:
        def factory() -> Any:
            used(primitive, "make")
            return WatchedLock(make(), primitive)

        return factory

    def watched_method(base: type, primitive: str, method: str) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            used(primitive, "make" if method == "__init__" else method)
            return getattr(base, method)(self, *args, **kwargs)

        return call

    def watched_class(base: type, primitive: str, methods: tuple[str, ...]) -> type:
        namespace = {method: watched_method(base, primitive, method) for method in methods}
        return type(base.__name__, (base,), namespace)

    for module, name in ((threading, "Lock"), (threading, "RLock")):
        setattr(module, name, lock_factory(getattr(module, name), f"threading.{name}"))
    for name in ("allocate_lock", "allocate", "RLock"):
        setattr(_thread, name, lock_factory(getattr(_thread, name), f"_thread.{name}"))
    locking = ("__init__", "acquire", "release", "__enter__")
    classes: dict[Any, dict[str, tuple[str, ...]]] = {
        threading: {
            "Condition": (*locking, "wait", "wait_for", "notify", "notify_all"),
            "Semaphore": locking,
            "BoundedSemaphore": locking,
            "Event": ("__init__", "set", "clear", "wait", "is_set"),
            "Barrier": ("__init__", "wait", "reset", "abort"),
        },
        queue: {
            name: ("__init__", "put", "get", "put_nowait", "get_nowait")
            for name in ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue")
        },
    }
    for module, names in classes.items():
        for name, methods in names.items():
            primitive = f"{module.__name__}.{name}"
            setattr(module, name, watched_class(getattr(module, name), primitive, methods))
    # Made through a context, by many modules: their making is watched.
    for name in (
        *("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier"),
        *("Queue", "SimpleQueue", "JoinableQueue", "Manager", "Value", "Array", "Pool"),
    ):
        primitive = f"multiprocessing.{name}"
        setattr(multiprocessing, name, noting(getattr(multiprocessing, name), primitive))


def main() -> None:
    folder = os.environ.get("WHEELPLAN_TEST_WATCH")
    if folder:
        _watch_primitives(folder)
        sys.addaudithook(_audit(folder))
    from applier import unitwriter, workers

    if folder:
        start, finish = workers.start, workers.finish

        def started(*args: Any, **kwargs: Any) -> Any:
            _phase[0] = True
            _record(folder, PHASE_START, None)
            return start(*args, **kwargs)

        def finished(*args: Any, **kwargs: Any) -> Any:
            try:
                return finish(*args, **kwargs)
            finally:
                _record(folder, PHASE_END, None)
                _phase[0] = False

        workers.start, workers.finish = started, finished
    member = os.environ.get("WHEELPLAN_TEST_KILL")
    if member:
        killed = os.environ["WHEELPLAN_TEST_KILLED"]
        driver = os.getpid()
        write_file = unitwriter.write_file
        written = [0]

        def dying(destination: str, source: Any, *args: Any, **kwargs: Any) -> Any:
            if source.member == member and os.getpid() != driver:
                fd = os.open(killed, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                os.write(fd, f"{os.getpid()} {written[0]}".encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
            written[0] += 1
            return write_file(destination, source, *args, **kwargs)

        unitwriter.write_file = dying
    from wheelplan.cli import script

    script()


if __name__ == "__main__":
    main()
