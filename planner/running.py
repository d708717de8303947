"""Running the target's interpreter: how it is started and how much of it is heard.

The interpreter is the target's, so it is not trusted any more than a wheel: its
`.pth` files run at start-up, and a broken or hostile one may answer without end.
Running it must leave the target as it was, and its answer is read under a ceiling.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time

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


__all__ = ["FLAGS", "MAX_ANSWER", "TooMuchOutput", "communicate", "end"]
