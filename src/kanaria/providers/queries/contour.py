"""Contour: Envoy cluster stats, where Contour names clusters `<namespace>_<service>_<port>`.

Flagger's canary Service is `<service>-canary` and the primary `<service>-primary`, so the
cluster name tells the two apart; `{{ service }}` defaults to the target's name.
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = 'envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+"'

DIALECT = MeshDialect(
    mesh="contour",
    request_success_rate="""
    sum(
      rate(
        envoy_cluster_upstream_rq{
          envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
          envoy_response_code!~"5.*"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        envoy_cluster_upstream_rq{
          envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
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
            envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
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
