"""Kuma: Envoy cluster stats, where Kuma names services `<svc>_<namespace>_svc_<port>`.

The TrafficRoute sends to the Kuma services of `<svc>-canary` and `<svc>-primary`; Flagger's
queries select the canary's by `{{ target }}-canary`, so the primary's is `-primary`.
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = 'service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+"'

DIALECT = MeshDialect(
    mesh="kuma",
    request_success_rate="""
    sum(
      rate(
        envoy_cluster_upstream_rq{
          service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+",
          envoy_response_code!~"5.*"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        envoy_cluster_upstream_rq{
          service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+",
        }[{{ interval }}]
      )
    )
    * 100
    """,
    request_duration="""
    histogram_quantile(
      0.99,
      sum(
        rate(
          envoy_cluster_upstream_rq_time_bucket{
            service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+",
          }[{{ interval }}]
        )
      ) by (le)
    )
    """,
    requests_counter="envoy_cluster_upstream_rq",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace("-canary_", "-primary_"),
    failed_matcher='envoy_response_code=~"5.*"',
    latency_histogram="envoy_cluster_upstream_rq_time",
)
