"""Fault injection for the transaction tests: fail or die at the N-th file operation.

Set WHEELPLAN_FAULT=error:N or kill:N in the environment of an apply. Unset, each
checkpoint costs one attribute lookup. The counter is an `itertools.count`, whose
step is atomic in CPython, so workers share it without a lock.
"""

from __future__ import annotations

import itertools
import os
import signal

_SPEC = os.environ.get("WHEELPLAN_FAULT", "")
_MODE, _, _WHEN = _SPEC.partition(":")
_TARGET = int(_WHEN) if _WHEN.isdigit() else -1
_COUNTER = itertools.count(1)


class InjectedFault(OSError):
    """The failure a test asked for."""


def checkpoint() -> None:
    if _TARGET < 0:
        return
    if next(_COUNTER) == _TARGET:
        if _MODE == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise InjectedFault(5, f"injected fault at file operation {_TARGET}")
