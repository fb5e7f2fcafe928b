"""Builtin queries per mesh and count queries: lookup, rendering, and the documented shape."""

from __future__ import annotations

import re

import pytest

from kanaria.errors import ConfigError
from kanaria.providers.queries import (
    BUILTIN_METRICS,
    MESHES,
    builtin_model,
    builtin_query,
    count_queries,
    dialect_for,
)
from kanaria.providers.render import TemplateModel, render_query

MODEL = TemplateModel(name="podinfo", namespace="test", target="podinfo", interval=60)
MESH_NAMES = sorted(MESHES)
COUNTED_MESHES = sorted(name for name, dialect in MESHES.items() if dialect.primary_selector)


@pytest.mark.parametrize("mesh", MESH_NAMES)
@pytest.mark.parametrize("metric", BUILTIN_METRICS)
def test_every_builtin_renders_completely(mesh: str, metric: str) -> None:
    query = render_query(builtin_query(mesh, metric), MODEL)
    assert "{{" not in query
    assert "[1m]" in query
    assert "test" in query  # the namespace
    assert "podinfo" in query


def test_istio_builtins_are_flaggers_queries() -> None:
    assert render_query(builtin_query("istio", "request-success-rate"), MODEL) == (
        'sum( rate( istio_requests_total{ reporter="destination", '
        'destination_workload_namespace="test", destination_workload=~"podinfo", '
        'response_code!~"5.*" }[1m] ) ) / sum( rate( istio_requests_total{ '
        'reporter="destination", destination_workload_namespace="test", '
        'destination_workload=~"podinfo" }[1m] ) ) * 100'
    )
    assert render_query(builtin_query("istio", "request-duration"), MODEL) == (
        "histogram_quantile( 0.99, sum( rate( istio_request_duration_milliseconds_bucket{ "
        'reporter="destination", destination_workload_namespace="test", '
        'destination_workload=~"podinfo" }[1m] ) ) by (le) )'
    )


@pytest.mark.parametrize(
    ("mesh", "same_as"),
    [
        ("appmesh", "envoy"),
        ("appmesh:v1beta2", "envoy"),
        ("gatewayapi", "kubernetes"),
        ("gatewayapi:v1beta1", "kubernetes"),
        ("gloo:v1", "gloo"),
    ],
)
def test_flagger_provider_names_and_versions(mesh: str, same_as: str) -> None:
    assert dialect_for(mesh) is dialect_for(same_as)


@pytest.mark.parametrize("mesh", ["no-such-mesh", "istio:v1", "", "Istio"])
def test_an_unknown_mesh_lists_the_known_ones(mesh: str) -> None:
    with pytest.raises(ConfigError, match=r"known: istio, envoy, appmesh, linkerd, nginx"):
        builtin_query(mesh, "request-success-rate")


TRAEFIK_MODEL = TemplateModel(name="podinfo", namespace="default", target="podinfo", interval=60)
# Flagger's observer test model for Skipper: names with non-word characters
SKIPPER_MODEL = TemplateModel(
    name="podinfo",
    namespace="skipper",
    target="podinfo",
    service="backend",
    ingress="skipper-ingress",
    interval=60,
)
SKIPPER_ROUTE = "kube(ew)?_skipper__skipper_ingress_canary__.*__backend_canary(_[0-9]+)?"


@pytest.mark.parametrize(
    ("mesh", "model", "metric", "expected"),
    [
        (
            "traefik",
            TRAEFIK_MODEL,
            "request-success-rate",
            "sum( rate( traefik_service_request_duration_seconds_bucket{ "
            'service=~"default-podinfo-canary-[0-9a-zA-Z-]+@kubernetescrd", code!~"5..", '
            'le="+Inf" }[1m] ) ) / sum( rate( traefik_service_request_duration_seconds_bucket{ '
            'service=~"default-podinfo-canary-[0-9a-zA-Z-]+@kubernetescrd", le="+Inf" }[1m] ) ) '
            "* 100",
        ),
        (
            "traefik",
            TRAEFIK_MODEL,
            "request-duration",
            "histogram_quantile( 0.99, sum( rate( traefik_service_request_duration_seconds_bucket{ "
            'service=~"default-podinfo-canary-[0-9a-zA-Z-]+@kubernetescrd" }[1m] ) ) by (le) ) '
            "* 1000",
        ),
        (
            "skipper",
            SKIPPER_MODEL,
            "request-success-rate",
            f'sum(rate(skipper_response_duration_seconds_bucket{{route=~"{SKIPPER_ROUTE}",'
            'code!~"5..",le="+Inf"}[1m])) / sum(rate(skipper_response_duration_seconds_bucket'
            f'{{route=~"{SKIPPER_ROUTE}",le="+Inf"}}[1m])) * 100',
        ),
        (
            "skipper",
            SKIPPER_MODEL,
            "request-duration",
            f'sum(rate(skipper_serve_route_duration_seconds_sum{{route=~"{SKIPPER_ROUTE}"}}[1m])) '
            "/ sum(rate(skipper_serve_route_duration_seconds_count"
            f'{{route=~"{SKIPPER_ROUTE}"}}[1m])) * 1000',
        ),
    ],
)
def test_traefik_and_skipper_builtins_are_flaggers_queries(
    mesh: str, model: TemplateModel, metric: str, expected: str
) -> None:
    """The strings Flagger's observer tests expect, whitespace collapsed."""
    query = builtin_query(mesh, metric)
    assert render_query(query, builtin_model(mesh, model)) == expected


def test_only_skipper_respells_names() -> None:
    assert builtin_model("skipper", SKIPPER_MODEL).ingress == "skipper_ingress"
    assert builtin_model("nginx", SKIPPER_MODEL) is SKIPPER_MODEL


def test_an_unknown_builtin_metric_is_named() -> None:
    with pytest.raises(ConfigError, match="'error-rate' is not a builtin metric"):
        builtin_query("istio", "error-rate")


def test_kubernetes_duration_is_in_milliseconds_like_every_other_mesh() -> None:
    assert builtin_query("kubernetes", "request-duration").strip().endswith("* 1000")


# --- count queries -----------------------------------------------------------------------------


def test_istio_count_queries_have_the_documented_shape() -> None:
    counts = count_queries("istio", "canary", latency_bound_ms=500)
    selector = (
        'reporter="destination",destination_workload_namespace="test",'
        'destination_workload=~"podinfo"'
    )
    total = f"sum(increase(istio_requests_total{{{selector}}}[5s]))"
    model = TemplateModel(name="podinfo", namespace="test", target="podinfo", interval=5)
    assert render_query(counts.total, model) == total
    assert render_query(counts.failed, model) == (
        f'sum(increase(istio_requests_total{{{selector},response_code=~"5.*"}}[5s])) or {total} * 0'
    )
    assert render_query(counts.slow, model) == (
        f"sum(increase(istio_request_duration_milliseconds_count{{{selector}}}[5s]))"
        " - sum(increase(istio_request_duration_milliseconds_bucket"
        f'{{{selector},le=~"500(\\\\.0+)?"}}[5s]))'
    )


@pytest.mark.parametrize("mesh", COUNTED_MESHES)
def test_primary_counts_select_the_primary(mesh: str) -> None:
    canary = count_queries(mesh, "canary", latency_bound_ms=250)
    primary = count_queries(mesh, "primary", latency_bound_ms=250)
    for canary_query, primary_query in zip(
        (canary.total, canary.failed, canary.slow),
        (primary.total, primary.failed, primary.slow),
        strict=True,
    ):
        assert canary_query != primary_query
        assert "primary" in primary_query or 'canary=""' in primary_query
        assert "primary" not in canary_query


@pytest.mark.parametrize("mesh", COUNTED_MESHES)
def test_cumulative_counts_have_no_window(mesh: str) -> None:
    counts = count_queries(mesh, "canary", latency_bound_ms=500, windowed=False)
    model = TemplateModel(name="podinfo", namespace="test", target="podinfo")  # no interval
    for query in (counts.total, counts.failed, counts.slow):
        rendered = render_query(query, model)
        assert "increase" not in rendered
        assert rendered.startswith("sum(")


@pytest.mark.parametrize(
    ("mesh", "bound_ms", "le"),
    [
        ("istio", 500, r'le=~"500(\\.0+)?"'),
        ("linkerd", 0.5, r'le=~"0\\.50*"'),
        ("kubernetes", 500, r'le=~"0\\.50*"'),
        ("nginx", 2500, r'le=~"2\\.50*"'),
        ("kubernetes", 1000, r'le=~"1(\\.0+)?"'),
    ],
)
def test_latency_bound_becomes_the_histograms_unit(mesh: str, bound_ms: float, le: str) -> None:
    assert le in count_queries(mesh, "canary", latency_bound_ms=bound_ms).slow


@pytest.mark.parametrize("bound_ms", [0, -1, float("nan"), float("inf")])
def test_latency_bound_must_be_positive(bound_ms: float) -> None:
    with pytest.raises(ConfigError, match="latency bound"):
        count_queries("istio", "canary", latency_bound_ms=bound_ms)


def test_le_pattern_matches_the_spellings_exporters_use() -> None:
    slow = count_queries("istio", "canary", latency_bound_ms=500).slow
    promql_string = re.search(r'le=~"([^"]+)"', slow)
    assert promql_string
    pattern = promql_string.group(1).replace("\\\\", "\\")  # PromQL string unescaping
    assert re.fullmatch(pattern, "500")
    assert re.fullmatch(pattern, "500.0")
    assert not re.fullmatch(pattern, "5000")
    assert not re.fullmatch(pattern, "500.5")
