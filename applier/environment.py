"""The target environment as a whole: where its files are on disk, and recovering it.

Apart from `apply.py` so that `recover` and `verify` import neither the workers nor
the inflater: each command imports only what it uses.
"""

from __future__ import annotations

import os

from applier import journal
from applier.lock import target_lock


def base_of(prefix: str, root: str | None) -> str:
    """Where the prefix's files are on disk: under --root when staging an image."""
    if root is None:
        return prefix
    return os.path.join(os.path.abspath(root), prefix.lstrip("/"))


def recover_target(prefix: str, root: str | None = None) -> str:
    """Finish or undo an interrupted apply, under the environment's lock."""
    base = base_of(prefix, root)
    with target_lock(base):
        return journal.recover(base)


__all__ = ["base_of", "recover_target"]
