"""`kanaria wait` and `kanaria status` from the command line: conditions, revisions, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
from collections.abc import AsyncIterator

import pytest
from rich.console import Console

from kanaria.cli import status
from kanaria.cli.main import main
from kanaria.clock import SimulatedClock
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import ObjectClient
from tests.unit.views.releases import NEW_IMAGE, ObjectRelease, failing_success_rate


def use_store(monkeypatch: pytest.MonkeyPatch, objects: MemoryObjects) -> None:
    @contextlib.asynccontextmanager
    async def connect(args: argparse.Namespace) -> AsyncIterator[ObjectClient]:
        yield objects

    monkeypatch.setattr(status, "connect", connect)


async def released(failing: bool = False, finish: bool = True) -> ObjectRelease:
    release = ObjectRelease(SimulatedClock(), failing_success_rate() if failing else None)
    await release.setup()
    await release.run(5, until="Initialized")
    await release.set_image(NEW_IMAGE)
    if finish:
        await release.run(15, until="Failed" if failing else "Succeeded")
    return release


def wait(condition: str, timeout: str = "0.2s", target: str = "canary/podinfo") -> int:
    return main(["wait", target, "-n", "test", f"--for={condition}", "--timeout", timeout])


async def test_outcome_follows_the_current_revision() -> None:
    release = await released(finish=False)
    # the new template is not analysed yet: the old Succeeded/Initialized status does not count
    assert await status.current_outcome(release.objects, "test", "podinfo") is None
    await release.run(3)
    assert await release.phase() == "Progressing"
    assert await status.current_outcome(release.objects, "test", "podinfo") is None
    await release.run(15, until="Succeeded")
    outcome = await status.current_outcome(release.objects, "test", "podinfo")
    assert outcome is not None
    assert (outcome.result, outcome.phase) == ("promoted", "Succeeded")


async def test_wait_times_out_while_the_release_goes_on() -> None:
    release = await released(finish=False)
    assert await status.wait_for(release.objects, "test", "podinfo", 0.05, poll=0.01) is None


@pytest.mark.parametrize(
    ("failing", "condition", "code"),
    [
        (False, "condition=promoted", status.EXIT_MET),
        (False, "condition=Promoted", status.EXIT_MET),
        (False, "condition=failed", status.EXIT_OTHER_OUTCOME),
        (True, "condition=failed", status.EXIT_MET),
        (True, "condition=promoted", status.EXIT_OTHER_OUTCOME),
    ],
)
def test_wait_exit_codes(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failing: bool,
    condition: str,
    code: int,
) -> None:
    release = asyncio.run(released(failing))
    use_store(monkeypatch, release.objects)
    assert wait(condition) == code
    out, err = capsys.readouterr()
    if code == status.EXIT_MET:
        assert out.startswith("canary.flagger.app/podinfo condition met (")
    else:
        phase = "Failed" if failing else "Succeeded"
        assert err.startswith(
            f"canary.flagger.app/podinfo {'failed' if failing else 'promoted'}: {phase}"
        )


def test_wait_timeout_and_bad_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    release = asyncio.run(released(finish=False))
    use_store(monkeypatch, release.objects)
    assert wait("condition=promoted", "0.1s") == status.EXIT_TIMEOUT
    assert "timed out waiting for the condition on canaries/podinfo" in capsys.readouterr().err
    assert wait("condition=ready") == status.EXIT_BAD_INPUT
    assert "expected --for=condition=promoted or --for=condition=failed" in capsys.readouterr().err
    assert wait("condition=promoted", "soon") == status.EXIT_BAD_INPUT
    assert wait("condition=promoted", target="deployment/podinfo") == status.EXIT_BAD_INPUT
    assert "expected canary/NAME" in capsys.readouterr().err
    assert wait("condition=promoted", target="canary/nope") == status.EXIT_BAD_INPUT
    assert 'canaries.flagger.app "nope" not found' in capsys.readouterr().err


def test_status_command_prints_the_view(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    release = asyncio.run(released())
    use_store(monkeypatch, release.objects)
    assert main(["status", "canary/podinfo", "-n", "test"]) == 0
    out = capsys.readouterr().out
    assert "Status:             ✔ Succeeded" in out
    assert main(["status", "canaries/ghost", "-n", "test"]) == 1
    assert 'canaries.flagger.app "ghost" not found' in capsys.readouterr().err


async def test_plain_watch_prints_a_block_per_change() -> None:
    release = await released(finish=False)
    out = io.StringIO()
    console = Console(file=out, width=120, no_color=True, force_terminal=False)

    async def release_goes_on() -> None:
        for _ in range(4):
            await asyncio.sleep(0.05)
            await release.run(1)

    watching = asyncio.create_task(
        status.watch(release.objects, "test", "podinfo", console, 0.5, poll=0.01)
    )
    await release_goes_on()
    await watching
    text = out.getvalue()
    traffic = [line.split()[2] for line in text.splitlines() if "Traffic:" in line]
    # one block per change (about fifty polls, five changes): phase, then each weight
    assert traffic == ["0%", "0%", "10%", "20%", "30%"]
    assert text.count("Name:") == 5
    assert text.count("Status:             ◌ Progressing") == 4


@pytest.mark.parametrize(
    ("text", "name"),
    [("canary/podinfo", "podinfo"), ("canaries/a", "a"), ("canary.flagger.app/b", "b"), ("c", "c")],
)
def test_canary_names(text: str, name: str) -> None:
    assert status.canary_name(text) == name
