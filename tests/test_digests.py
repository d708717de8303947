"""Wheel hashes taken ahead by a forked child (planner/digests.py): the same wheels as
hashing them here, and a hash is used only for the file the child hashed. And the
file digest all of them rest on (planner/hashing.py)."""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from applier import wheelindex
from planner import digests, hashing
from planner.digests import ForkedDigests
from planner.hashing import file_digest, file_sha256
from planner.limits import Limits
from planner.wheelreader import read_wheels
from tests.wheelfactory import WheelSpec, build_wheel


@pytest.fixture(autouse=True)
def _fork_for_small_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digests, "MIN_BYTES", 0)


def some_wheels(directory: Path, count: int = 6) -> list[str]:
    return [
        str(
            build_wheel(
                WheelSpec(f"pkg{index}", files={f"pkg{index}/__init__.py": b"x = %d\n" % index}),
                directory,
            )
        )
        for index in range(count)
    ]


def test_wheels_read_with_hashes_from_the_child_are_the_wheels_read_here(tmp_path: Path) -> None:
    paths = some_wheels(tmp_path)
    ahead = ForkedDigests(paths)
    try:
        assert ahead.pid  # the child is hashing
        read = read_wheels(paths, Limits(), ahead)
    finally:
        ahead.close()
    assert read == read_wheels(paths, Limits())
    assert {wheel.sha256 for wheel in read} == {file_sha256(path) for path in paths}


def test_a_wheel_replaced_after_the_child_hashed_it_is_hashed_again(tmp_path: Path) -> None:
    paths = some_wheels(tmp_path, 2)
    ahead = ForkedDigests(paths)
    try:
        assert ahead._wait_for(os.path.abspath(paths[1])) is not None  # the child hashed both
        replacement = build_wheel(
            WheelSpec("pkg1", files={"pkg1/__init__.py": b"x = 'replaced'\n"}), tmp_path / "new"
        )
        os.replace(replacement, paths[1])
        read = read_wheels(paths, Limits(), ahead)
    finally:
        ahead.close()
    assert [wheel.sha256 for wheel in read] == [file_sha256(path) for path in paths]


def test_a_child_that_died_leaves_the_hashing_here(tmp_path: Path) -> None:
    paths = some_wheels(tmp_path, 3)
    ahead = ForkedDigests(paths)
    os.kill(ahead.pid, 9)
    try:
        read = read_wheels(paths, Limits(), ahead)
    finally:
        ahead.close()
    assert [wheel.sha256 for wheel in read] == [file_sha256(path) for path in paths]


def test_indexed_wheels_are_not_hashed_again_and_new_hashes_are_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 0)
    paths = some_wheels(tmp_path, 3)
    index = wheelindex.WheelIndex(str(tmp_path / "cache"))
    index.remember(paths[0], os.stat(paths[0]), file_sha256(paths[0]))
    ahead = ForkedDigests(paths, index)
    try:
        assert ahead.order == [os.path.abspath(path) for path in paths[1:]]
        read_wheels(paths, Limits(), ahead)
    finally:
        ahead.close()
    for path in paths:
        assert index.known(path, os.stat(path)) == file_sha256(path)


@settings(max_examples=30, deadline=None)
@given(
    size=st.sampled_from([0, 1, 4096, hashing._READ_WHOLE, hashing._READ_WHOLE + 1, 3 << 20]),
    position=st.integers(0, 10),
    algorithm=st.sampled_from(["sha256", "sha512", "blake2b"]),
)
def test_a_file_digest_is_of_the_whole_file_wherever_its_descriptor_stands(
    size: int, position: int, algorithm: str
) -> None:
    # Read whole up to the threshold, mapped above it: both from the first byte.
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file"
        path.write_bytes(data)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.lseek(fd, min(position, size), os.SEEK_SET)
            assert hashing.file_digest(fd, algorithm) == hashlib.new(algorithm, data).digest()
        finally:
            os.close(fd)


_SPELLINGS = {
    "urlsafe, unpadded (the spec)": lambda digest: hashing.encode_hash("x", digest)[2:],
    "urlsafe, padded": lambda digest: base64.urlsafe_b64encode(digest).decode(),
    "standard, padded": lambda digest: base64.b64encode(digest).decode(),
    "standard, unpadded": lambda digest: base64.b64encode(digest).decode().rstrip("="),
    "hex": lambda digest: digest.hex(),
}


@given(
    data=st.binary(max_size=64),
    algorithm=st.sampled_from(sorted(hashing.ACCEPTED_HASHES)),
    spelling=st.sampled_from(sorted(_SPELLINGS)),
    cut=st.integers(min_value=1, max_value=4),
)
def test_a_record_hash_is_read_as_the_digest_it_spells(
    data: bytes, algorithm: str, spelling: str, cut: int
) -> None:
    digest = hashlib.new(algorithm, data).digest()
    spelled = _SPELLINGS[spelling](digest)
    canonical = hashing.encode_hash(algorithm, digest)
    assert hashing.canonical_hash(f"{algorithm}={spelled}") == canonical
    # Anything that does not spell a whole digest of that algorithm is no digest.
    assert hashing.canonical_hash(f"{algorithm}={spelled.rstrip('=')[:-cut]}") is None
    assert hashing.canonical_hash(f"{algorithm}={spelled}!") is None
    assert hashing.canonical_hash(f"md5={spelled}") is None


def test_a_file_is_hashed_no_further_than_one_byte_past_its_size() -> None:
    """A pseudo-file says it is empty and reads on (/proc/self/pagemap for 256 GiB):
    hashed to its end, it never ended."""
    fd = os.open("/proc/self/status", os.O_RDONLY)
    try:
        assert os.fstat(fd).st_size == 0 and len(os.pread(fd, 4096, 0)) > 1
        assert file_digest(fd, "sha256") == hashlib.sha256(os.pread(fd, 1, 0)).digest()
    finally:
        os.close(fd)
