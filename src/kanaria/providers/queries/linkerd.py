"""Linkerd: the proxy's inbound `response_total`, labelled by Deployment.

Linkerd classifies each response itself (`classification="failure"` for 5xx and gRPC
errors); the counts use that class as "failed", like the builtin success rate does.
"""

from kanaria.providers.queries.dialect import MeshDialect

_CANARY = 'namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"'

DIALECT = MeshDialect(
    mesh="linkerd",
    request_success_rate="""
    sum(
      rate(
        response_total{
          namespace="{{ namespace }}",
          deployment=~"{{ target }}",
          classification!="failure",
          direction="inbound"
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        response_total{
          namespace="{{ namespace }}",
          deployment=~"{{ target }}",
          direction="inbound"
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
          response_latency_ms_bucket{
            namespace="{{ namespace }}",
            deployment=~"{{ target }}",
            direction="inbound"
          }[{{ interval }}]
        )
      ) by (le)
    )
    """,
    requests_counter="response_total",
    canary_selector=_CANARY,
    primary_selector=_CANARY.replace('"{{ target }}"', '"{{ target }}-primary"'),
    failed_matcher='classification="failure"',
    latency_histogram="response_latency_ms",
)
