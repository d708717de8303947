"""Standard output that cannot end a command.

A print fails when the reader went away (`wheelplan install ... | head`), the disk
is full (`> /dev/full`) or stdout was closed. Raised from a print, that failure
ended an `install` that had already committed with exit code 1, which says the
target is unchanged, or with a traceback. Here the first failure is kept for the
command to judge, and what follows it is dropped.

A character the locale's encoding cannot spell no longer ends the command either: a
path that is not UTF-8 (its raw bytes come back, as `cache dir` prints it for
scripts) crashed every line naming it under a UTF-8 locale, and any accented name
under an ASCII one; the rest is written as Python writes it to stderr, escaped.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import sys

import attrs


@attrs.define
class _Lost:
    error: OSError | None = None


class _Guarded(io.RawIOBase):
    """File descriptor 1, or nothing when it was closed at start-up (another file may
    have taken that number since)."""

    def __init__(self, descriptor: int | None, lost: _Lost) -> None:
        super().__init__()
        self._descriptor = descriptor
        self._lost = lost

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._descriptor is not None and os.isatty(self._descriptor)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._lost.error is None:
            try:
                if self._descriptor is None:
                    raise OSError(errno.EBADF, "standard output is closed")
                view = memoryview(data)
                while view:
                    view = view[os.write(self._descriptor, view) :]
            except OSError as error:
                self._lost.error = error
        return len(data)


_lost = _Lost()
_SURROGATEESCAPE = codecs.lookup_error("surrogateescape")


def _unspellable(error: UnicodeError) -> tuple[str | bytes, int]:
    """A name's undecodable bytes as they were read (surrogateescape); anything else
    escaped (backslashreplace)."""
    try:
        return _SURROGATEESCAPE(error)
    except UnicodeEncodeError:
        return codecs.backslashreplace_errors(error)


codecs.register_error("wheelplan.output", _unspellable)


def guard() -> None:
    """Put the guarded stream in place of sys.stdout, for the rest of the process, and
    one that drops what it is given in place of a stderr closed at start-up (`2>&-`),
    which Python leaves None: `print(file=None)` writes to stdout, so an error line
    went into the plan `--json` was writing, and flushing None failed a done install."""
    original = sys.stdout
    descriptor = None
    if original is not None:
        original.flush()
        descriptor = original.fileno()
    raw = _Guarded(descriptor, _lost)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=original.encoding if original is not None else "utf-8",
        errors="wheelplan.output",
        line_buffering=raw.isatty(),
    )
    if sys.stderr is None:
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(_Guarded(None, _Lost())), "utf-8")


def lost() -> OSError | None:
    """Why output was lost, after flushing what is pending; None when none was (or
    no guard is in place), and None for a reader that went away: its choice, not a
    failure of the command."""
    sys.stdout.flush()
    error = _lost.error
    if error is None or isinstance(error, BrokenPipeError):
        return None
    return error


__all__ = ["guard", "lost"]
