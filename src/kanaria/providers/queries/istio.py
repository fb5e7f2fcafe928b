"""Istio: telemetry reported by the destination sidecar, labelled by workload.

`destination_workload=~"{{ target }}"` picks the canary's pods only: the primary's
Deployment, and so its workload label, is `<target>-primary`. kanaria's local platform
relabels Envoy's stats into these names, so the same queries serve both platforms.
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = (
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}"'
)

DIALECT = MeshDialect(
    mesh="istio",
    request_success_rate="""
    sum(
      rate(
        istio_requests_total{
          reporter="destination",
          destination_workload_namespace="{{ namespace }}",
          destination_workload=~"{{ target }}",
          response_code!~"5.*"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        istio_requests_total{
          reporter="destination",
          destination_workload_namespace="{{ namespace }}",
          destination_workload=~"{{ target }}"
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
          istio_request_duration_milliseconds_bucket{
            reporter="destination",
            destination_workload_namespace="{{ namespace }}",
            destination_workload=~"{{ target }}"
          }[{{ interval }}]
        )
      ) by (le)
    )
    """,
    requests_counter="istio_requests_total",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace('"{{ target }}"', '"{{ target }}-primary"'),
    failed_matcher='response_code=~"5.*"',
    latency_histogram="istio_request_duration_milliseconds",
)
