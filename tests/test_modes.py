"""A created file's mode is pip's under any umask (`tests.conftest.pips_mode`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from applier.modes import create, current_umask
from tests import conftest
from tests.conftest import pips_mode

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


@settings(max_examples=200, deadline=None)
@given(umask=st.integers(0, 0o777), executable=st.booleans())
def test_a_created_file_has_pips_mode_under_any_umask(
    tmp_path_factory: pytest.TempPathFactory, umask: int, executable: bool
) -> None:
    path = tmp_path_factory.mktemp("modes") / "file"
    with conftest.umask(umask):
        assert current_umask() == umask
        os.close(create(str(path), _FLAGS, 0o755 if executable else 0o644, umask))
    assert stat.S_IMODE(path.stat().st_mode) == pips_mode(executable, umask)


def test_a_file_that_exists_is_not_touched(tmp_path: Path) -> None:
    """`create` makes a new file or fails: it never changes the mode of one in the way."""
    path = os.path.join(tmp_path, "there")
    with open(path, "w") as stream:
        stream.write("kept")
    os.chmod(path, 0o600)
    with pytest.raises(FileExistsError):
        create(path, _FLAGS, 0o755, 0o077)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
