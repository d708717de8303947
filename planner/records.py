"""A wheel's RECORD, read row by row into the hash and size of every path it lists."""

from __future__ import annotations

import csv
from collections.abc import Collection

from planner.errors import Collector
from planner.hashing import ACCEPTED_HASHES, canonical_hash
from planner.limits import MAX_FILE_OFFSET, MAX_SIZE_DIGITS, whole_number
from planner.paths import path_problem

# Signature files beside RECORD, which RECORD lists without a hash.
SIGNATURES = frozenset({"RECORD.jws", "RECORD.p7s"})


def parse_record(
    text: str, record_path: str, members: Collection[str], errors: Collector
) -> tuple[dict[str, tuple[str, int | None]], bool]:
    """RECORD's rows by path, and whether any row was unreadable.

    Parsed row by row (not with installer's parser, which stops at the first bad row)
    so every problem is reported with its row number. Backslashes become slashes,
    as installer does; the path check then applies to the result, except to the
    `members` whose path was checked already.
    """
    rows: dict[str, tuple[str, int | None]] = {}
    damaged = False
    respelled = 0
    signatures_in = record_path.rpartition("/")[0] + "/"
    reader = csv.reader(text.splitlines(), strict=True)
    try:
        for fields in reader:
            number = reader.line_num
            if not fields:
                continue
            if len(fields) != 3:
                errors.error(
                    f"RECORD row {number} has {len(fields)} fields; a row is path,hash,size"
                )
                damaged = True
                continue
            path, hash_text, size_text = fields
            path = path.replace("\\", "/")
            if path in errors.refused:
                continue
            problem = None if path in members else path_problem(path)
            if problem:
                errors.error(f"RECORD row {number} ({path!r}): path {problem}")
                continue
            if path in rows:
                errors.error(f"RECORD row {number} ({path!r}): path listed twice")
                continue
            if path == record_path or (
                path.startswith(signatures_in) and path.rpartition("/")[2] in SIGNATURES
            ):
                rows[path] = ("", None)
                continue
            problem = _row_problem(hash_text, size_text)
            canonical = None if problem else canonical_hash(hash_text)
            if canonical is None:
                algorithm, _, value = hash_text.partition("=")
                problem = problem or f": hash {value!r} is not a {algorithm} digest"
                errors.error(f"RECORD row {number} ({path!r}){problem}")
                errors.refused.add(path)
                continue
            if canonical != hash_text:
                respelled += 1
            # int() is the fast way, for all but sizes written with many leading zeros.
            size = int(size_text) if len(size_text) <= MAX_SIZE_DIGITS else whole_number(size_text)
            rows[path] = (canonical, size)
    except csv.Error as error:
        errors.error(f"RECORD row {reader.line_num} is not valid CSV ({error})")
        return rows, True
    if respelled:
        errors.warn(
            f"{respelled} RECORD hashes are not in unpadded urlsafe base64; read as the"
            " digests they spell"
        )
    return rows, damaged


def _row_problem(hash_text: str, size_text: str) -> str | None:
    """What is wrong with a RECORD row's hash or size, or None."""
    algorithm, _, value = hash_text.partition("=")
    if not hash_text:
        return " has no hash"
    if algorithm not in ACCEPTED_HASHES or not value:
        return f": hash {algorithm!r} is not accepted (sha256 or stronger required)"
    if not (size_text.isascii() and size_text.isdigit()):
        return f": size {size_text!r} is not a whole number of bytes"
    if len(size_text) >= MAX_SIZE_DIGITS and whole_number(size_text) > MAX_FILE_OFFSET:
        shown = (
            size_text if len(size_text) <= 24 else f"{size_text[:24]}... ({len(size_text)} digits)"
        )
        return f": size {shown} is larger than any file"
    return None
