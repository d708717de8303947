"""The zip local file header: the planner checks each member's, the applier reads
members through it (at the offset the plan carries). The standard library only."""

from __future__ import annotations

import struct

LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
LOCAL_SIGNATURE = b"PK\x03\x04"
# Where the name and extra-field lengths sit in a local header.
LOCAL_LENGTHS = struct.Struct("<HH")
LOCAL_LENGTHS_AT = 26
