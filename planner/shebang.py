"""The first line(s) of a script that runs the target's interpreter.

installer's form, written out here rather than taken from `installer.scripts`: importing
any part of installer imports all of it (some 50 ms), and the applier, which puts this
line on every `#!python` script, needs nothing else of it. The planner's entry-point
scripts get theirs from installer itself; tests/test_imports.py checks the two agree.
"""

from __future__ import annotations

import shlex

# The longest line a kernel reads as an interpreter, counting `#!` and the newline
# (installer's limit, after distlib's).
_MAX_LINE = 127


def shebang(interpreter: str) -> bytes:
    """`#!interpreter`, or a /bin/sh exec trampoline when the path has a space or is too
    long for the kernel."""
    path = interpreter.encode("utf-8")
    if b" " not in path and len(path) + 3 <= _MAX_LINE:
        return b"#!" + path
    quoted = shlex.quote(interpreter).encode("utf-8")
    return b"#!/bin/sh\n'''exec' " + quoted + b' "$0" "$@"\n' + b"' '''"


_PLACEHOLDER = b"#!python"


def rewritten(data: bytes | memoryview, line: bytes) -> bytes | memoryview:
    """A `.data/scripts` file as installed: a first line of `#!python...` becomes `line`
    (a `shebang`), anything else stays as it is. The planner hashes a script so, to
    compare it with one installed; the applier writes it so."""
    if bytes(data[: len(_PLACEHOLDER)]) != _PLACEHOLDER:
        return data
    text = bytes(data)
    newline = text.find(b"\n")
    return line + b"\n" + (text[newline + 1 :] if newline >= 0 else b"")
