"""The dashboard's JSON shapes and its history, from releases the engine ran."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kanaria.clock import SimulatedClock
from kanaria.spec.canary import Canary, Metric
from kanaria.web import summary
from kanaria.web.history import History
from kanaria.workloads.events import events_of
from tests.unit.views.releases import NEW_IMAGE, ObjectRelease, failing_success_rate, seed_canary


async def release_to(phase: str, failing: bool = False) -> ObjectRelease:
    release = ObjectRelease(SimulatedClock(), failing_success_rate() if failing else None)
    await release.setup()
    await release.run(5, until="Initialized")
    await release.set_image(NEW_IMAGE)
    await release.run(15, until=phase)
    return release


async def test_row_and_detail_of_a_failed_release() -> None:
    release = await release_to("Failed", failing=True)
    raw = await release.canary()
    parsed = summary.parse(raw)
    row = summary.row(parsed)
    assert {key: row[key] for key in ("namespace", "name", "phase", "weight", "failedChecks")} == {
        "namespace": "test",
        "name": "podinfo",
        "phase": "Failed",
        "weight": 0,
        "failedChecks": 5,
    }
    assert (row["threshold"], row["maxWeight"], row["target"]) == (5, 50, "Deployment/podinfo")
    detail = summary.detail(parsed, await events_of(release.objects, raw))
    success, duration = detail["checks"]
    assert (success["name"], success["min"], success["max"], success["verdict"]) == (
        "request-success-rate",
        99,
        None,
        "fail",
    )
    assert success["value"] < 99
    assert duration == {"name": "request-duration", "min": None, "max": 500}
    assert detail["events"][-1]["message"] == "Canary failed! Scaling down podinfo.test"
    assert (detail["strategy"], detail["stepWeight"], detail["interval"]) == ("canary", 10, 60)


def test_invalid_canary_is_listed_with_its_problem() -> None:
    raw: dict[str, Any] = seed_canary()
    del raw["spec"]["targetRef"]
    parsed = summary.parse(raw)
    assert parsed.canary is None
    row = summary.row(parsed)
    assert row["name"] == "podinfo"
    assert row["message"].startswith("invalid Canary: spec.targetRef: ")
    assert summary.detail(parsed, [])["checks"] == []


def test_legacy_thresholds_are_bounds_of_the_right_side() -> None:
    def metric(name: str, **fields: Any) -> Metric:
        return Metric.model_validate({"name": name, **fields})

    assert summary.bounds(metric("request-success-rate", threshold=99)) == (99, None)
    assert summary.bounds(metric("request-duration", threshold=500)) == (None, 500)
    assert summary.bounds(metric("x", query="up", thresholdRange={"min": 1, "max": 2})) == (1, 2)
    assert summary.bounds(metric("x", query="up")) == (None, None)


async def test_weights_from_the_events_of_a_promoted_release() -> None:
    release = await release_to("Succeeded")
    events = await events_of(release.objects, await release.canary())
    weights = [weight for _, weight in summary.weights_from_events(events)]
    # scaled up at 0, advanced 10…40 (50 is folded into the combined event), promoted back to 0
    assert weights == [0, 10, 20, 30, 40, 0]
    times = [moment for moment, _ in summary.weights_from_events(events)]
    assert times == sorted(times)


def canary_with(weight: int, checks: list[dict[str, Any]]) -> Canary:
    document = seed_canary()
    document["status"] = {"canaryWeight": weight, "checks": checks}
    return Canary.model_validate(document)


def test_history_records_changes_only_and_stays_bounded() -> None:
    history = History(limit=3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    seen = [0, 0, 10, 10, 20, 30, 40]
    for second, weight in enumerate(seen):
        check = {"name": "request-duration", "value": 100.0 + weight, "time": f"t{weight}"}
        history.observe(canary_with(weight, [check]), start + timedelta(seconds=second))
    series = history.series(("test", "podinfo"))
    assert [weight for _, weight in series["weight"]] == [20, 30, 40]
    assert series["weight"][0][0] == "2026-01-01T00:00:04.000Z"
    assert series["checks"]["request-duration"] == [
        ["t20", 120.0, "pass"],
        ["t30", 130.0, "pass"],
        ["t40", 140.0, "pass"],
    ]
    history.forget_others(set())
    assert history.series(("test", "podinfo")) == {"weight": [], "checks": {}}


def test_history_is_seeded_once_and_only_before_sampling() -> None:
    history = History()
    key = ("test", "podinfo")
    early = datetime(2026, 1, 1, tzinfo=UTC)
    assert history.needs_seed(key)
    history.seed(key, [(early, 0), (early + timedelta(seconds=60), 10)])
    history.seed(key, [(early, 99)])  # ignored: seeded already
    history.observe(canary_with(20, []), early + timedelta(seconds=120))
    assert [w for _, w in history.series(key)["weight"]] == [0, 10, 20]
    assert not history.needs_seed(key)


def test_events_add_nothing_once_sampling_started() -> None:
    history = History()
    key = ("test", "podinfo")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    history.observe(canary_with(30, []), now)
    history.seed(key, [(now - timedelta(minutes=3), 10)])
    assert [w for _, w in history.series(key)["weight"]] == [30]
