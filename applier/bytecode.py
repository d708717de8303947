"""Bytecode compilation, by the target's own interpreter, in parallel processes.

The .pyc format belongs to the target's Python version, so our interpreter cannot
produce it; compiling is CPU-bound, so it runs in processes, one per job. The
compilers only read the sources and send the bytecode back on a pipe: the applier
writes every .pyc itself, as a file the journal tracks, so a compiler outliving a
killed apply cannot leave a file that recovery does not know about.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence

import attrs

from applier import faults
from planner import running
from planner.errors import Refused, name_the_file

# The pyc layout of PEP 552, as py_compile writes it: magic, flags, then either the
# source's mtime and size or its hash, then the marshalled code object.
_COMPILER = r"""
import base64, importlib.util, json, marshal, os, sys, traceback
checked_hash = sys.argv[1] == "CHECKED_HASH"
results = []
for source, final in json.load(sys.stdin):
    try:
        with open(source, "rb") as stream:
            data = stream.read()
        code = compile(data, final, "exec", dont_inherit=True)
    except Exception as error:
        lines = traceback.format_exception_only(type(error), error)
        results.append([source, None, (lines[-1].strip() if lines else "cannot compile")])
        continue
    header = bytearray(importlib.util.MAGIC_NUMBER)
    if checked_hash:
        header += (0b11).to_bytes(4, "little") + importlib.util.source_hash(data)
    else:
        info = os.stat(source)
        header += (0).to_bytes(4, "little")
        header += (int(info.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        header += (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    pyc = bytes(header) + marshal.dumps(code)
    results.append([source, base64.b64encode(pyc).decode("ascii"), None])
json.dump(results, sys.stdout)
"""
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
# What `sys.implementation.cache_tag` looks like: `cpython-311`, `pypy311`.
_TAG = re.compile(r"[A-Za-z0-9_.-]+")


@attrs.frozen
class Compiled:
    # Bytecode path -> its source path, both relative to the prefix.
    pycs: dict[str, str]
    # Sources that did not compile (a wheel's own Python 2 files), with the reason.
    failures: tuple[str, ...]
    # Bytecode path -> the bytes to write there.
    data: Mapping[str, bytes] = attrs.field(factory=dict)


def cache_tag(interpreter: str) -> str:
    """The interpreter's bytecode tag (`cpython-311`), which names every .pyc.

    Refused when it gives none, or one that is no plain name: with --root the plan's
    interpreter is not confirmed, and a tag holding a `/` would place a .pyc elsewhere.
    """
    try:
        process = subprocess.Popen(
            [interpreter, *running.FLAGS, "-c", "import sys; print(sys.implementation.cache_tag)"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, _ = running.communicate(process, running.MAX_ANSWER, timeout=120)
    except OSError as error:
        raise Refused.one(interpreter, f"cannot compile bytecode: {error.strerror}") from None
    except (running.TooMuchOutput, subprocess.TimeoutExpired):
        out = b""  # no answer a Python gives
    tag = out.decode(errors="replace").strip()
    if process.returncode != 0 or tag == "None" or not _TAG.fullmatch(tag):
        raise Refused.one(
            interpreter, "cannot compile bytecode: the interpreter gave no bytecode cache tag"
        )
    return tag


def pycache_of(source: str) -> str:
    """The folder a source's bytecode goes in (PEP 3147), whatever the interpreter."""
    return os.path.join(os.path.dirname(source), "__pycache__")


def pyc_path(source: str, tag: str) -> str:
    name = os.path.basename(source)
    return os.path.join(pycache_of(source), f"{name[:-3]}.{tag}.pyc")


def compile_sources(
    interpreter: str,
    base: str,
    prefix: str,
    sources: Sequence[str],
    jobs: int,
    tag: str,
    checked_hash: bool,
) -> Compiled:
    """Compile `sources` (relative paths) found under `base`, naming them by `prefix`;
    `checked_hash` (under SOURCE_DATE_EPOCH, as py_compile decides) embeds each source's
    hash rather than its mtime.

    Nothing is written: the result carries each .pyc's bytes for `write_pycs`.
    """
    mode = "CHECKED_HASH" if checked_hash else "TIMESTAMP"
    jobs = max(1, min(jobs, len(sources)))  # one process per source at most
    batches = [list(sources[index::jobs]) for index in range(jobs)]
    processes = []
    for batch in batches:
        if not batch:
            continue
        pairs = [(os.path.join(base, path), os.path.join(prefix, path)) for path in batch]
        try:
            # Its answer is each .pyc in base64, which for the densest code seen (chained
            # comparisons, nested lambdas) is 17 times its source; read no further, since
            # the target's interpreter may run anything at start-up.
            sizes = sum(os.path.getsize(os.path.join(base, path)) for path in batch)
            limit = _ANSWER_PER_SOURCE_BYTE * sizes + len(pairs) * 4096 + running.MAX_ANSWER
            processes.append((_start_compiler(interpreter, mode, pairs), limit))
        except BaseException:
            _end_all(processes)  # the compilers started already stop too
            raise
    pycs: dict[str, str] = {}
    data: dict[str, bytes] = {}
    failures: list[str] = []
    answers = []
    try:
        for process, limit in processes:
            try:
                out, err = running.communicate(process, limit)
            except running.TooMuchOutput:
                raise OSError(
                    f"bytecode compiler failed: it said more than {limit} bytes"
                ) from None
            if process.returncode != 0:
                why = running.failure(process.returncode, err)
                raise OSError(f"bytecode compiler failed: {why}")
            answers.append(out)
    except BaseException:
        _end_all(processes)  # none goes on compiling after the apply is rolled back
        raise
    for out in answers:
        for source, encoded, error in json.loads(out):
            relative = os.path.relpath(source, base)
            if encoded is None:
                failures.append(f"{relative}: {error}")
            else:
                pyc = pyc_path(relative, tag)
                pycs[pyc] = relative
                data[pyc] = base64.b64decode(encoded)
    return Compiled(pycs, tuple(sorted(failures)), data)


# How many bytes a compiler may answer per byte of its sources (see compile_sources).
_ANSWER_PER_SOURCE_BYTE = 32


def _start_compiler(
    interpreter: str, mode: str, pairs: list[tuple[str, str]]
) -> subprocess.Popen[bytes]:
    """A compiler with its whole list of sources to hand, so that all of them run at
    once (fed through pipes one after another, each began when the one before ended).
    The list is in memory (memfd), not a file under $TMPDIR, which may be full."""
    listing = os.memfd_create("wheelplan-sources")
    try:
        payload = memoryview(json.dumps(pairs).encode())
        while payload:
            payload = payload[os.write(listing, payload) :]
        os.lseek(listing, 0, os.SEEK_SET)
        return subprocess.Popen(
            [interpreter, *running.FLAGS, "-c", _COMPILER, mode],
            stdin=listing,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(listing)


def _end_all(processes: list[tuple[subprocess.Popen[bytes], int]]) -> None:
    for process, _ in processes:
        running.end(process)


def write_pycs(base: str, compiled: Compiled, fsync: bool, mtime: int | None = None) -> None:
    """Create each .pyc (the journal lists them all as new files) with py_compile's mode."""
    for pyc in sorted(compiled.data):
        full = os.path.join(base, pyc)
        source_mode = os.stat(os.path.join(base, compiled.pycs[pyc])).st_mode
        try:
            faults.checkpoint("pyc")
            fd = os.open(full, _OPEN_FLAGS, (source_mode | 0o200) & 0o666)
            try:
                view = memoryview(compiled.data[pyc])
                while view:
                    view = view[os.write(fd, view) :]
                if mtime is not None:
                    os.utime(fd, (mtime, mtime))
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            name_the_file(error, full)
            raise
