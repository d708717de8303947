"""An installed distribution's RECORD, read into the files it lists under the prefix
(rows relative to its folder, absolute, or as pip's --target move left them), and
written again without some of them.

Apart from `installed.py`, which finds the distributions and reads their metadata:
how a row names a path is one rule, for the planner's scan and the applier's check of
what a plan may remove alike.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection
from typing import TYPE_CHECKING

import attrs

from planner.hashing import canonical_hash
from planner.limits import MAX_FILE_OFFSET, whole_number
from planner.paths import path_problem

if TYPE_CHECKING:
    from planner.installed import Installed


def prefix_relative(base: str, path: str, prefix: str, directory: bool = False) -> str:
    """A RECORD row's path (relative to the folder holding the dist-info, or absolute)
    made relative to the prefix, lexically as `os.path.relpath` would; in a --target
    folder (`directory`), a relative row as pip's move left it (`_moved_by_pip`).

    A row that stays below the prefix, joined to `base` alone, gives the same answer
    without the two `abspath` calls of `relpath`: a third of a re-plan's scan of
    17,000 rows.
    """
    relative = os.path.normpath(os.path.join(base, path))
    if os.path.isabs(relative) or relative.startswith(os.pardir):
        if directory and not os.path.isabs(relative):
            return _moved_by_pip(relative.replace(os.sep, "/"))
        # Absolute, or climbing above the prefix (maybe back into it, by its name).
        relative = os.path.relpath(os.path.join(prefix, relative), prefix)
    return relative.replace(os.sep, "/")


# pip --target installs into a temporary home scheme (its library `lib/python`, scripts
# in `bin`, data at its top), then moves each entry at the top of the library, and of
# the home but `lib`, into the folder (pip's `_handle_target_dir`). RECORD rows stay
# relative to the library: `../../bin/x` is the folder's `bin/x`.
_PIP_HOME_LIBRARY = "lib/python"


def _moved_by_pip(relative: str) -> str:
    """A climbing row, relative to a --target folder, as pip's move left it: REST for
    `../../REST`, a path a file may have, unless pip moved no such entry; else as it is.

    pip skips every entry of the home that the library's path begins with (`lib`, and
    `l` or `li` too): what a row names there was never moved, so it names nothing here.
    """
    rest = relative.removeprefix("../../")
    if rest == relative or path_problem(rest) is not None:
        return relative
    return relative if _PIP_HOME_LIBRARY.startswith(rest.partition("/")[0]) else rest


def record_without(item: Installed, prefix: str, dropped: Collection[str]) -> str:
    """`item`'s RECORD without the rows of `dropped` (paths relative to the prefix, as
    `item.files` has them), written as installers write RECORD."""
    import csv
    import io

    assert item.listing is not None and not item.legacy
    base = os.path.dirname(item.dist_info)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in parse_record(item.listing).rows:
        if prefix_relative(base, row[0], prefix, item.directory) not in dropped:
            writer.writerow(row)
    return out.getvalue()


def rows_dropped(
    record: ParsedRecord, rewritten: str, dist_info: str, prefix: str, directory: bool = False
) -> set[str] | None:
    """The paths (relative to the prefix) whose rows `rewritten` drops from `record`, an
    installed RECORD, as `record_without` drops them; None unless it keeps each other
    row as it is and adds none."""
    written = parse_record(rewritten)
    if not (record.whole and written.whole):
        return None
    rows, kept = Counter(record.rows), Counter(written.rows)
    if kept - rows:
        return None
    base = os.path.dirname(dist_info)
    paths = {row[0]: prefix_relative(base, row[0], prefix, directory) for row in rows}
    return {paths[row[0]] for row in rows - kept} - {paths[row[0]] for row in kept}


@attrs.frozen
class ParsedRecord:
    """An installed RECORD's rows, parsed once for each check that reads them."""

    rows: tuple[tuple[str, str, str], ...]
    # The lines that are not rows, passed over where it does not parse whole.
    cut: tuple[int, ...]
    # Whether it parses whole, as the spec reads it: a RECORD rewritten from it must.
    whole: bool


def parse_record(record: str) -> ParsedRecord:
    """A RECORD's rows. A blank line is none (a hand edit, or one more line break at the
    end), where installer's reader takes it for a row of no fields. Where it does not
    parse whole, a line that is not a row (four fields, say) is passed over and its
    number kept, so that the rows after it still own their files. Read line by line, a
    quoted path holding a line break is cut, but that is a control character no path
    may have: the distribution's files are unknown either way."""
    from installer.records import parse_record_file  # see installed.scan_installed

    lines = record.splitlines(keepends=True)  # a quoted line break is a field's
    try:
        rows = tuple(parse_record_file(line for line in lines if line.strip()))
        return ParsedRecord(rows, (), True)
    except Exception:  # the csv module raises several kinds
        pass
    kept: list[tuple[str, str, str]] = []
    cut: list[int] = []
    for number, line in enumerate(lines, 1):
        try:
            kept.extend(parse_record_file([line] if line.strip() else []))
        except Exception:
            cut.append(number)
    return ParsedRecord(tuple(kept), tuple(cut), False)


@attrs.frozen
class Rows:
    """What a distribution's file list says, as far as it is taken (see `Installed`)."""

    files: dict[str, str] = attrs.field(factory=dict)
    sizes: dict[str, int] = attrs.field(factory=dict)
    outside: tuple[str, ...] = ()
    # Why these are not all of its files: the list cannot be read past a row, or a row
    # names a path no file may have (which no plan can remove). None when they are.
    unknown: str | None = None


def _climbs(relative: str) -> bool:
    """Whether a path made relative to the prefix leads outside it."""
    return relative.startswith("../") or relative == ".."


def row_problem(relative: str) -> str | None:
    """Why a listed file, made relative to the prefix, is not one of the environment's."""
    if _climbs(relative):
        return "points outside the environment"
    return path_problem(relative)


def record_files(record: str | None, dist_info: str, prefix: str, directory: bool = False) -> Rows:
    """An installed RECORD's paths made relative to the prefix (to a --target folder
    with `directory`), with their hashes as the spec spells them and the sizes it gives.

    A row leading outside the prefix is set apart, not refused: an installer's own
    reading of its rows must not block every plan there. Nor does a damaged RECORD: the
    rows read are kept (they still own their files), and `unknown` says why they may
    not be all.
    """
    if record is None:
        return Rows()
    return parsed_files(parse_record(record), dist_info, prefix, directory)


def parsed_files(
    record: ParsedRecord, dist_info: str, prefix: str, directory: bool = False
) -> Rows:
    """`record_files` of a RECORD parsed already."""
    base = os.path.dirname(dist_info)
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    outside: list[str] = []
    bad_row: str | None = None
    cut = record.cut
    for path, hash_text, size in record.rows:
        relative = prefix_relative(base, path, prefix, directory)
        if _climbs(relative):
            outside.append(path)
            continue
        if problem := path_problem(relative):
            bad_row = bad_row or f"its RECORD row {path!r} {problem}"
            continue
        if hash_text:
            # Hex, as installer before 0.6 wrote it, or padded: compared as the digest.
            hash_text = canonical_hash(hash_text) or hash_text
        files[relative] = hash_text
        if size.isascii() and size.isdigit() and (value := whole_number(size)) <= MAX_FILE_OFFSET:
            sizes[relative] = value
    if cut and not bad_row:
        bad_row = f"its RECORD row {cut[0]} is not a path, a hash and a size"
    return Rows(files, sizes, tuple(outside), bad_row)
