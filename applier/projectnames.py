"""The canonical name of a project, as an apply tells it: from a metadata folder's own
name, without reading the METADATA inside, and without packaging for a plain name
(which an apply imports no sooner than it must: some 50 ms of its start).
"""

from __future__ import annotations

import re

# A name as nearly every installer and METADATA writes it: letters and digits joined by
# single underscores, hyphens or dots, whose canonical name needs no packaging.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*")


def project_of(folder: str) -> str:
    """The canonical name of the project whose metadata `folder` is, by its own name
    (`Foo_Bar-1.0.dist-info`, `foo_bar-1.0-py3.11.egg-info`), as an apply tells it
    without reading the METADATA inside."""
    base = folder.rpartition("/")[2]
    if base.endswith(".dist-info"):
        part = base.removesuffix(".dist-info").rpartition("-")[0]
    else:  # NAME-VERSION[-pyX.Y[-PLATFORM]].egg-info, whose NAME holds no "-"
        part = base.removesuffix(".egg-info").partition("-")[0]
    return canonical_name(part)


def canonical_name(name: str) -> str:
    """`name`'s canonical form, without packaging for a plain one (`Foo_Bar`)."""
    if _PLAIN_NAME.fullmatch(name):
        return name.replace("_", "-").replace(".", "-").lower()
    # Spelled otherwise (`zope..interface`): packaging's canonical name, which an apply
    # imports no sooner.
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


__all__ = ["canonical_name", "project_of"]
