"""Pick a metrics provider by a MetricTemplate's `spec.provider.type`, from one explicit mapping.

Names exist only here, at the configuration boundary; everything past it holds a provider
instance. Every type Flagger knows is here, one module each. An unknown type is a ConfigError
listing the known ones — Flagger instead warns and falls back to Prometheus, which turns a typo
into queries sent to the wrong backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Protocol

import aiohttp
import aiohttp.abc

from kanaria import errors
from kanaria.providers.base import ClosableMetricsProvider, ProviderSettings
from kanaria.providers.cloudwatch import CloudWatchProvider
from kanaria.providers.datadog import DatadogProvider
from kanaria.providers.dynatrace import DynatraceProvider
from kanaria.providers.externalmetrics import ExternalMetricsProvider
from kanaria.providers.graphite import GraphiteProvider
from kanaria.providers.influxdb import InfluxDBProvider
from kanaria.providers.keptn import KeptnProvider
from kanaria.providers.newrelic import NewRelicProvider
from kanaria.providers.prometheus import PrometheusProvider
from kanaria.providers.splunk import SplunkProvider
from kanaria.providers.stackdriver import StackdriverProvider


class ProviderFactory(Protocol):
    """Builds a provider from a template's settings; transport hooks are for the local platform."""

    def __call__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> ClosableMetricsProvider: ...


PROVIDERS: Final[Mapping[str, ProviderFactory]] = MappingProxyType(
    {
        "prometheus": PrometheusProvider.from_settings,
        "datadog": DatadogProvider.from_settings,
        "cloudwatch": CloudWatchProvider.from_settings,
        "newrelic": NewRelicProvider.from_settings,
        "graphite": GraphiteProvider.from_settings,
        "stackdriver": StackdriverProvider.from_settings,
        "influxdb": InfluxDBProvider.from_settings,
        "dynatrace": DynatraceProvider.from_settings,
        "keptn": KeptnProvider.from_settings,
        "splunk": SplunkProvider.from_settings,
        "externalmetrics": ExternalMetricsProvider.from_settings,
    }
)


def provider_for(
    type_name: str,
    settings: ProviderSettings,
    *,
    resolver: aiohttp.abc.AbstractResolver | None = None,
    connector: aiohttp.BaseConnector | None = None,
) -> ClosableMetricsProvider:
    """A new provider of `type_name`; the caller closes it when done."""
    factory = PROVIDERS.get(type_name)
    if factory is None:
        known = ", ".join(PROVIDERS)
        raise errors.ConfigError(f"unknown metrics provider type {type_name!r}; known: {known}")
    return factory(settings, resolver=resolver, connector=connector)
