"""The names wheelplan reserves for its journal in a target, and what finding one means.

The applier writes its journal and backup folders under them, the planner and the
apply's validation refuse a plan that names a path among them, and plan and verify tell
of a journal they find: each side asks these, and none needs the probe that learns the
target.
"""

from __future__ import annotations

from planner.paths import is_within, path_problem

JOURNAL_DIR = ".wheelplan-journal"
# How the name of the journal's folder at the top of each other mount inside the
# environment that holds files an apply moves aside begins (a rename cannot leave its
# mount); each journal's are named `BACKUP_DIR-ID`, with an ID of its own.
BACKUP_DIR = ".wheelplan-backup"
# Why a path `in_journal` is refused: worded for a file of such a name as well as for
# what is below a folder of one.
RESERVED_FOR_JOURNAL = (
    f"uses a name wheelplan reserves for its journal ({JOURNAL_DIR} at the top of the"
    f" environment, or a name beginning {BACKUP_DIR})"
)


def running_or_interrupted(recover: str) -> str:
    """What a journal found without the environment's lock means: its apply may still be
    running, and `recover` would then refuse."""
    return (
        "an apply is running here or was interrupted (it left a journal); unless one is"
        f" running, run `{recover}`"
    )


def in_journal(path: str) -> bool:
    """Whether relative `path` is in the journal or in a folder whose name begins as its
    backup folders' do, at any depth (where a mount's top is depends on the machine):
    no plan writes there."""
    # The name at all first: one search, where the exact test makes two strings.
    return is_within(path, JOURNAL_DIR) or (BACKUP_DIR in path and f"/{BACKUP_DIR}" in f"/{path}")


def plan_can_name(path: str) -> bool:
    """Whether a plan may name relative `path`: the apply refuses one that is no safe
    path, or is in the journal's names, so a plan naming it could never be applied."""
    return path_problem(path) is None and not in_journal(path)
