"""NGINX ingress: requests through the canary Ingress carry a non-empty `canary` label.

NGINX has no per-request latency histogram that Flagger uses: its `request-duration` is the
*mean* response time (sum / count) in milliseconds, not a P99. The counts use the
`response_duration_seconds` histogram, so a latency bound is compared in seconds there.
Requests served by the primary are those of the same Ingress with an empty `canary` label.
"""

from kanaria.providers.queries.dialect import MeshDialect

_INGRESS = 'namespace="{{ namespace }}",ingress="{{ ingress }}"'

DIALECT = MeshDialect(
    mesh="nginx",
    request_success_rate="""
    sum(
      rate(
        nginx_ingress_controller_requests{
          namespace="{{ namespace }}",
          ingress="{{ ingress }}",
          canary!="",
          status!~"5.*"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        nginx_ingress_controller_requests{
          namespace="{{ namespace }}",
          ingress="{{ ingress }}",
          canary!=""
        }[{{ interval }}]
      )
    )
    * 100
    """,
    request_duration="""
    sum(
      rate(
        nginx_ingress_controller_response_duration_seconds_sum{
          namespace="{{ namespace }}",
          ingress="{{ ingress }}",
          canary!=""
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        nginx_ingress_controller_response_duration_seconds_count{
          namespace="{{ namespace }}",
          ingress="{{ ingress }}",
          canary!=""
        }[{{ interval }}]
      )
    )
    * 1000
    """,
    requests_counter="nginx_ingress_controller_requests",
    canary_selector=_INGRESS + ',canary!=""',
    primary_selector=_INGRESS + ',canary=""',
    failed_matcher='status=~"5.*"',
    latency_histogram="nginx_ingress_controller_response_duration_seconds",
    latency_unit_ms=1000.0,
)
