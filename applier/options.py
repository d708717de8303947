"""What an apply is asked to do besides its plan: the apply options of the command line."""

from __future__ import annotations

import os
import re

import attrs

from planner.errors import Refused
from planner.place import Place


@attrs.frozen
class Options:
    """Both the checks before an apply (`applier.preflight`) and the apply itself read them."""

    jobs: int = os.cpu_count() or 1
    compile_bytecode: bool = False
    fsync: bool = False
    root: str | None = None
    wheel_dir: str | None = None
    # The unpacked-wheel cache (applier/cache.py); None: no cache, no wheel index.
    cache_dir: str | None = None
    link_mode: str = "auto"
    # `apply --target DIR` or `--prefix DIR`: the folder a plan for a folder must name.
    place: Place | None = None
    # Run the plan's interpreter and check it reports the plan's prefix, scheme paths
    # and tags. Off for `install`, whose plan was made from that very answer, and for
    # tests that describe a target by hand.
    confirm_target: bool = True


# SOURCE_DATE_EPOCH as `date +%s` prints it, within what a file's mtime can hold (time_t).
_EPOCH = re.compile(r"-?[0-9]{1,19}")
_MAX_EPOCH = 2**63 - 1


def source_date_epoch(link_mode: str) -> int | None:
    """SOURCE_DATE_EPOCH, the reproducible-builds convention: every mtime we set.

    Its spec asks a build to stop on a malformed value rather than go on without it,
    so such a value is refused before anything is written. So is `--link-mode hardlink`
    with it: a hardlinked file is the cached one, whose mtime it must not change, and a
    link mode named is one the apply must use.
    """
    text = os.environ.get("SOURCE_DATE_EPOCH")
    if not text:
        return None
    if not _EPOCH.fullmatch(text) or abs(int(text)) > _MAX_EPOCH:
        raise Refused.one(
            "SOURCE_DATE_EPOCH", f"{text!r} is not a whole number of seconds since 1970"
        )
    if link_mode == "hardlink":
        raise Refused.one(
            "--link-mode",
            "hardlink cannot be used with SOURCE_DATE_EPOCH, which sets every file's mtime:"
            " a hardlinked file is the cached one; use reflink, copy or auto (which does"
            " not hardlink under SOURCE_DATE_EPOCH)",
        )
    return int(text)
