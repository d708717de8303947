"""What a plan records of the target's distributions, and an apply checks the target
against: each metadata folder, with the digest of its file list.

One state, computed alike from what the planner parsed and from the file lists alone
(the apply parses no METADATA or RECORD for it), whose names and digests a plan holds
and `stale.py` compares; finding the folders and reading their lists is `installed.py`'s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

from planner.installed import FileList, Installed, file_lists
from planner.paths import printable
from planner.plan import InstalledFolder


def installed_state(installed: Iterable[Installed]) -> tuple[InstalledFolder, ...]:
    """What a plan records of the target's distributions: each metadata folder, with
    a digest of its file list, so an apply can name the one added, removed or listing
    other files since."""
    return _state((item.dist_info, item.listing) for item in installed)


def installed_state_at(
    prefix: str, schemes: Mapping[str, str], lists: Sequence[FileList] | None = None
) -> tuple[InstalledFolder, ...]:
    """`installed_state(scan_installed(prefix, schemes))`, from the file lists alone
    (`lists`, when they were read already).

    What an apply checks the target against: it parses no METADATA or RECORD, so it
    imports neither installer nor packaging, however much is installed.
    """
    found = file_lists(prefix, schemes) if lists is None else lists
    return _state((dist_info, listing) for dist_info, _, listing in found)


def _state(listings: Iterable[tuple[str, str | None]]) -> tuple[InstalledFolder, ...]:
    """Each folder by its name escaped as `printable` escapes it: a folder whose name
    holds a control character, or is not UTF-8, is anyone's junk, which a plan must
    still be able to hold and an apply to name (both escape it alike). No list digests
    as an empty one, as the single fingerprint before it read them.

    Folders whose names escape alike (one named with a control character, one with
    the backslash text that escapes it) are held once, their lists digested together
    in the order of their names: a plan names each folder once, and a change to
    either is still told."""
    by_name: dict[str, list[tuple[str, str]]] = {}
    for dist_info, listing in listings:
        by_name.setdefault(printable(dist_info), []).append((dist_info, listing or ""))
    return tuple(
        InstalledFolder(name, hashlib.sha256(_joined(by_name[name]).encode()).hexdigest())
        for name in sorted(by_name)
    )


def _joined(folders: list[tuple[str, str]]) -> str:
    # One folder's list as it is (the digest a plan has always held); several as a JSON
    # list of them, in the order of the folders' names.
    texts = [listing for _, listing in sorted(folders)]
    return texts[0] if len(texts) == 1 else json.dumps(texts)
