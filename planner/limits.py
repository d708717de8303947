"""The ceilings a wheel is read under; the command line shows their defaults for every
command, so they live apart from the wheel reader and what it imports."""

from __future__ import annotations

import attrs

# The largest offset or size a file can have (off_t): `pread` takes no larger one.
MAX_FILE_OFFSET = 2**63 - 1
# Its digits: a size written longer is no file's (and int() reads at most 4,300 digits).
MAX_SIZE_DIGITS = len(str(MAX_FILE_OFFSET))


def whole_number(digits: str) -> int:
    """ASCII digits as a number, where int() may refuse them for their length (4,300
    digits, leading zeros counted): a number longer than any file size is 10**19."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= MAX_SIZE_DIGITS else 10**MAX_SIZE_DIGITS


@attrs.frozen
class Limits:
    """Ceilings against archive bombs; generous enough for the largest real wheels."""

    max_total_size: int = 8 * 1024**3
    max_entries: int = 200_000
    # Uncompressed/compressed ratio above which a member larger than `ratio_floor` is refused.
    # Real wheels hold small, very compressible members (pillow.libs' libXau expands 223x),
    # so only members big enough to matter are judged; the total limit covers the rest.
    max_ratio: int = 200
    ratio_floor: int = 16 * 1024**2
