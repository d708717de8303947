"""Wheel sources: read one wheel once and validate all of it before anything is planned.

The planner reads only the central directory, the local headers and the small
dist-info files, all from one mapping of the file; member bytes are hashed by the
applier as it streams them, against the RECORD hashes the Wheel keeps. One descriptor
serves the archive's checks (`planner.archive`), the wheel's hash (`planner.wheelhash`)
and its dist-info's (`planner.distinfo`), so the bytes checked are the bytes read.
"""

from __future__ import annotations

import os
import re

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from planner.archive import map_file, read_archive
from planner.centraldir import Unreadable
from planner.distinfo import read_dist_info
from planner.errors import Collector, Refused, looks_like
from planner.hashing import open_regular
from planner.limits import Limits
from planner.wheelhash import BACKGROUND_HASH, DigestCache, Hashing
from planner.wheels import Wheel

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
            " (expected NAME-VERSION-PYTHONTAG-ABITAG-PLATFORMTAG.whl)"
            + looks_like(filename, "wheel"),
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
