"""Files that a distribution the plan keeps lists, and that the plan writes again: the
bytes written must be those its RECORD lists, unless the plan rewrites that RECORD
without it (a `--prefer` loser's: `keptrecords`), which the review names.

The planner writes such a file only as a shared one, of the same bytes, or as a
`--prefer` winner's. A plan edited to write other bytes over a kept distribution's
code is reviewed as a count of files replaced, so the apply checks the bytes itself:
by the hashes alone where they tell, else read again from the wheel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import attrs

from applier.streams import written_digest
from planner.errors import Problem
from planner.hashing import ACCEPTED_HASHES, open_regular
from planner.plan import FileEntry, Source


@attrs.frozen
class KeptWrite:
    """A planned replace of a file that the distributions of `folders`, all kept, list,
    none of whose RECORDs the plan rewrites."""

    entry: FileEntry
    folders: tuple[str, ...]


def kept_write_problems(
    kept: Sequence[KeptWrite],
    listed: Mapping[str, Mapping[str, str]],
    wheel_paths: Mapping[str, str],
    shebang: bytes,
) -> list[Problem]:
    """A problem for each kept write whose bytes are not those a folder lists there
    (`listed`: the installed files of each, as `listed_files` reads them; a legacy list,
    which lists no hash, lists none the plan may write)."""
    problems = []
    for write in kept:
        source = write.entry.source
        assert source is not None  # validated: a replace has a source
        for folder in write.folders:
            hashes = listed.get(folder, {}) if folder.endswith(".dist-info") else {}
            if not _writes(source, hashes.get(write.entry.path, ""), wheel_paths, shebang):
                problems.append(
                    Problem(
                        write.entry.path,
                        f"{folder.rpartition('/')[2]}, which the plan keeps, lists it with other"
                        " bytes than the plan writes there, and the plan does not rewrite its"
                        " RECORD without it",
                    )
                )
                break
    return problems


def _writes(source: Source, listed: str, wheel_paths: Mapping[str, str], shebang: bytes) -> bool:
    """Whether `source` is written as the bytes `listed` (a RECORD hash) names."""
    algorithm = listed.partition("=")[0]
    if algorithm not in ACCEPTED_HASHES:
        return False
    if listed == source.hash and not source.rewrite_shebang:
        return True  # checked as it is written
    fd = None
    try:
        if source.wheel is not None:
            fd = open_regular(wheel_paths[source.wheel])
        return written_digest(fd, source, shebang, algorithm) == listed
    except (OSError, KeyError):
        return False
    finally:
        if fd is not None:
            os.close(fd)
