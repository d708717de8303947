"""`uninstall -r FILE` reads the names a requirements file gives as pip and uv read
them: every way a line spells a distribution names that distribution."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from planner.requirementsfile import uninstall_names

NAMES = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,8}[A-Za-z0-9])?", fullmatch=True)
# What a line adds to its name that does not change which distribution it names.
AFTER = st.sampled_from(
    [
        "",
        "==1.0",
        " >= 0.1, <2",
        "[extra,other]",
        '; python_version < "3"',
        "[x] @ https://example.com/any.tar.gz#sha256=00",
        " @ https://example.com/other-1.0-py3-none-any.whl",
        " --hash=sha256:" + "0" * 64,
        "  # why it goes",
    ]
)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.tuples(NAMES, AFTER), min_size=1, max_size=6))
def test_a_line_names_its_requirement_s_distribution_in_the_file_s_order(
    tmp_path_factory: pytest.TempPathFactory, lines: list[tuple[str, str]]
) -> None:
    path = tmp_path_factory.mktemp("reqs") / "requirements.txt"
    path.write_text("".join(f"{name}{after}\n" for name, after in lines), encoding="utf-8")
    expected = dict.fromkeys(canonicalize_name(name) for name, _ in lines)
    assert uninstall_names([str(path)]) == tuple(expected)


@given(name=NAMES, where=st.sampled_from(["", "./wheels/", "https://example.com/wheels/"]))
def test_a_wheel_s_path_or_url_names_the_wheel_s_distribution(
    tmp_path_factory: pytest.TempPathFactory, name: str, where: str
) -> None:
    """A bare `NAME-1.0-py3-none-any.whl` is a name PEP 508 allows: pip takes it for a
    wheel's path all the same."""
    escaped = canonicalize_name(name).replace("-", "_")  # as a wheel file names it
    fragment = "#sha256=" + "0" * 64 if where.startswith("https:") else ""
    path: Path = tmp_path_factory.mktemp("reqs") / "requirements.txt"
    path.write_text(f"{where}{escaped}-1.0-py3-none-any.whl{fragment}\n", encoding="utf-8")
    assert uninstall_names([str(path)]) == (canonicalize_name(name),)
