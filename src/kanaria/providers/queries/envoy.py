"""App Mesh (and other plain-Envoy sidecars): Envoy cluster stats labelled by pod name.

Pods of Deployment `<target>` are `<target>-<replicaset hash>-<pod hash>`; the pattern
below matches exactly two dash-separated suffixes, so `<target>-primary-…` pods are not
counted as the canary. Flagger selects this dialect for `appmesh` and `appmesh:v1beta2`.
"""

from kanaria.providers.queries.dialect import MeshDialect

_POD_SUFFIX = "-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
_CANARY = (
    'kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}' + _POD_SUFFIX + '"'
)

DIALECT = MeshDialect(
    mesh="envoy",
    request_success_rate="""
    sum(
      rate(
        envoy_cluster_upstream_rq{
          kubernetes_namespace="{{ namespace }}",
          kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",
          envoy_response_code!~"5.*"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        envoy_cluster_upstream_rq{
          kubernetes_namespace="{{ namespace }}",
          kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
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
            kubernetes_namespace="{{ namespace }}",
            kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
          }[{{ interval }}]
        )
      ) by (le)
    )
    """,
    requests_counter="envoy_cluster_upstream_rq",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace("{{ target }}-", "{{ target }}-primary-"),
    failed_matcher='envoy_response_code=~"5.*"',
    latency_histogram="envoy_cluster_upstream_rq_time",
)
