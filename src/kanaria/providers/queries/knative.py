"""Knative: Envoy cluster stats of the ingress, one cluster per revision (`<namespace>/<rev>`).

For a Knative Canary, `{{ route }}` is the Knative Service's latest created revision (the
canary), as Flagger sets it. The primary revision is not a template variable, so there are no
per-workload counts for a sequential judge.
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = 'envoy_cluster_name=~"{{ namespace }}/{{ route }}"'

DIALECT = MeshDialect(
    mesh="knative",
    request_success_rate="""
    sum(
      rate(
        envoy_cluster_upstream_rq{
          envoy_cluster_name=~"{{ namespace }}/{{ route }}",
          envoy_response_code!~"5.*"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        envoy_cluster_upstream_rq{
          envoy_cluster_name=~"{{ namespace }}/{{ route }}",
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
            envoy_cluster_name=~"{{ namespace }}/{{ route }}",
          }[{{ interval }}]
        )
      ) by (le)
    )
    """,
    requests_counter="envoy_cluster_upstream_rq",
    canary_selector=_CANARY,
    primary_selector=None,
    failed_matcher='envoy_response_code=~"5.*"',
    latency_histogram="envoy_cluster_upstream_rq_time",
)
