"""What a stale plan's refusal says changed: the metadata folders the target holds
now against the ones the plan was made with (`applier.stale`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from applier.stale import SINCE, InstalledChanges, described, installed_changes
from planner.plan import InstalledFolder

SITE = "lib/python3.11/site-packages"
# Folder names of another site folder too: a change is told by the path, not the name.
FOLDERS = st.sampled_from([SITE, "lib64/python3.11/site-packages"]).flatmap(
    lambda site: st.from_regex(r"[a-z]{1,6}-1\.0\.(dist|egg)-info", fullmatch=True).map(
        lambda name: f"{site}/{name}"
    )
)
DIGESTS = st.sampled_from(["0" * 64, "1" * 64])
OTHER = "f" * 64


def _state(folders: dict[str, str]) -> tuple[InstalledFolder, ...]:
    return tuple(InstalledFolder(path, digest) for path, digest in sorted(folders.items()))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(FOLDERS, DIGESTS, max_size=8), st.data())
def test_the_changes_found_are_the_changes_made(
    planned: dict[str, str], data: st.DataObject
) -> None:
    paths = sorted(planned)
    removed = data.draw(st.sets(st.sampled_from(paths)) if paths else st.just(set()))
    kept = sorted(set(paths) - removed)
    relisted = data.draw(st.sets(st.sampled_from(kept)) if kept else st.just(set()))
    added = data.draw(st.sets(FOLDERS.filter(lambda path: path not in planned), max_size=4))
    found = {path: digest for path, digest in planned.items() if path not in removed}
    found |= dict.fromkeys(relisted, OTHER) | dict.fromkeys(added, "0" * 64)

    changes = installed_changes(_state(planned), _state(found))
    assert changes == InstalledChanges(
        added=tuple(sorted(added)), removed=tuple(sorted(removed)), relisted=tuple(sorted(relisted))
    )
    assert changes.any == (planned != found)


def test_a_few_names_of_each_kind_are_given_and_the_rest_counted() -> None:
    five = tuple(f"{SITE}/{name}-1.0.dist-info" for name in "abcde")
    changes = InstalledChanges(added=five, removed=five[:3], relisted=five[:1])
    assert described(changes, SINCE) == (
        "installed since: a-1.0.dist-info, b-1.0.dist-info, c-1.0.dist-info and 2 more;"
        " removed since: a-1.0.dist-info, b-1.0.dist-info, c-1.0.dist-info;"
        " file list changed: a-1.0.dist-info"
    )
    # A kind with nothing in it is not named; a --target folder's have no site folder.
    only = InstalledChanges(removed=("x-2.0.dist-info", *five[:3]))
    assert described(only, SINCE) == (
        "removed since: x-2.0.dist-info, a-1.0.dist-info, b-1.0.dist-info and 1 more"
    )
    assert not InstalledChanges().any


def test_one_name_in_both_site_folders_is_told_apart_by_its_folder() -> None:
    platlib = "lib64/python3.11/site-packages"
    twice = (f"{SITE}/a-1.0.dist-info", f"{SITE}/b-1.0.dist-info", f"{platlib}/a-1.0.dist-info")
    assert described(InstalledChanges(relisted=twice), SINCE) == (
        f"file list changed: {SITE}/a-1.0.dist-info, b-1.0.dist-info, {platlib}/a-1.0.dist-info"
    )
    # A name past the ones shown still makes the shown one ambiguous.
    hidden = (*twice[:2], f"{SITE}/c-1.0.dist-info", twice[2])
    assert described(InstalledChanges(added=hidden), SINCE) == (
        f"installed since: {SITE}/a-1.0.dist-info, b-1.0.dist-info, c-1.0.dist-info and 1 more"
    )
