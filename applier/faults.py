"""Fault injection for the transaction tests: fail, die or pause at the N-th file operation.

Set WHEELPLAN_FAULT in the environment of an apply or a recover:

- `error:N` makes the N-th checkpoint raise an OSError (the apply must roll back);
- `enospc:N` makes it raise "No space left on device", for when no small file
  system can be mounted to fill for real;
- `kill:N` sends the process SIGKILL there (recover must restore the prior state);
- `stop:N` sends it SIGSTOP there, so a test can hold an apply mid-transaction, lock
  taken, without any timing, and let it go on with SIGCONT;
- `trace` prints, at exit, the kind of every checkpoint passed, so a test knows how
  many there are and that every kind of file operation has one.

Every file operation of the transaction (journal writes, moves, directory creation
and removal, file creation, RECORDs, the commit) calls `checkpoint` first. Unset, a
checkpoint costs two comparisons. The counter is an `itertools.count`, whose
step is atomic in CPython, so workers share it without a lock.
"""

from __future__ import annotations

import atexit
import errno
import itertools
import os
import signal
import sys
import threading

_SPEC = os.environ.get("WHEELPLAN_FAULT", "")
_MODE, _, _WHEN = _SPEC.partition(":")
_TARGET = int(_WHEN) if _WHEN.isdigit() else -1
_TRACE = _MODE == "trace"
_COUNTER = itertools.count(1)
_PASSED: list[str] = []
TRACE_PREFIX = "wheelplan-fault-trace:"


class InjectedFault(OSError):
    """The failure a test asked for."""


def _report() -> None:
    sys.stderr.write(f"{TRACE_PREFIX} {' '.join(_PASSED)}\n")


if _TRACE:
    atexit.register(_report)


def checkpoint(kind: str = "create") -> None:
    """Called before each file operation; `kind` names the operation for `trace`."""
    if _TRACE:
        _PASSED.append(kind)  # list.append is atomic in CPython
        return
    if _TARGET < 0:
        return
    if next(_COUNTER) == _TARGET:
        # Sent to this thread, not the process: the kernel may hand a process's signal to
        # another thread, and this one then runs on (it opened two wheels past a stop).
        if _MODE == "kill":
            signal.pthread_kill(threading.get_ident(), signal.SIGKILL)
        if _MODE == "stop":
            signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
            return
        if _MODE == "enospc":
            raise InjectedFault(errno.ENOSPC, "No space left on device (injected)")
        raise InjectedFault(errno.EIO, f"injected fault at file operation {_TARGET}")
