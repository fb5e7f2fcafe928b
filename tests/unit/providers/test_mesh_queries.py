"""The builtin queries of the meshes whose routers follow Flagger's (OSM, Kuma, APISIX,
Knative, SMI), rendered for the models of Flagger's observer tests and compared with the
queries those tests expect (whitespace collapsed, as Flagger sends them)."""

from __future__ import annotations

import pytest

from kanaria.errors import ConfigError
from kanaria.providers.queries import builtin_query, count_queries, dialect_for
from kanaria.providers.render import TemplateModel, render_query

FLAGGER_MODEL = {"name": "podinfo", "namespace": "default", "target": "podinfo", "interval": 60}

EXPECTED = [
    (
        "osm",
        None,
        "request-success-rate",
        'sum( rate( osm_request_total{ destination_namespace="default", '
        'destination_kind="Deployment", destination_name="podinfo", response_code!~"5.*" }[1m] '
        ') ) / sum( rate( osm_request_total{ destination_namespace="default", '
        'destination_kind="Deployment", destination_name="podinfo" }[1m] ) ) * 100',
    ),
    (
        "osm",
        None,
        "request-duration",
        "histogram_quantile( 0.99, sum( rate( osm_request_duration_ms_bucket{ "
        'destination_namespace="default", destination_kind="Deployment", '
        'destination_name="podinfo" }[1m] ) ) by (le) )',
    ),
    (
        "kuma",
        None,
        "request-success-rate",
        "sum( rate( envoy_cluster_upstream_rq{ "
        'service=~"podinfo-canary_default_svc_[0-9a-zA-Z-]+", '
        'envoy_response_code!~"5.*" }[1m] ) ) / sum( rate( envoy_cluster_upstream_rq{ '
        'service=~"podinfo-canary_default_svc_[0-9a-zA-Z-]+", }[1m] ) ) * 100',
    ),
    (
        "kuma",
        None,
        "request-duration",
        "histogram_quantile( 0.99, sum( rate( envoy_cluster_upstream_rq_time_bucket{ "
        'service=~"podinfo-canary_default_svc_[0-9a-zA-Z-]+", }[1m] ) ) by (le) )',
    ),
    (
        "apisix",
        "podinfo",
        "request-success-rate",
        'sum( rate( apisix_http_status{ route=~"default_podinfo-podinfo-canary_.+", '
        'code!~"5.." }[1m] ) ) / sum( rate( apisix_http_status{ '
        'route=~"default_podinfo-podinfo-canary_.+" }[1m] ) ) * 100',
    ),
    (
        "apisix",
        "podinfo",
        "request-duration",
        'histogram_quantile( 0.99, sum( rate( apisix_http_latency_bucket{ type=~"request", '
        'route=~"default_podinfo-podinfo-canary_.+" }[1m] ) ) by (le) )',
    ),
    (
        "knative",
        "podinfo-00001",
        "request-success-rate",
        'sum( rate( envoy_cluster_upstream_rq{ envoy_cluster_name=~"default/podinfo-00001", '
        'envoy_response_code!~"5.*" }[1m] ) ) / sum( rate( envoy_cluster_upstream_rq{ '
        'envoy_cluster_name=~"default/podinfo-00001", }[1m] ) ) * 100',
    ),
    (
        "knative",
        "podinfo-00001",
        "request-duration",
        "histogram_quantile( 0.99, sum( rate( envoy_cluster_upstream_rq_time_bucket{ "
        'envoy_cluster_name=~"default/podinfo-00001", }[1m] ) ) by (le) )',
    ),
]


@pytest.mark.parametrize(("mesh", "route", "metric", "expected"), EXPECTED)
def test_builtins_are_the_queries_flaggers_observer_tests_expect(
    mesh: str, route: str | None, metric: str, expected: str
) -> None:
    model = TemplateModel(**FLAGGER_MODEL, route=route)  # type: ignore[arg-type]
    assert render_query(builtin_query(mesh, metric), model) == expected


@pytest.mark.parametrize("provider", ["smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3"])
def test_smi_canaries_get_istio_queries_as_in_flagger(provider: str) -> None:
    assert dialect_for(provider) is dialect_for("istio")


def test_linkerd_and_osm_have_their_own_queries() -> None:
    assert "response_total" in builtin_query("linkerd", "request-success-rate")
    assert "osm_request_total" in builtin_query("osm", "request-success-rate")


@pytest.mark.parametrize(
    ("mesh", "primary"),
    [
        ("osm", 'destination_name="{{ target }}-primary"'),
        ("kuma", 'service=~"{{ target }}-primary_{{ namespace }}_svc_'),
    ],
)
def test_primary_counts_select_the_primary_workload(mesh: str, primary: str) -> None:
    assert primary in count_queries(mesh, "primary", latency_bound_ms=500).total


@pytest.mark.parametrize("mesh", ["apisix", "knative"])
def test_a_judge_on_metrics_without_a_primary_is_a_config_error(mesh: str) -> None:
    with pytest.raises(ConfigError, match=f"{mesh}'s metrics do not tell their requests apart"):
        count_queries(mesh, "canary", latency_bound_ms=500)
