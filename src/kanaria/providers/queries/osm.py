"""Open Service Mesh: the proxy's `osm_request_total`, labelled by destination Deployment.

Flagger's `osm` provider routes with an SMI TrafficSplit; the canary's Deployment is
`{{ target }}` and the primary's `{{ target }}-primary`, so the destination name tells them
apart exactly.
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = (
    'destination_namespace="{{ namespace }}",'
    'destination_kind="Deployment",'
    'destination_name="{{ target }}"'
)

DIALECT = MeshDialect(
    mesh="osm",
    request_success_rate="""
    sum(
      rate(
        osm_request_total{
          destination_namespace="{{ namespace }}",
          destination_kind="Deployment",
          destination_name="{{ target }}",
          response_code!~"5.*"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        osm_request_total{
          destination_namespace="{{ namespace }}",
          destination_kind="Deployment",
          destination_name="{{ target }}"
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
          osm_request_duration_ms_bucket{
            destination_namespace="{{ namespace }}",
            destination_kind="Deployment",
            destination_name="{{ target }}"
          }[{{ interval }}]
        )
      ) by (le)
    )
    """,
    requests_counter="osm_request_total",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace('"{{ target }}"', '"{{ target }}-primary"'),
    failed_matcher='response_code=~"5.*"',
    latency_histogram="osm_request_duration_ms",
)
