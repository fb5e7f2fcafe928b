"""Plain Kubernetes (and Gateway API): the application's own `http_request_duration_seconds`.

With no mesh, the pods themselves must export the histogram (podinfo does), scraped with
`kubernetes_namespace` and `kubernetes_pod_name` labels. Flagger's query returns seconds and
its Go code multiplies by 1000; here the multiplication is part of the query, so every
mesh's `request-duration` answers in milliseconds.
"""

from kanaria.providers.queries.dialect import MeshDialect

_POD_SUFFIX = "-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
_CANARY = (
    'kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}' + _POD_SUFFIX + '"'
)

DIALECT = MeshDialect(
    mesh="kubernetes",
    request_success_rate="""
    sum(
      rate(
        http_request_duration_seconds_count{
          kubernetes_namespace="{{ namespace }}",
          kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",
          status!~"5.*"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        http_request_duration_seconds_count{
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
          http_request_duration_seconds_bucket{
            kubernetes_namespace="{{ namespace }}",
            kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
          }[{{ interval }}]
        )
      ) by (le)
    )
    * 1000
    """,
    requests_counter="http_request_duration_seconds_count",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace("{{ target }}-", "{{ target }}-primary-"),
    failed_matcher='status=~"5.*"',
    latency_histogram="http_request_duration_seconds",
    latency_unit_ms=1000.0,
)
