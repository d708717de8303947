"""The target environment as a whole: where its files are on disk, and recovering it.

Apart from `apply.py` so that `recover` and `verify` import neither the workers nor
the inflater: each command imports only what it uses.
"""

from __future__ import annotations

import os

from applier import journal
from applier.lock import target_lock
from planner.errors import Refused
from planner.paths import is_within


def base_of(prefix: str, root: str | None) -> str:
    """Where the prefix's files are on disk: under --root when staging an image.

    Under --root every file stays under the staging folder: a symlink on the way to
    the staged prefix that leads out of it (to `/tmp`, and so into the real prefix) is
    refused. The staging folder itself may be a link.
    """
    if root is None:
        return prefix
    staging = os.path.abspath(root)
    base = os.path.join(staging, prefix.lstrip("/"))
    existing = base  # the staged prefix, or its nearest folder that exists yet
    while not os.path.lexists(existing) and existing != staging:
        existing = os.path.dirname(existing)
    if os.path.lexists(existing) and not is_within(
        os.path.realpath(existing), os.path.realpath(staging)
    ):
        raise Refused.one(base, f"leads out of the staging folder {root} through a symlink")
    return base


def recover_target(prefix: str, root: str | None = None) -> str:
    """Finish or undo an interrupted apply, under the environment's lock."""
    base = base_of(prefix, root)
    with target_lock(base):
        return journal.recover(base)


__all__ = ["base_of", "recover_target"]
