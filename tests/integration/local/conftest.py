"""A local platform started the way a user starts it (`kanaria local up`), and stopped again.

The CLI runs in this process (its output captured), the control plane in its own session as
`local up` starts it. Every fixture stops what it started, even when the test fails, and
checks that `local down` left no process of the platform behind.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kanaria.cli.main import main
from kanaria.platforms.local.binaries import free_port
from kanaria.platforms.local.controlplane import sweep
from kanaria.platforms.local.state import StateDir, marked_processes, recorded_processes

REPO = Path(__file__).parents[3]
SEED = REPO / "examples" / "seed"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def kanaria(*argv: str) -> Result:
    """Run the `kanaria` command in this process and capture what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's exit on a bad flag
            code = int(exc.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Platform:
    state: StateDir
    gateway_port: int

    def run(self, *argv: str) -> Result:
        """A verb against this platform (`--state-dir` added after the verb's words)."""
        return kanaria(*argv, "--state-dir", str(self.state.root))


def leftovers(state: StateDir) -> list[int]:
    """Live processes of the platform: recorded ones and any carrying its marker."""
    recorded = [record.pid for record in recorded_processes(state) if record.alive()]
    return sorted(set(recorded) | set(marked_processes(state)))


def start_platform(root: Path, time_scale: str = "10") -> Platform:
    gateway_port = free_port()
    argv = ["local", "up", "--state-dir", str(root), "--time-scale", time_scale]
    result = kanaria(*argv, "--gateway-port", str(gateway_port))
    assert result.code == 0, result.err
    return Platform(StateDir.at(root), gateway_port)


def stop_platform(platform: Platform) -> None:
    result = kanaria("local", "down", "--state-dir", str(platform.state.root))
    left = leftovers(platform.state)
    sweep(platform.state)  # whatever happened above, nothing may outlive the test
    assert result.code == 0, result.err
    assert left == []


@pytest.fixture(scope="module")
def shared_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform for tests that only add objects in namespaces of their own."""
    platform = start_platform(tmp_path_factory.mktemp("state"))
    try:
        yield platform
    finally:
        stop_platform(platform)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform for one test (for tests that stop, kill or restart it)."""
    started = start_platform(tmp_path / "state")
    try:
        yield started
    finally:
        stop_platform(started)
