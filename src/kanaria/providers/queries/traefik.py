"""Traefik: the request histogram of the canary's weighted child service.

Traefik names a Kubernetes service behind a TraefikService `<namespace>-<service>-<port>`, with
`@kubernetescrd` as the provider; Flagger counts the requests of `<target>-canary` from the
histogram's `+Inf` bucket, and reads its P99 in seconds (× 1000 here, as in Flagger).
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = 'service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"'

DIALECT = MeshDialect(
    mesh="traefik",
    request_success_rate="""
    sum(
      rate(
        traefik_service_request_duration_seconds_bucket{
          service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd",
          code!~"5..",
          le="+Inf"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        traefik_service_request_duration_seconds_bucket{
          service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd",
          le="+Inf"
        }[{{ interval }}]
      )
    ) * 100
    """,
    request_duration="""
    histogram_quantile(
      0.99,
      sum(
        rate(
          traefik_service_request_duration_seconds_bucket{
            service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"
          }[{{ interval }}]
        )
      ) by (le)
    ) * 1000
    """,
    requests_counter="traefik_service_request_duration_seconds_count",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace("-canary-", "-primary-"),
    failed_matcher='code=~"5.."',
    latency_histogram="traefik_service_request_duration_seconds",
    latency_unit_ms=1000.0,
)
