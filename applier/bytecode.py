"""Bytecode compilation, by the target's own interpreter, in parallel processes.

The .pyc format belongs to the target's Python version, so our interpreter cannot
write it; compiling is CPU-bound, so it runs in processes, one per job.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence

import attrs

_COMPILER = r"""
import json, py_compile, sys
mode = py_compile.PycInvalidationMode[sys.argv[1]]
results = []
for source, final in json.load(sys.stdin):
    try:
        cfile = py_compile.compile(source, dfile=final, doraise=True, invalidation_mode=mode)
        results.append([source, cfile, None])
    except py_compile.PyCompileError as error:
        lines = str(error.msg).strip().splitlines() or ["cannot compile"]
        results.append([source, None, lines[-1]])
json.dump(results, sys.stdout)
"""


@attrs.frozen
class Compiled:
    # Bytecode path -> its source path, both relative to the prefix.
    pycs: dict[str, str]
    # Sources that did not compile (a wheel's own Python 2 files), with the reason.
    failures: tuple[str, ...]


def cache_tag(interpreter: str) -> str:
    completed = subprocess.run(
        [interpreter, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def pyc_path(source: str, tag: str) -> str:
    folder, name = os.path.split(source)
    return os.path.join(folder, "__pycache__", f"{name[:-3]}.{tag}.pyc")


def compile_sources(
    interpreter: str, base: str, prefix: str, sources: Sequence[str], jobs: int
) -> Compiled:
    """Compile `sources` (relative paths) found under `base`, naming them by `prefix`."""
    mode = "CHECKED_HASH" if os.environ.get("SOURCE_DATE_EPOCH") else "TIMESTAMP"
    batches = [list(sources[index::jobs]) for index in range(max(1, jobs))]
    processes = []
    for batch in batches:
        if not batch:
            continue
        process = subprocess.Popen(
            [interpreter, "-I", "-c", _COMPILER, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        pairs = [(os.path.join(base, path), os.path.join(prefix, path)) for path in batch]
        processes.append((process, json.dumps(pairs).encode()))
    pycs: dict[str, str] = {}
    failures: list[str] = []
    for process, payload in processes:
        out, err = process.communicate(payload)
        if process.returncode != 0:
            raise OSError(
                f"bytecode compiler failed: {err.decode(errors='replace').strip()[-200:]}"
            )
        for source, cfile, error in json.loads(out):
            relative = os.path.relpath(source, base)
            if cfile is None:
                failures.append(f"{relative}: {error}")
            else:
                pycs[os.path.relpath(cfile, base)] = relative
    return Compiled(pycs, tuple(sorted(failures)))
