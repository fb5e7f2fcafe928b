"""APISIX: the prometheus plugin's `apisix_http_status`, labelled by route.

The canary ApisixRoute `<routeRef>-<target>-canary` carries all the traffic to both primary
and canary backends, and APISIX labels its series by route, not by backend: the builtin
queries measure that route as Flagger's do, but no label tells the primary's requests from
the canary's, so there are no per-workload counts for a sequential judge.
"""

from kanaria.providers.queries.dialect import MeshDialect

_ROUTE = 'route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"'

DIALECT = MeshDialect(
    mesh="apisix",
    request_success_rate="""
    sum(
      rate(
        apisix_http_status{
          route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+",
          code!~"5.."
        }[{{ interval }}]
      )
    )
    /
    sum(
      rate(
        apisix_http_status{
          route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"
        }[{{ interval }}]
      )
    ) * 100
    """,
    request_duration="""
    histogram_quantile(
      0.99,
      sum(
        rate(
          apisix_http_latency_bucket{
            type=~"request",
            route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"
          }[{{ interval }}]
        )
      ) by (le)
    )
    """,
    requests_counter="apisix_http_status",
    canary_selector=_ROUTE,
    primary_selector=None,
    failed_matcher='code=~"5.."',
    latency_histogram="apisix_http_latency",
)
