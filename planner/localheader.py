"""The zip local file header: the planner checks each member's, the applier reads
members through it (at the offset the plan carries). The standard library only."""

from __future__ import annotations

import os
import struct

LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
LOCAL_SIGNATURE = b"PK\x03\x04"
# Where the name and extra-field lengths sit in a local header.
LOCAL_LENGTHS = struct.Struct("<HH")
LOCAL_LENGTHS_AT = 26


def data_start(fd: int, offset: int) -> tuple[int, bytes] | None:
    """Where the data of the member whose local header is at `offset` starts, and the
    name that header gives; None when no local header is there."""
    header = os.pread(fd, LOCAL_HEADER.size, offset)
    if len(header) != LOCAL_HEADER.size or header[:4] != LOCAL_SIGNATURE:
        return None
    name_length, extra_length = LOCAL_LENGTHS.unpack_from(header, LOCAL_LENGTHS_AT)
    name = os.pread(fd, name_length, offset + LOCAL_HEADER.size)
    return offset + LOCAL_HEADER.size + int(name_length) + int(extra_length), name
