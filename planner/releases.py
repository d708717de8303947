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


def project_of(metadata_folder: str) -> str:
    """The canonical name a metadata folder's own name gives (`Foo_Bar-1.0.dist-info`,
    `foo_bar-1.0-py3.11.egg-info`): whose it is, as an apply tells it without reading
    the METADATA inside."""
    folder = metadata_folder.rpartition("/")[2]
    if folder.endswith(".dist-info"):
        name = folder.removesuffix(".dist-info").rpartition("-")[0]
    else:  # NAME-VERSION[-pyX.Y[-PLATFORM]].egg-info, whose NAME holds no "-"
        name = folder.removesuffix(".egg-info").partition("-")[0]
    return canonicalize_name(name)


def same_version(text: str, version: Version | str) -> bool:
    """Whether `text` is `version`, however spelled; text that is no version is none."""
    try:
        return Version(text) == Version(str(version))
    except ValueError:  # InvalidVersion, or a number past int()'s 4,300 digits
        return False
