"""Walking and removing folder trees at any depth (`planner/trees.py`,
`applier/removal.py`): what every caller gets, whatever the tree's depth."""

from __future__ import annotations

import contextlib
import errno
import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from applier.removal import remove_tree
from planner.trees import walk
from tests.deeptrees import DEPTH, DeepTree

# Fewer descriptors than the tree is deep, and enough for pytest's own.
DESCRIPTORS = 256


@contextlib.contextmanager
def descriptors(count: int) -> Iterator[None]:
    """Run the block with at most `count` open files allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(count, soft), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def chain(depth: int) -> str:
    return "/".join(["d"] * depth)


def test_a_walk_gives_what_os_walk_gives_with_symlinks_as_entries(tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f.txt").write_text("")
    (top / "c").mkdir()
    (top / "g.txt").write_text("")
    (top / "to-folder").symlink_to(top / "a")
    (top / "a" / "to-file").symlink_to(top / "g.txt")
    (top / "a" / "dangling").symlink_to(tmp_path / "nowhere")
    expected = {
        "": ({"a", "c"}, {"g.txt", "to-folder"}),
        "a": ({"b"}, {"to-file", "dangling"}),
        "a/b": (set(), {"f.txt"}),
        "c": (set(), set()),
    }
    for topdown in (True, False):
        seen = [
            (folder.path, set(folder.folders), set(folder.others))
            for folder in walk(str(top), topdown=topdown)
        ]
        assert {path: (folders, others) for path, folders, others in seen} == expected
        order = [path for path, _, _ in seen]
        assert len(order) == len(expected)
        for path in order:  # a parent before its folders top-down, after them bottom-up
            if path:
                parent = path.rpartition("/")[0]
                assert (order.index(parent) < order.index(path)) == topdown
    pruned = []
    for folder in walk(str(top)):
        pruned.append(folder.path)
        folder.folders[:] = [name for name in folder.folders if name != "a"]
    assert sorted(pruned) == ["", "c"]


def test_a_tree_deeper_than_the_descriptors_a_process_may_open_is_walked_and_removed(
    tmp_path: Path, deep_tree: DeepTree
) -> None:
    """Files beside the way down, at every kind of depth, are found: each folder is
    opened by its parent's descriptor, and few are kept open."""
    top = tmp_path / "top"
    bottom = deep_tree(top, DEPTH)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kept.txt").write_text("not ours")
    expected = {bottom}
    for depth in (1, 10, 100, 700, DEPTH - 1):
        side = top / chain(depth) / "side"
        side.mkdir()
        (side / "f.txt").write_text("")
        (side / "out").symlink_to(outside)
        expected |= {f"{chain(depth)}/side/f.txt", f"{chain(depth)}/side/out"}
    with descriptors(DESCRIPTORS):
        for topdown in (True, False):
            found = {
                f"{folder.path}/{name}"
                for folder in walk(str(top), topdown=topdown)
                for name in folder.others
            }
            assert found == expected
        remove_tree(str(top))
    assert not top.exists()
    assert os.listdir(outside) == ["kept.txt"]


def test_a_folder_moved_away_while_walked_below_stops_the_walk(
    tmp_path: Path, deep_tree: DeepTree
) -> None:
    """Deep down, the way back up is each folder's "..": once a folder is moved
    elsewhere, that leads somewhere else, and the walk stops rather than go on there."""
    top = tmp_path / "top"
    deep_tree(top, DEPTH)
    moved = chain(DEPTH - 10)
    with pytest.raises(OSError) as raised:
        for folder in walk(str(top)):
            if folder.path == moved:
                os.rename(top / moved, tmp_path / "moved")
    assert raised.value.errno == errno.ESTALE


def test_a_removal_follows_no_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kept.txt").write_text("")
    top = tmp_path / "top"
    (top / "a").mkdir(parents=True)
    (top / "a" / "out").symlink_to(outside)
    link = tmp_path / "link"
    link.symlink_to(top)
    with pytest.raises(OSError):
        remove_tree(str(link))  # as a file there would be
    assert (top / "a" / "out").is_symlink()
    remove_tree(str(top))
    assert not top.exists()
    assert os.listdir(outside) == ["kept.txt"]
