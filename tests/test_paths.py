"""Path helpers: `path_problem`'s fast path accepts exactly what its checks accept, and
`is_within` compares whole components (the root "/" included)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from planner import paths

# Characters each check looks at, and some that none does.
ALPHABET = list("aZé€😀 /\\.:\x00\x1f\x7f\x85\x9f\xa0\udcff")
parts = st.one_of(
    st.text(st.sampled_from(ALPHABET), max_size=8),
    st.integers(60, 70).map(lambda length: "x" * length),
    st.integers(60, 70).map(lambda length: "é" * length),
    st.integers(60, 70).map(lambda length: "😀" * length),
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(parts, max_size=5).map("".join))
@example("C:/evil.py")
@example("a/../b")
@example("a/./b")
@example("..")
@example(".hidden/..dots/...")
@example("x" * 255 + "/y")
@example("x" * 256)
@example("é" * 128)
@example("a/" * (paths.MAX_DEPTH - 1) + "b")
@example("a/" * paths.MAX_DEPTH + "b")
def test_the_fast_path_agrees_with_the_checks(path: str) -> None:
    assert paths.path_problem(path) == paths._problem(path)


def test_a_path_deeper_than_any_wheel_nests_is_refused() -> None:
    """The folder checks walk a path one component at a time, recursively: 1,200
    components ran past Python's recursion limit (a traceback) where 256 are refused."""
    assert paths.path_problem("a/" * (paths.MAX_DEPTH - 1) + "b") is None
    for depth in (paths.MAX_DEPTH, 1200):
        problem = f"has more than {paths.MAX_DEPTH} components"
        assert paths.path_problem("a/" * depth + "b") == problem


segments = st.lists(st.sampled_from(["a", "b", "ab", "a.b"]), max_size=4)


@settings(max_examples=1000, deadline=None)
@given(segments, segments, st.booleans())
@example([], ["a"], True)  # every absolute path lies within "/"
@example(["a"], ["ab"], True)  # a sibling that shares a prefix does not
def test_is_within_compares_whole_components(
    root: list[str], path: list[str], absolute: bool
) -> None:
    lead = "/" if absolute else ""
    root_text, path_text = lead + "/".join(root), lead + "/".join(path)
    expected = path[: len(root)] == root
    assert paths.is_within(path_text, root_text) == expected


_UNSEEN = "\u061c\u00ad\u200b\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069\ufeff\U000e0001"


@given(st.text(alphabet=st.characters() | st.sampled_from(_UNSEEN)))
@example("evil\u202etxt.py")
@example("one\u2028two")
@example("not utf-8: \udc9b2J")
def test_printable_text_is_one_line_that_shows_every_character(text: str) -> None:
    """A review line names what the plan does: a name must not break it into two
    lines, nor show itself as another name, nor send a terminal a control sequence."""
    shown = paths.printable(text)
    assert len(shown.splitlines()) <= 1
    assert all(ch.isprintable() for ch in shown)
    assert not any(ch in _UNSEEN or "\ud800" <= ch <= "\udfff" for ch in shown)
    if text.isprintable():
        assert shown == text
