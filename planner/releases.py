"""Whether a `.dist-info` folder's name names a release, as packaging compares names
and versions.

Kept apart from the wheel checks in `distinfo`, which import installer and the archive
readers, so that an apply can make the same comparison of an untrusted plan for the
price of packaging's name and version modules alone.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import Version


def names_release(dist_info: str, name: str, version: Version | str) -> bool:
    """Whether a `.dist-info` folder's name is that of the release `name` (canonical)
    `version`, as a wheel's must be: the folder that holds that release's RECORD."""
    info_name, _, info_version = dist_info.removesuffix(".dist-info").rpartition("-")
    return canonicalize_name(info_name) == name and same_version(info_version, version)


def same_version(text: str, version: Version | str) -> bool:
    """Whether `text` is `version`, however spelled; text that is no version is none."""
    try:
        return Version(text) == Version(str(version))
    except ValueError:  # InvalidVersion, or a number past int()'s 4,300 digits
        return False
