"""Wheel sources: read one wheel once and validate all of it before anything is planned.

The planner reads only the central directory, the local headers and the small
dist-info files, all from one mapping of the file; member bytes are hashed by the
applier as it streams them, against the RECORD hashes the Wheel keeps. One descriptor
serves the archive's checks (`planner.archive`), the wheel's hash (`planner.wheelhash`)
and its dist-info's (`planner.distinfo`), so the bytes checked are the bytes read.

`read_wheels` reads a request's wheels together, so that every wheel's problems are
told at once, and takes one whose stat stamp the digest cache knows from its
manifest rather than read it again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from planner.archive import map_file, read_archive
from planner.centraldir import Unreadable
from planner.distinfo import read_dist_info
from planner.errors import Collector, Problem, Refused, looks_like
from planner.hashing import open_regular
from planner.limits import Limits
from planner.wheelhash import BACKGROUND_HASH, DigestCache, Hashing
from planner.wheels import ManifestCache, Wheel

# The version of what read_wheel returns, as cached manifests (applier/manifests.py) hold
# it: bump it whenever read_wheel's output or its checks change (a field, a warning's or
# a hash's wording, a check added or dropped, here or in planner.archive or planner.distinfo),
# so no manifest an older reader wrote is used.
READER_VERSION = 7


def read_wheel(
    path: str, limits: Limits | None = None, digests: DigestCache | None = None
) -> Wheel:
    """Read and validate one wheel; raise Refused listing every problem found.

    `digests` may supply the wheel's sha256 without reading the whole file again.
    """
    limits = limits or Limits()
    absolute = os.path.abspath(path)
    filename = os.path.basename(absolute)
    errors = Collector(filename)
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as error:
        # packaging says "Invalid wheel filename (why): 'name'"; the name is the subject.
        found = re.search(r"\((.*?)\)", str(error))
        reason = f": {found.group(1)}" if found else ""
        raise Refused.one(
            filename,
            f"not a valid wheel file name{reason}"
            " (expected NAME-VERSION-PYTHONTAG-ABITAG-PLATFORMTAG.whl)" + looks_like(path, "wheel"),
        ) from None
    try:
        fd = open_regular(absolute)
    except OSError as error:
        raise Refused.one(path, f"cannot read wheel: {error.strerror}") from None
    # One descriptor for the hash and the archive, so the bytes checked are the bytes read.
    hashing: Hashing | None = None
    wheel: Wheel | None = None
    try:
        size = os.fstat(fd).st_size
        hashing = Hashing(absolute, fd, digests, background=size >= BACKGROUND_HASH)
        with map_file(fd) as data:
            archive = read_archive(data, limits, errors)
            # The hash is waited for last: it is being taken meanwhile.
            wheel = read_dist_info(
                archive, errors, absolute, name, version, tags, size, hashing.result
            )
            return wheel
    except OSError as error:
        raise Refused.one(path, f"cannot read wheel: {error.strerror or error}") from None
    except Unreadable as error:
        errors.error(str(error))
    finally:
        if hashing is not None:
            if wheel is None:
                hashing.abandon()
            hashing.join()  # no thread may read the descriptor once it is closed
        os.close(fd)
    errors.raise_if_any()
    raise AssertionError("unreachable")  # pragma: no cover


def read_wheels(
    paths: Sequence[str],
    limits: Limits,
    digests: DigestCache | None = None,
    manifests: ManifestCache | None = None,
) -> list[Wheel]:
    """Read every wheel; raise Refused listing the problems of all of them.

    With `manifests`, a wheel whose sha256 `digests` knows without hashing it (its stat
    stamp is unchanged) is taken from its manifest when there is a valid one for this
    path and these limits, and not read again; every wheel read is remembered there.
    """
    wheels: list[Wheel] = []
    problems: list[Problem] = []
    for path in paths:
        if manifests is not None and digests is not None:
            known = _remembered(path, limits, digests, manifests)
            if known is not None:
                wheels.append(known)
                continue
        try:
            wheel = read_wheel(path, limits, digests)
        except Refused as refused:
            problems += refused.problems
            continue
        if manifests is not None:
            manifests.remember(wheel, limits)
        wheels.append(wheel)
    if problems:
        raise Refused(problems)
    return sorted(wheels, key=lambda wheel: wheel.name)


def _remembered(
    path: str, limits: Limits, digests: DigestCache, manifests: ManifestCache
) -> Wheel | None:
    """The wheel at `path` as its manifest has it, if `digests` knows its sha256 from
    its stat stamp; None: read it. Opened as read_wheel opens it, so a wheel that can
    no longer be opened is read, and refused, as before."""
    absolute = os.path.abspath(path)
    try:
        fd = open_regular(absolute)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    sha256 = digests.known(absolute, info)
    return manifests.known(absolute, sha256, info.st_size, limits) if sha256 else None
