"""Read installed RECORD files and check them against the disk, independently of wheelplan."""

from __future__ import annotations

import base64
import csv
import hashlib
import posixpath
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

Rows = list[tuple[str, str, str]]


def read_records(prefix: Path) -> dict[str, Rows]:
    """Every `*.dist-info/RECORD` under `prefix`: its path relative to `prefix` -> rows."""
    records = {}
    for path in sorted(prefix.rglob("*.dist-info/RECORD")):
        with open(path, newline="", encoding="utf-8") as stream:
            rows = [(row[0], row[1], row[2]) for row in csv.reader(stream)]
        records[path.relative_to(prefix).as_posix()] = rows
    return records


def record_digest(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"sha256={digest}"


def respelled(record: str, spell: Callable[[bytes], str]) -> str:
    """RECORD text with every hash written by `spell` from its digest, as tools that do
    not follow the spec's unpadded urlsafe base64 write them."""
    rows = []
    for row in record.splitlines():
        path, hash_text, size = row.rsplit(",", 2)
        if hash_text:
            algorithm, _, value = hash_text.partition("=")
            digest = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            hash_text = f"{algorithm}={spell(digest)}"
        rows.append(f"{path},{hash_text},{size}")
    return "\n".join(rows) + "\n"


def listed_paths(records: Mapping[str, Rows]) -> dict[str, set[str]]:
    """Each file a RECORD lists, relative to the prefix -> the RECORDs listing it."""
    listed: dict[str, set[str]] = {}
    for record, rows in records.items():
        base = posixpath.dirname(posixpath.dirname(record))
        for row in rows:
            listed.setdefault(posixpath.normpath(posixpath.join(base, row[0])), set()).add(record)
    return listed


def verify_records(prefix: Path, records: Mapping[str, Rows], before: Iterable[str]) -> None:
    """Every RECORD row names a file with that hash and size (the RECORD itself: no hash),
    and every file under `prefix` that is not in `before` is listed by some RECORD."""
    for record, rows in records.items():
        base = posixpath.dirname(posixpath.dirname(record))
        for path, hash_text, size in rows:
            relative = posixpath.normpath(posixpath.join(base, path))
            data = (prefix / relative).read_bytes()
            if relative == record:
                assert (hash_text, size) == ("", ""), record
                continue
            assert hash_text == record_digest(data), f"{record}: {relative}"
            assert size == str(len(data)), f"{record}: {relative}"
    files = {
        path.relative_to(prefix).as_posix()
        for path in prefix.rglob("*")
        if path.is_file() or path.is_symlink()
    }
    unlisted = files - set(before) - set(listed_paths(records))
    assert not unlisted, f"installed but in no RECORD: {sorted(unlisted)[:5]}"
