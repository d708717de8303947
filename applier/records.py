"""RECORD files for the distributions an apply installs, from what it actually wrote.

Shared files appear in every owner's RECORD; a --prefer loser is not an owner, so
its RECORD does not claim the file. A file written as its member holds it is listed
with each owner's own hash of it, as pip and uv keep each wheel's (`Plan.owner_hashes`:
one owner may hash with sha256 what another hashes with sha512). Rows are written in
installer's CSV dialect (`construct_record_file`), without its per-row objects: an
apply writes 17,000 rows.
"""

from __future__ import annotations

import csv
import io
import operator
import os
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from planner.errors import name_the_file
from planner.plan import INSTALLING, Distribution, FileEntry, OwnerHash


def record_files(
    distributions: Iterable[Distribution],
    files: Iterable[FileEntry],
    written: Mapping[str, tuple[str, int]],
    compiled: Mapping[str, str],
    owner_hashes: Iterable[OwnerHash] = (),
) -> dict[str, bytes]:
    """RECORD path -> contents for each installed distribution.

    `written` maps each written path to its (hash, size); `compiled` maps each
    bytecode file to the source it was compiled from.
    """
    owned: dict[str, list[str]] = defaultdict(list)
    record_paths: dict[str, str] = {}
    # (path, owner) -> that owner's own hash, for the few files owners hash unalike.
    own_hashes = {(item.path, item.owner): item.hash for item in owner_hashes}
    for entry in files:
        if entry.action == "remove" or entry.source is None:
            continue
        for owner in entry.owners:
            if entry.source.kind == "record":
                record_paths[owner] = entry.path
            else:
                owned[owner].append(entry.path)
        if own_hashes and written.get(entry.path) != (entry.source.hash, entry.source.size):
            # A rewritten script: every owner lists the bytes as written.
            for owner in entry.owners:
                own_hashes.pop((entry.path, owner), None)
    if compiled:
        owners_of = {entry.path: entry.owners for entry in files}
        for pyc, source in compiled.items():
            for owner in owners_of.get(source, ()):
                owned[owner].append(pyc)
    result: dict[str, bytes] = {}
    for dist in distributions:
        if dist.action not in INSTALLING:
            continue
        record_path = record_paths[dist.name]
        base = posixpath.dirname(dist.dist_info)
        rows = [(_relative(record_path, base), "", "")]
        rows += [
            (_relative(path, base), hash_text, str(size))
            for path in owned[dist.name]
            for hash_text, size in (written[path],)
        ]
        if own_hashes:
            for index, path in enumerate(owned[dist.name], start=1):
                if (mine := own_hashes.get((path, dist.name))) is not None:
                    rows[index] = (rows[index][0], mine, rows[index][2])
        # Sorted rows, as pip writes them, so a RECORD's bytes do not depend on the plan's order.
        rows.sort(key=operator.itemgetter(0))
        result[record_path] = _csv(rows)
    return result


def planned_record_size(
    distributions: Iterable[Distribution],
    files: Iterable[FileEntry],
    owner_hashes: Iterable[OwnerHash] = (),
) -> int:
    """The bytes of the RECORDs an apply of these files will write, as planned: each file
    written as its source's hash and size say. Exact but where a `#!python` line is
    rewritten (its size is the written one) or bytecode is compiled (its rows are added),
    which only the apply's RECORDs can count."""
    files = list(files)
    planned = {
        entry.path: (entry.source.hash, entry.source.size)
        for entry in files
        if entry.action != "remove" and entry.source is not None and entry.source.kind != "record"
    }
    return sum(map(len, record_files(distributions, files, planned, {}, owner_hashes).values()))


def write_record(path: str, data: bytes, fsync: bool, mtime: int | None) -> None:
    """Create the RECORD at `path` (it must not exist); an `OSError` that names no file
    (a failed write says only why) names `path`."""
    try:
        with open(path, "xb") as stream:
            stream.write(data)
            # Flushed first: a buffered write at close would move the mtime again.
            stream.flush()
            if mtime is not None:
                os.utime(stream.fileno(), (mtime, mtime))
            if fsync:
                os.fsync(stream.fileno())
    except OSError as error:
        name_the_file(error, path)
        raise


def _relative(path: str, base: str) -> str:
    """`posixpath.relpath`, without its cost for the usual path inside `base`."""
    if path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return posixpath.relpath(path, base) if base else path


def _csv(rows: Sequence[tuple[str, str, str]]) -> bytes:
    """The rows as installer's `construct_record_file` writes them (same dialect, bytes).

    A row without a comma, quote or line break in any field needs no quoting (nearly
    every row): those are joined directly, and the csv module writes the rest.
    """
    text = "".join([f"{path},{hash_text},{size}\n" for path, hash_text, size in rows])
    plain = '"' not in text and "\r" not in text and text.count("\n") == len(rows)
    if plain and text.count(",") == 2 * len(rows):
        return text.encode("utf-8")
    stream = io.StringIO(newline="")
    csv.writer(stream, delimiter=",", quotechar='"', lineterminator="\n").writerows(rows)
    return stream.getvalue().encode("utf-8")
