"""Running the target's interpreter: how it is started and how much of it is heard.

The interpreter is the target's, so it is not trusted any more than a wheel: its
`.pth` files run at start-up, and a broken or hostile one may answer without end.
Running it must leave the target as it was, and its answer is read under a ceiling.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import time
from collections.abc import Mapping

# Isolated from the user's environment (-I), and writing no bytecode (-B): a `.pth`
# file that imports a module of the target would otherwise leave its .pyc behind
# (-I ignores PYTHONDONTWRITEBYTECODE).
FLAGS = ("-I", "-B")

_CHUNK = 1 << 16
# What any answer of a Python to a question of ours is read up to: a few kilobytes,
# with room for warnings a broken `.pth` file prints to stderr at every start.
MAX_ANSWER = 16 << 20


class TooMuchOutput(Exception):
    """The process said more than it may; it has been killed."""


def communicate(
    process: subprocess.Popen[bytes], limit: int, timeout: float | None = None
) -> tuple[bytes, bytes]:
    """What `process` wrote to its stdout and stderr pipes once it ends.

    Raises TooMuchOutput past `limit` bytes on either pipe and
    subprocess.TimeoutExpired after `timeout` seconds; either way the process is
    killed and reaped.
    """
    assert process.stdout is not None and process.stderr is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    out, err = process.stdout.fileno(), process.stderr.fileno()
    heard = {out: bytearray(), err: bytearray()}
    with selectors.DefaultSelector() as selector:
        for descriptor in heard:
            selector.register(descriptor, selectors.EVENT_READ)
        while selector.get_map():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                end(process)
                raise subprocess.TimeoutExpired(process.args, timeout or 0.0)
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                heard[key.fd] += chunk
                if len(heard[key.fd]) > limit:
                    end(process)
                    raise TooMuchOutput
    try:
        process.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        end(process)
        raise
    _close(process)
    return bytes(heard[out]), bytes(heard[err])


def end(process: subprocess.Popen[bytes]) -> None:
    """Kill and reap `process` (if it still runs) and close its pipes."""
    process.kill()
    process.wait()
    _close(process)


def _close(process: subprocess.Popen[bytes]) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def failure(returncode: int, stderr: bytes) -> str:
    """Why a program failed, for one error line: what it said, and how it ended.

    Of several lines the first is the message (a wrapper's, as pyenv's shim prints
    several), unless there is a traceback: then its exception's, which a wrapper may
    follow with lines of its own."""
    raw = _said(stderr)
    lines = _single_spaced(raw)
    said = quoted(_raised(raw) or (lines[0] if lines else "no output"))
    if returncode < 0:
        return f"{said}; killed by signal {-returncode}"
    return f"{said}; exit status {returncode}"


def lines_said(stderr: bytes) -> list[str]:
    """A program's non-empty lines on `stderr`, each with its spaces made single."""
    return _single_spaced(_said(stderr))


def _said(stderr: bytes) -> list[str]:
    """The lines of `stderr` without their colours: Python 3.13 colours a traceback
    under FORCE_COLOR (not with -I, but a wrapper may run one without), and the error
    line quotes its words. Any other escape stays, for the error line to show escaped."""
    return _COLOUR.sub("", stderr.decode(errors="replace")).splitlines()


def _single_spaced(raw: list[str]) -> list[str]:
    lines = [" ".join(line.split()) for line in raw]
    return [line for line in lines if line]


def quoted(said: str) -> str:
    """`said`, cut to what one error line should quote of another program's words."""
    return said if len(said) <= _SAID_LIMIT else said[: _SAID_LIMIT - 3] + "..."


def _raised(lines: list[str]) -> str | None:
    """The exception line of the last traceback in `lines` (a chained exception's comes
    after the one it was raised in handling): the first line after the header that is
    not indented, as the frames are; a wrapper may print more after it. An exception
    group's traceback has each of its lines behind a margin (`  | `), and the group's
    own exception line first, before those of the exceptions it holds."""
    headers = [
        (at, _TRACEBACKS[line.rstrip()])
        for at, line in enumerate(lines)
        if line.rstrip() in _TRACEBACKS
    ]
    if not headers:
        return None
    at, margin = headers[-1]
    for line in lines[at + 1 :]:
        if not line.startswith(margin):  # a held exception's, or the group's end
            continue
        line = line[len(margin) :]
        if line.strip() and not line[0].isspace():
            return " ".join(line.split())
    return None


# Each header that begins a traceback, and the margin before its lines.
_TRACEBACKS: Mapping[str, str] = {
    "Traceback (most recent call last):": "",
    "  + Exception Group Traceback (most recent call last):": "  | ",
}
# An ANSI colour or style (SGR) sequence, the only escapes a traceback holds.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# What of a failed interpreter's message the error line quotes, at most.
_SAID_LIMIT = 200


__all__ = [
    "FLAGS",
    "MAX_ANSWER",
    "TooMuchOutput",
    "communicate",
    "end",
    "failure",
    "lines_said",
    "quoted",
]
