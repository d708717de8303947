"""RECORD files for the distributions an apply installs, from what it actually wrote.

Shared files appear in every owner's RECORD; a --prefer loser is not an owner, so
its RECORD does not claim the file. Rows use installer's RecordEntry and writer.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping

from installer.records import Hash, RecordEntry
from installer.utils import Scheme, construct_record_file

from planner.plan import Distribution, FileEntry

INSTALLED_ACTIONS = frozenset({"install", "upgrade", "downgrade", "reinstall"})


def record_files(
    distributions: Iterable[Distribution],
    files: Iterable[FileEntry],
    written: Mapping[str, tuple[str, int]],
    compiled: Mapping[str, str],
) -> dict[str, bytes]:
    """RECORD path -> contents for each installed distribution.

    `written` maps each written path to its (hash, size); `compiled` maps each
    bytecode file to the source it was compiled from.
    """
    owned: dict[str, list[str]] = defaultdict(list)
    record_paths: dict[str, str] = {}
    for entry in files:
        if entry.action == "remove" or entry.source is None:
            continue
        for owner in entry.owners:
            if entry.source.kind == "record":
                record_paths[owner] = entry.path
            else:
                owned[owner].append(entry.path)
    owners_of = {entry.path: entry.owners for entry in files}
    for pyc, source in compiled.items():
        for owner in owners_of.get(source, ()):
            owned[owner].append(pyc)
    result: dict[str, bytes] = {}
    for dist in distributions:
        if dist.action not in INSTALLED_ACTIONS:
            continue
        record_path = record_paths[dist.name]
        base = posixpath.dirname(dist.dist_info)
        entries = []
        for path in owned[dist.name]:
            hash_text, size = written[path]
            name, _, value = hash_text.partition("=")
            entries.append(RecordEntry(posixpath.relpath(path, base), Hash(name, value), size))
        entries.append(RecordEntry(posixpath.relpath(record_path, base), None, None))
        stream = construct_record_file((Scheme("purelib"), entry) for entry in entries)
        result[record_path] = stream.read()
    return result
