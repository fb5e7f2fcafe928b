"""Metrics: where a check's number comes from.

Three parts, kept apart as in Flagger: a *provider* runs a query against a backend
(`base.py` is the contract; one module per backend Flagger supports — `prometheus.py`,
`datadog.py`, `cloudwatch.py`, `newrelic.py`, `graphite.py`, `stackdriver.py`, `influxdb.py`,
`dynatrace.py`, `keptn.py`, `splunk.py`, `externalmetrics.py`; `http.py` and `credentials.py`
are what the HTTP ones share; `registry.py` picks one by name); `queries/` holds each mesh's
builtin PromQL templates; `render.py` fills a template with a canary's names. Judging the
number against a threshold is `analysis/`'s business, not ours. See docs/metrics-providers.md.
"""

from kanaria.providers.base import (
    ClosableMetricsProvider,
    MetricsProvider,
    MultipleValuesError,
    NoValuesError,
    ProviderAuthError,
    ProviderSettings,
    ProviderUnavailableError,
    QueryError,
)
from kanaria.providers.prometheus import (
    BasicCredentials,
    BearerToken,
    Credentials,
    PrometheusProvider,
    credentials_from_directory,
    credentials_from_env,
    credentials_from_secret,
)
from kanaria.providers.queries import builtin_model, builtin_query, count_queries, dialect_for
from kanaria.providers.registry import PROVIDERS, provider_for
from kanaria.providers.render import TemplateModel, render_query
from kanaria.spec.duration import format_duration

__all__ = [
    "PROVIDERS",
    "BasicCredentials",
    "BearerToken",
    "ClosableMetricsProvider",
    "Credentials",
    "MetricsProvider",
    "MultipleValuesError",
    "NoValuesError",
    "PrometheusProvider",
    "ProviderAuthError",
    "ProviderSettings",
    "ProviderUnavailableError",
    "QueryError",
    "TemplateModel",
    "builtin_model",
    "builtin_query",
    "count_queries",
    "credentials_from_directory",
    "credentials_from_env",
    "credentials_from_secret",
    "dialect_for",
    "format_duration",
    "provider_for",
    "render_query",
]
