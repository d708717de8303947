"""The raw-deflate inflater every member streams through: ISA-L's when it is installed.

Inflating is most of an install's CPU time. python-isal's `isal_zlib` inflates the
same streams as `zlib`, with the same `decompressobj` interface, about twice as fast
(one core, the 447 MB of deflated members in the 101-wheel bench set: zlib 1.11 s,
isal 0.58 s). Where no isal wheel exists for the platform, `zlib` does the job.
"""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Protocol

_isal: ModuleType | None
try:
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - isal is a dependency where it has wheels
    _isal = None


class Inflater(Protocol):
    """What the streams use of a `decompressobj`; zlib's and isal's both fit."""

    @property
    def unconsumed_tail(self) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes | memoryview, max_length: int = ..., /) -> bytes: ...


BACKENDS = ("zlib",) if _isal is None else ("isal", "zlib")
# isal raises its own error class (not a zlib.error) for a corrupt stream.
ERRORS: tuple[type[Exception], ...] = (zlib.error,) if _isal is None else (zlib.error, _isal.error)

# The backend in use: the fastest one here; tests run the streams through each.
backend = BACKENDS[0]


def inflater() -> Inflater:
    """A fresh raw-deflate (wbits -15, as zip members are) inflater."""
    if backend == "isal" and _isal is not None:
        inflater: Inflater = _isal.decompressobj(-15)
        return inflater
    return zlib.decompressobj(-15)
