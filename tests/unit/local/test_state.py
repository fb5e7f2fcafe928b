"""The state dir's promises: one control plane per folder, a private token, pid records that
never mistake a reused pid for ours."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kanaria.errors import PermanentError
from kanaria.platforms.local.state import (
    STATE_DIR_VARIABLE,
    ControlPlaneConfig,
    ProcessRecord,
    StateDir,
    acquire_lock,
    default_state_dir,
    ensure_token,
    forget_process,
    is_locked,
    lock_owner,
    read_config,
    record_process,
    recorded_processes,
    write_config,
)


def test_the_default_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path / "mine"))
    assert default_state_dir() == tmp_path / "mine"
    monkeypatch.delenv(STATE_DIR_VARIABLE)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / ".local" / "state" / "kanaria"


def test_one_control_plane_per_state_dir(tmp_path: Path) -> None:
    state = StateDir.at(tmp_path)
    assert not is_locked(state)
    held = acquire_lock(state)
    try:
        assert is_locked(state)
        assert lock_owner(state) == os.getpid()
        with pytest.raises(PermanentError, match=f"already runs on {tmp_path}"):
            acquire_lock(state)
    finally:
        held.close()
    assert not is_locked(state)


def test_the_token_is_private_and_kept(tmp_path: Path) -> None:
    state = StateDir.at(tmp_path)
    token = ensure_token(state)
    assert len(token) >= 32
    assert state.token.stat().st_mode & 0o777 == 0o600
    assert ensure_token(state) == token


def test_config_round_trips(tmp_path: Path) -> None:
    state = StateDir.at(tmp_path)
    assert read_config(state) == ControlPlaneConfig()
    write_config(state, ControlPlaneConfig(time_scale=60, gateway_port=18081))
    assert read_config(state) == ControlPlaneConfig(time_scale=60, gateway_port=18081)


def test_pid_records_check_the_start_time(tmp_path: Path) -> None:
    state = StateDir.at(tmp_path)
    mine = record_process(state, "envoy", os.getpid())
    assert mine.alive()
    (state.pids / "replica.test.podinfo-abc.json").write_text(
        json.dumps({"name": "replica/test/podinfo-abc", "pid": os.getpid(), "start": 1})
    )
    (state.pids / "garbage.json").write_text("{not json")
    records = {record.name: record for record in recorded_processes(state)}
    assert set(records) == {"envoy", "replica/test/podinfo-abc"}
    assert records["envoy"] == ProcessRecord("envoy", os.getpid(), mine.start)
    assert not records["replica/test/podinfo-abc"].alive()  # same pid, another process
    forget_process(state, "envoy")
    assert [record.name for record in recorded_processes(state)] == ["replica/test/podinfo-abc"]


def test_recording_a_dead_process_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="is not running"):
        record_process(StateDir.at(tmp_path), "ghost", 2**22 + 17)


def test_the_process_marker_tells_platforms_apart_without_naming_the_state_dir(
    tmp_path: Path,
) -> None:
    one, other = StateDir.at(tmp_path / "one"), StateDir.at(tmp_path / "other")
    (marker,) = one.marker().values()
    assert str(tmp_path) not in marker
    assert one.marker() != other.marker()
    assert one.marker() == StateDir.at(tmp_path / "one").marker()
