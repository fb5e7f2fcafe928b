"""Keptn through the object store: KeptnMetric values, and Analyses created, awaited, read as
1 or 0 and deleted — Keptn's controller played by the test, on a fake sleep (no real wait)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kanaria import errors
from kanaria.providers import ProviderSettings, QueryError
from kanaria.providers.keptn import ANALYSIS, KEPTN_METRIC, KeptnProvider, parse_query
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.templates import MetricTemplate
from tests.support.templates import TemplateCheck, metric_template


def keptn_metric(name: str, value: str | None) -> dict[str, Any]:
    status = {} if value is None else {"value": value}
    return KEPTN_METRIC.new("test", name, spec={"provider": {"name": "prom"}}, status=status)


class KeptnController:
    """Completes each Analysis it finds after `delay` polls, with `passed` as the verdict."""

    def __init__(self, objects: MemoryObjects, passed: bool | None, delay: int = 2) -> None:
        self.objects, self.passed, self.delay = objects, passed, delay
        self.polls = 0
        self.seen: list[dict[str, Any]] = []

    async def sleep(self, seconds: float) -> None:
        self.polls += 1
        for analysis in await self.objects.list(ANALYSIS, "test"):
            self.seen.append(analysis)
            if self.polls >= self.delay and self.passed is not None:
                status = {"state": "Completed", "pass": self.passed}
                await self.objects.patch_status(
                    ANALYSIS, "test", analysis["metadata"]["name"], status
                )


def provider(objects: MemoryObjects, sleep: Callable[[float], Any]) -> KeptnProvider:
    return KeptnProvider(ProviderSettings(objects=objects), sleep=sleep)


@pytest.mark.parametrize(
    ("query", "kind", "timeframe", "arguments"),
    [
        ("KeptnMetric/Test/Rate", "keptnmetric", "1m", {}),
        ("analysis/test/slo/5m/workload=podinfo;bad;a=b=c;x=1\n", "analysis", "5m",
         {"workload": "podinfo", "x": "1"}),
    ],
)  # fmt: skip
def test_queries_are_lower_cased_and_split(
    query: str, kind: str, timeframe: str, arguments: dict[str, str]
) -> None:
    parsed = parse_query(query)
    assert (parsed.kind, parsed.timeframe, parsed.arguments) == (kind, timeframe, arguments)


@pytest.mark.parametrize(
    ("query", "message"),
    [("keptnmetric/test", "unexpected query format"), ("pod/test/x", "unexpected resource kind")],
)
def test_bad_queries_name_the_format(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(query)


async def test_a_keptn_metric_value_is_read() -> None:
    objects = MemoryObjects()
    await objects.create(keptn_metric("rate", "99.5"))
    await objects.create(keptn_metric("pending", None))
    keptn = provider(objects, KeptnController(objects, True).sleep)
    assert await keptn.query("keptnmetric/test/rate") == 99.5
    assert await keptn.is_online()
    with pytest.raises(errors.TemporaryError, match="no value found in resource test/pending"):
        await keptn.query("keptnmetric/test/pending")
    with pytest.raises(QueryError, match="could not retrieve KeptnMetric test/missing"):
        await keptn.query("keptnmetric/test/missing")


@pytest.mark.parametrize(("passed", "value"), [(True, 1.0), (False, 0.0)])
async def test_an_analysis_is_created_awaited_read_and_deleted(passed: bool, value: float) -> None:
    objects = MemoryObjects()
    controller = KeptnController(objects, passed)
    keptn = provider(objects, controller.sleep)
    assert await keptn.query("analysis/test/slo/2m/workload=podinfo") == value
    spec = controller.seen[0]["spec"]
    assert spec == {"analysisDefinition": {"name": "slo"}, "timeframe": {"recent": "2m"},
                    "args": {"workload": "podinfo"}}  # fmt: skip
    assert controller.seen[0]["metadata"]["name"].startswith("slo-")
    assert await objects.list(ANALYSIS, "test") == [], "the Analysis is deleted afterwards"


async def test_an_analysis_that_never_finishes_times_out_after_ten_polls() -> None:
    objects = MemoryObjects()
    controller = KeptnController(objects, passed=None)
    keptn = provider(objects, controller.sleep)
    with pytest.raises(errors.TemporaryError, match="timeout while waiting for Keptn Analysis"):
        await keptn.query("analysis/test/slo")
    assert controller.polls == 10
    assert await objects.list(ANALYSIS, "test") == []


async def test_a_keptn_template_runs_through_the_observer() -> None:
    template = metric_template(
        "keptn-rate", {"type": "keptn"}, "keptnmetric/{{ namespace }}/{{ target }}-rate"
    )
    check = TemplateCheck(template, keptn_metric("podinfo-rate", "0.5"))
    MetricTemplate.model_validate(template)
    checked = await check.check("keptn-rate", max_value=1)
    assert checked.value == 0.5
    assert checked.verdict == "pass"
    assert await check.availability("keptn-rate") == ["all the metrics providers are available!"]


async def test_a_template_missing_what_its_type_needs_fails_the_check_with_its_name() -> None:
    check = TemplateCheck(metric_template("broken", {"type": "graphite"}, "target=a"))
    checked = await check.check("broken")
    [event] = checked.events
    assert event == (
        "Metric query failed for backend-check: metric template broken.test error: "
        "spec.provider: provider type graphite needs an address (its API URL)"
    )
