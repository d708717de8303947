"""Plans and lock files are read whole, but never past their ceiling: `/dev/zero` or a
pipe that never ends is refused instead of filling the memory."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner import inputfiles
from planner.inputfiles import read_at_most


def _through_a_pipe(data: bytes) -> tuple[str, int]:
    """A path that reads `data` from a pipe (as `<(...)` gives one), and its descriptor."""
    read_end, write_end = os.pipe()
    os.write(write_end, data)  # far below a pipe's buffer: nothing blocks
    os.close(write_end)
    return f"/dev/fd/{read_end}", read_end


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=64),
    limit=st.integers(0, 64),
    chunk=st.integers(1, 9),
    piped=st.booleans(),
    regular=st.booleans(),
)
def test_a_file_or_pipe_is_read_whole_exactly_when_it_fits(
    tmp_path_factory: pytest.TempPathFactory,
    data: bytes,
    limit: int,
    chunk: int,
    piped: bool,
    regular: bool,
) -> None:
    """Whole when it fits, refused (EFBIG) when it does not; and with `regular`, a pipe
    is refused whatever it holds."""
    descriptor = None
    if piped:
        path, descriptor = _through_a_pipe(data)
    else:
        path = str(tmp_path_factory.mktemp("input") / "plan.json")
        Path(path).write_bytes(data)
    try:
        with mock.patch.object(inputfiles, "_CHUNK", chunk):
            if piped and regular:
                with pytest.raises(OSError) as raised:
                    read_at_most(path, limit, regular=True)
                assert raised.value.strerror == "it is a named pipe (FIFO), not a file"
            elif len(data) <= limit:
                assert read_at_most(path, limit, regular=regular) == data
            else:
                with pytest.raises(OSError) as raised:
                    read_at_most(path, limit, regular=regular)
                assert raised.value.errno == errno.EFBIG
                assert raised.value.strerror == f"it is larger than {limit} bytes"
    finally:
        if descriptor is not None:
            os.close(descriptor)


def test_a_device_is_read_as_a_file_is() -> None:
    """`/dev/null` (empty) reads as nothing; `/dev/zero` is the CLI's test, in a process
    whose memory is capped."""
    assert read_at_most("/dev/null", 0) == b""


def test_a_file_one_byte_past_the_ceiling_is_refused_with_the_ceiling_named(
    tmp_path: Path,
) -> None:
    big = tmp_path / "plan.json"
    with big.open("wb") as stream:
        stream.truncate(2 * 1024**2 + 1)  # sparse
    with pytest.raises(OSError, match=r"^\[Errno 27\] it is larger than 2 MiB: "):
        read_at_most(str(big), 2 * 1024**2)
    big.write_bytes(big.read_bytes()[:-1])
    assert len(read_at_most(str(big), 2 * 1024**2)) == 2 * 1024**2
