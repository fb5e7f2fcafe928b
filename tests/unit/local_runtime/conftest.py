"""A simulated world of the workload runtime for every test of this folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanaria.platforms.local.state import StateDir
from tests.unit.local_runtime.fakes import Harness, World


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    state = StateDir.at(tmp_path / "state")
    state.create()
    return state


@pytest.fixture
def world(state: StateDir) -> World:
    return World(state)


@pytest.fixture
def harness(state: StateDir) -> Harness:
    return Harness(state)
