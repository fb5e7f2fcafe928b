"""Skipper: the routes it builds from the canary Ingress, by their generated names.

Skipper names a route after the Ingress it comes from and its backend:
`kube_<namespace>__<ingress>_canary__<host>__<path>__<service>_canary` (`kubeew_` for east-west
routes), with every character that is not a letter, digit or `_` written as `_`. Flagger's
queries match that name, so the names put into them are spelled the same way
(`word_names`); `{{ ingress }}` is `spec.ingressRef`. Success rate counts the `+Inf` bucket of
the response histogram; `request-duration` is the mean, not a P99, in milliseconds.
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = (
    'route=~"kube(ew)?_{{ namespace }}__{{ ingress }}_canary__.*__{{ service }}_canary(_[0-9]+)?"'
)


def _with_route(template: str) -> str:
    return template.replace("ROUTE", _CANARY)


DIALECT = MeshDialect(
    mesh="skipper",
    request_success_rate=_with_route("""
    sum(rate(skipper_response_duration_seconds_bucket{ROUTE,code!~"5..",le="+Inf"}[{{ interval }}]))
    /
    sum(rate(skipper_response_duration_seconds_bucket{ROUTE,le="+Inf"}[{{ interval }}]))
    * 100
    """),
    request_duration=_with_route("""
    sum(rate(skipper_serve_route_duration_seconds_sum{ROUTE}[{{ interval }}]))
    /
    sum(rate(skipper_serve_route_duration_seconds_count{ROUTE}[{{ interval }}]))
    * 1000
    """),
    requests_counter="skipper_response_duration_seconds_count",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace("_canary(_", "_primary(_"),
    failed_matcher='code=~"5.."',
    latency_histogram="skipper_response_duration_seconds",
    latency_unit_ms=1000.0,
    word_names=True,
)
