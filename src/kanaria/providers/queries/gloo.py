"""Gloo: Envoy cluster stats of the upstreams Flagger creates for the canary and primary.

Flagger names them `<namespace>-<target>-canaryupstream-<port>` and
`<namespace>-<target>-primaryupstream-<port>`; Gloo adds `_<namespace>` to the cluster name.
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = (
    'envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"'
)

DIALECT = MeshDialect(
    mesh="gloo",
    # Laid out flatter than the other meshes only because Gloo's cluster names are long.
    request_success_rate="""
sum(rate(envoy_cluster_upstream_rq{
  envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",
  envoy_response_code!~"5.*"
}[{{ interval }}]))
/
sum(rate(envoy_cluster_upstream_rq{
  envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",
}[{{ interval }}]))
* 100
""",
    request_duration="""
histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{
  envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",
}[{{ interval }}])) by (le))
""",
    requests_counter="envoy_cluster_upstream_rq",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace("-canaryupstream-", "-primaryupstream-"),
    failed_matcher='envoy_response_code=~"5.*"',
    latency_histogram="envoy_cluster_upstream_rq_time",
)
