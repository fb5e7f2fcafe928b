"""A Canary metric backed by a MetricTemplate, checked the way the engine checks it.

Each backend test writes a MetricTemplate (and its Secret) as a user would, and runs it through
the real path: the observer reads the template and the Secret from an object store, builds the
provider from the registry, renders the query, and the engine's `check_metric` (or the
initialization's `check_providers`) turns the outcome into the status verdict and the events a
user reads in `kanaria describe`.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
from pathlib import Path
from typing import Any

import yaml

from kanaria.analysis.observer import ObserverSettings, PrometheusObserver
from kanaria.engine.checks import MetricOutcome, check_metric
from kanaria.engine.phases import check_providers
from kanaria.engine.release import Release
from kanaria.engine.simulated import simulated_world
from kanaria.spec.canary import Canary, Metric
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import METRIC_TEMPLATE
from kanaria.spec.templates import MetricTemplate

SEED_CANARY = Path(__file__).parents[2] / "examples" / "seed" / "podinfo-canary.yaml"
NAMESPACE = "test"


def metric_template(
    name: str, provider: dict[str, Any], query: str, namespace: str = NAMESPACE
) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": provider, "query": query},
    }


def secret(name: str, data: dict[str, str], namespace: str = NAMESPACE) -> dict[str, Any]:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": encoded,
    }


def canary_using(template: str, *, interval: str = "1m", max_value: float = 1e9) -> Canary:
    """The seed Canary whose only check is `template`, passing below `max_value`."""
    document: dict[str, Any] = yaml.safe_load(SEED_CANARY.read_text())
    document = copy.deepcopy(document)
    document["spec"]["analysis"]["metrics"] = [
        {
            "name": "backend-check",
            "templateRef": {"name": template},
            "interval": interval,
            "thresholdRange": {"max": max_value},
        }
    ]
    return Canary.model_validate(document)


@dataclasses.dataclass
class Checked:
    outcome: MetricOutcome
    events: list[str]

    @property
    def verdict(self) -> str:
        return str(self.outcome.result.verdict)

    @property
    def value(self) -> float | None:
        return self.outcome.result.value


class TemplateCheck:
    """An object store holding templates and Secrets, and the observer that reads them."""

    def __init__(self, *objects: dict[str, Any], time_scale: float = 1.0) -> None:
        self.objects = MemoryObjects()
        self._pending = list(objects)
        self.observer = PrometheusObserver(
            self.objects,
            ObserverSettings(metrics_server="http://127.0.0.1:9", time_scale=time_scale),
        )

    async def put(self, *objects: dict[str, Any]) -> None:
        for obj in [*self._pending, *objects]:
            await self.objects.create(copy.deepcopy(obj))
        self._pending = []

    async def measure(self, template: str, *, interval: str = "1m") -> float:
        await self.put()
        canary = canary_using(template, interval=interval)
        return await self.observer.measure(canary, _only_metric(canary))

    async def check(self, template: str, *, max_value: float = 1e9) -> Checked:
        """The engine's check of one interval: verdict, value and events."""
        await self.put()
        canary = canary_using(template, max_value=max_value)
        sim = simulated_world()
        release = Release(dataclasses.replace(sim.world, observer=self.observer), canary)
        outcome = await check_metric(release, _only_metric(canary))
        return Checked(outcome, sim.events.messages)

    async def availability(self, template: str) -> list[str]:
        """The events of the initialization's provider check."""
        await self.put()
        canary = canary_using(template)
        sim = simulated_world()
        release = Release(dataclasses.replace(sim.world, observer=self.observer), canary)
        await check_providers(release)
        return sim.events.messages

    async def parts(
        self, template: str, *, interval: str = "1m"
    ) -> tuple[Canary, Metric, MetricTemplate]:
        """(canary, metric, template) for calling the observer's parts directly."""
        await self.put()
        canary = canary_using(template, interval=interval)
        raw = await self.objects.get(METRIC_TEMPLATE, NAMESPACE, template)
        return canary, _only_metric(canary), MetricTemplate.model_validate(raw)

    async def close(self) -> None:
        await self.observer.close()


def _only_metric(canary: Canary) -> Metric:
    [metric] = canary.spec.analysis.metrics
    return metric
