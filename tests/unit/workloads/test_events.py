"""Events on a Canary: counted, combined, and remembered within bounds."""

from __future__ import annotations

from kanaria.clock import SimulatedClock
from kanaria.spec.canary import Canary
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import EVENT
from kanaria.workloads.events import ObjectEventRecorder, events_of
from tests.unit.engine.conftest import seed_canary


async def test_a_repeated_message_is_counted_on_one_event() -> None:
    objects, clock = MemoryObjects(), SimulatedClock()
    recorder = ObjectEventRecorder(objects, clock)
    canary = Canary.model_validate(seed_canary())
    for _ in range(3):
        await recorder.record(canary, "Normal", "all the metrics providers are available!")
        clock.advance(60)
    [event] = await events_of(objects, canary)
    assert event["count"] == 3
    assert event["firstTimestamp"] < event["lastTimestamp"]
    assert event["source"] == {"component": "kanaria"}
    assert event["reason"] == "Synced"


async def test_the_tenth_distinct_message_is_combined() -> None:
    objects, clock = MemoryObjects(), SimulatedClock()
    recorder = ObjectEventRecorder(objects, clock)
    canary = Canary.model_validate(seed_canary())
    for step in range(12):
        await recorder.record(canary, "Normal", f"Advance podinfo.test canary weight {step}")
    events = await events_of(objects, canary)
    assert len(events) == 10
    assert events[-1]["count"] == 3
    assert events[-1]["message"] == (
        "(combined from similar events): Advance podinfo.test canary weight 11"
    )


async def test_memory_of_past_events_is_bounded() -> None:
    objects, clock = MemoryObjects(), SimulatedClock()
    recorder = ObjectEventRecorder(objects, clock, cache_size=4)
    canary = Canary.model_validate(seed_canary())
    await recorder.record(canary, "Warning", "first")
    for step in range(6):
        clock.advance(700)  # past the 10-minute window: no combining
        await recorder.record(canary, "Warning", f"other {step}")
    await recorder.record(canary, "Warning", "first")
    firsts = [e for e in await objects.list(EVENT, "test") if e["message"] == "first"]
    assert [event["count"] for event in firsts] == [1, 1], "forgotten: a new Event, not a count"
