"""A gzip-encoded download decoded in bounded blocks, whatever the blocks it came in."""

from __future__ import annotations

import gzip
import itertools
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wheelplan.contentencoding import Undecodable, decoded


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[start:end] for start, end in itertools.pairwise(points)]


@given(
    members=st.lists(st.binary(max_size=3000), min_size=1, max_size=3),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
    limit=st.integers(min_value=1, max_value=700),
)
def test_gzip_is_decoded_whole_in_blocks_no_larger_than_the_limit(
    members: list[bytes], cuts: list[int], limit: int
) -> None:
    """Members one after another are one body, as gzip allows."""
    body = b"".join(gzip.compress(member, mtime=0) for member in members)
    out = list(decoded(_split(body, cuts), "gzip", limit))
    assert b"".join(out) == b"".join(members)
    assert all(0 < len(block) <= limit for block in out)


@given(
    members=st.lists(st.binary(max_size=300), min_size=1, max_size=3),
    padding=st.lists(st.integers(min_value=0, max_value=20), min_size=3, max_size=3),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
)
def test_zeros_that_pad_a_gzip_stream_are_passed_over(
    members: list[bytes], padding: list[int], cuts: list[int]
) -> None:
    """gzip and Python's gzip module pass over zeros after a member, and uv 0.13.9
    decodes such a body: they were refused as 'not gzip: ... incorrect header check'."""
    body = b"".join(
        gzip.compress(member, mtime=0) + bytes(zeros)
        for member, zeros in zip(members, padding, strict=False)
    )
    assert b"".join(decoded(_split(body, cuts), "gzip", 100)) == b"".join(members)


@given(
    after=st.binary(min_size=1, max_size=50).filter(
        lambda after: not after.lstrip(b"\0").startswith(b"\x1f\x8b")
    ),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
)
def test_bytes_after_a_gzip_stream_that_are_no_member_are_passed_over(
    after: bytes, cuts: list[int]
) -> None:
    """As gzip passes over them (warning 'trailing garbage ignored') and uv 0.13.9
    installs the wheel, wherever the blocks are cut: they were refused as 'bytes that
    are not gzip follow its end', where the hashes checked are the decoded wheel's
    anyway."""
    body = gzip.compress(b"PK" * 100, mtime=0) + after
    assert b"".join(decoded(_split(body, cuts), "gzip", 100)) == b"PK" * 100


@pytest.mark.parametrize("after", [b"\x1f\x8bgarbage", b"\0\x1f\x8b\x08\0"])
def test_bytes_after_a_gzip_stream_that_start_a_member_are_decoded_as_one(
    after: bytes,
) -> None:
    """As gzip decodes them, refusing a member that is not whole or not gzip."""
    body = gzip.compress(b"PK" * 100, mtime=0) + after
    with pytest.raises(Undecodable, match="and it is not gzip: "):
        b"".join(decoded([body], "gzip", 100))


def test_a_gzip_bomb_is_decoded_a_block_at_a_time() -> None:
    """One small block that inflates to 64 MiB gives its first block of `limit`
    bytes without inflating the rest."""
    zeros = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(zeros.compress(bytes(1024**2)) for _ in range(64)) + zeros.flush()
    assert len(bomb) < 1024**2
    blocks = decoded([bomb], "gzip", 4096)
    assert next(blocks) == bytes(4096)


_CODING = st.sampled_from(["gzip", "x-gzip", " GZip", "identity", "Identity "])


@given(
    data=st.binary(max_size=500),
    fields=st.lists(st.lists(_CODING, min_size=1, max_size=3), min_size=1, max_size=3),
    cuts=st.lists(st.integers(min_value=0), max_size=4),
)
def test_the_codings_listed_are_undone_in_the_reverse_of_their_order(
    data: bytes, fields: list[list[str]], cuts: list[int]
) -> None:
    """RFC 9110: codings listed in the order applied, in one header field or several
    (joined by commas), identity a no-op. 'identity, gzip' was refused as an encoding
    wheelplan does not decode, and 'gzip' twice decoded once, its hash then wrong."""
    body = data
    for coding in (coding for field in fields for coding in field):
        if "gzip" in coding.lower():
            body = gzip.compress(body, mtime=0)
    encoding = ", ".join(", ".join(field) for field in fields)
    assert b"".join(decoded(_split(body, cuts), encoding, 100)) == data


def test_a_coding_it_cannot_decode_among_others_is_refused_naming_them_all() -> None:
    with pytest.raises(Undecodable) as refused:
        decoded([gzip.compress(b"PK", mtime=0)], "gzip, br", 1)
    assert str(refused.value) == (
        "the server sent it with Content-Encoding 'gzip, br', which wheelplan does not"
        " decode (it asked for the identity encoding)"
    )


@given(data=st.binary(max_size=100), cuts=st.lists(st.integers(min_value=0), max_size=4))
def test_the_identity_encoding_is_the_blocks_as_they_came(data: bytes, cuts: list[int]) -> None:
    blocks = _split(data, cuts)
    for encoding in (None, "identity", " Identity "):
        assert list(decoded(blocks, encoding, 1)) == blocks


def test_an_encoding_it_cannot_decode_is_refused_before_a_block_is_read() -> None:
    def unread() -> list[bytes]:
        raise AssertionError("read")

    with pytest.raises(Undecodable, match=r"Content-Encoding 'br', which wheelplan does not"):
        decoded(iter(unread, None), "br", 1)
