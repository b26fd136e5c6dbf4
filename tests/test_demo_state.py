"""The demo's kept secrets: beside its database, readable by its owner only, refused otherwise."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from notifier import demo_state
from notifier.errors import InputError


def test_state_is_kept_beside_the_database_with_mode_0600(tmp_path: Path) -> None:
    """Saved next to `notifier.db` readable by the owner only, it loads back the same."""
    path = demo_state.state_path(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}")
    assert path == tmp_path / "notifier.db.demo.json"
    state = demo_state.with_admin_token(demo_state.new_state(), "demo-1", "ntf_x")
    demo_state.save(path, state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_state.load(path) == state
    assert demo_state.load(tmp_path / "absent.json") is None


def test_state_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A state file others may read is not used: the error says how to fix it."""
    path = tmp_path / "notifier.db.demo.json"
    demo_state.save(path, demo_state.new_state())
    path.chmod(0o644)
    with pytest.raises(InputError, match=r"others may read it; run `chmod 600"):
        demo_state.load(path)


def test_a_damaged_state_file_is_named(tmp_path: Path) -> None:
    """A state file that is not the demo's says so, naming the file."""
    path = tmp_path / "notifier.db.demo.json"
    path.write_text('{"secret": 1}')
    path.chmod(0o600)
    with pytest.raises(InputError, match=r"notifier\.db\.demo\.json: not a demo state file"):
        demo_state.load(path)
