"""Owners that hash one shared file with other algorithms: their hashes are checked
against its bytes before the apply writes anything.

A file written once for several owners is read from one member only (the first
owner's), and checked as it is written against that member's RECORD hash. Where
another owner's RECORD hashes the same bytes with another algorithm (sha512 where the
first has sha256), the plan carries that hash too (`Plan.owner_hashes`): the planner
found it by reading that owner's member, and a plan file is not trusted to say so,
so the bytes are read here once more and hashed with each such algorithm.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from applier.streams import source_digests
from planner.errors import Problem, Refused
from planner.hashing import open_regular
from planner.plan import OwnerHash, Plan


def check_owner_hashes(plan: Plan, wheel_paths: Mapping[str, str], subject: str) -> None:
    """Refuse `plan` (named `subject`) when a file's bytes do not have an owner hash it
    gives; nothing is read where it gives none (nearly always)."""
    if not plan.owner_hashes:
        return
    wanted: dict[str, list[OwnerHash]] = {}
    for item in plan.owner_hashes:
        wanted.setdefault(item.path, []).append(item)
    problems: list[Problem] = []
    for entry in plan.files:
        items = wanted.get(entry.path)
        if items is None or entry.source is None:  # validated: a write with a source
            continue
        source = entry.source
        algorithms = {item.hash.partition("=")[0] for item in items}
        fd = None
        try:
            if source.wheel is not None:
                fd = open_regular(wheel_paths[source.wheel])
            digests = source_digests(fd, source, algorithms)
        except OSError:
            continue  # writing it fails the same way, and names the wheel
        finally:
            if fd is not None:
                os.close(fd)
        if digests is None:
            continue  # bytes that are not the member's own: refused as it is written
        origin = f"{source.member!r} of {source.wheel}" if source.wheel else "its inline content"
        problems += [
            Problem(
                subject,
                f"destination {entry.path!r}: {item.owner}'s RECORD hash {item.hash} is not"
                f" that of the bytes it is written from ({origin})",
            )
            for item in items
            if digests[item.hash.partition("=")[0]] != item.hash
        ]
    if problems:
        raise Refused(problems)
