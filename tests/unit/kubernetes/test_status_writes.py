"""Status writes retry conflicts and passing failures, a bounded number of times."""

from __future__ import annotations

from typing import Any

import pytest

from kanaria.errors import ConflictError, NotFoundError, TemporaryError
from kanaria.platforms.kubernetes import status
from kanaria.platforms.kubernetes.status import write_status
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import CANARY, Kind, Object


class Flaky(MemoryObjects):
    def __init__(self, failures: list[Exception]) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    async def patch_status(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return await super().patch_status(kind, namespace, name, patch)


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status, "_PAUSE_SECONDS", 0.0)


async def _with_canary(objects: MemoryObjects) -> None:
    await objects.create(CANARY.new("test", "podinfo", spec={}))


@pytest.mark.parametrize("failure", [ConflictError("409"), TemporaryError("500")])
async def test_conflicts_and_server_errors_are_retried(failure: Exception) -> None:
    objects = Flaky([failure, failure])
    await _with_canary(objects)
    await write_status(objects, "test", "podinfo", {"phase": "Progressing"})
    stored: Any = await objects.get(CANARY, "test", "podinfo")
    assert stored["status"] == {"phase": "Progressing"}
    assert objects.attempts == 3


async def test_retries_are_bounded() -> None:
    objects = Flaky([ConflictError("409")] * 10)
    await _with_canary(objects)
    with pytest.raises(ConflictError):
        await write_status(objects, "test", "podinfo", {"phase": "Progressing"}, attempts=3)
    assert objects.attempts == 3


async def test_a_deleted_canary_stops_the_retries() -> None:
    objects = Flaky([ConflictError("409")] * 10)  # no canary stored
    with pytest.raises(NotFoundError, match="deleted"):
        await write_status(objects, "test", "podinfo", {"phase": "Progressing"})
    assert objects.attempts == 1
