"""The Grafana dashboard reads only what kanaria exports: Flagger's metric names and labels."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from kanaria.engine.metrics import PrometheusRecorder
from kanaria.routing.base import Routes
from kanaria.spec.canary import Canary, Phase
from tests.unit.views.releases import seed_canary
from tests.unit.web.grafana import dashboard, expressions

_METRIC = re.compile(r"\bflagger_[a-z_]+")
_MATCHERS = re.compile(r"(flagger_[a-z_]+)\{([^}]*)\}")
_GROUPING = re.compile(r"\bby \(([^)]*)\)")
_LABEL = re.compile(r"\s*([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")


def exported() -> dict[str, set[str]]:
    """Sample name → label names, from a recorder that saw one whole release."""
    registry = CollectorRegistry()
    recorder = PrometheusRecorder(registry)
    canary = Canary.model_validate(seed_canary())
    canary.status.phase = Phase.PROGRESSING
    recorder.canary_status(canary)
    recorder.canary_weights(canary, Routes(90, 10))
    recorder.metric_value(canary, "request-success-rate", 99.9)
    recorder.tick_duration(canary, 0.02)
    recorder.release_finished(canary, succeeded=True, skipped=False)
    recorder.release_finished(canary, succeeded=False, skipped=False)
    recorder.canary_totals({"test": 1})
    return {
        sample.name: set(sample.labels)
        for family in registry.collect()
        for sample in family.samples
    }


def test_every_query_uses_exported_metrics_and_labels() -> None:
    samples = exported()
    queries = expressions(dashboard())
    assert len(queries) >= 10
    for query in queries:
        for name in _METRIC.findall(query):
            assert name in samples, f"{name} is not exported (query: {query})"
        for name, matchers in _MATCHERS.findall(query):
            labels = {found.group(1) for found in map(_LABEL.match, matchers.split(",")) if found}
            assert labels <= samples[name], f"{name} has no {labels - samples[name]}"
        for grouping in _GROUPING.findall(query):
            wanted = {label.strip() for label in grouping.split(",")}
            available = set().union(*(samples[n] for n in _METRIC.findall(query)))
            assert wanted <= available, f"cannot group {query} by {wanted - available}"


def test_every_metric_kanaria_exports_is_shown() -> None:
    shown = {name for query in expressions(dashboard()) for name in _METRIC.findall(query)}
    families = {
        "flagger_canary_status",
        "flagger_canary_weight",
        "flagger_canary_metric_analysis",
        "flagger_canary_duration_seconds_bucket",
        "flagger_canary_successes_total",
        "flagger_canary_failures_total",
        "flagger_canary_total",
    }
    assert families <= shown


def test_dashboard_model() -> None:
    board = dashboard()
    assert (board["uid"], board["title"]) == ("kanaria-canaries", "kanaria canaries")
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    variables = [variable["name"] for variable in board["templating"]["list"]]
    assert variables == ["datasource", "namespace", "name"]
    for panel in board["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
