"""Pick a metrics provider by a MetricTemplate's `spec.provider.type`, from one explicit mapping.

Names exist only here, at the configuration boundary; everything past it holds a provider
instance. An unknown type is a ConfigError listing the known ones — Flagger instead warns and
falls back to Prometheus, which turns a typo into queries sent to the wrong backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Protocol

import aiohttp
import aiohttp.abc

from kanaria import errors
from kanaria.providers.base import ClosableMetricsProvider, ProviderSettings
from kanaria.providers.prometheus import PrometheusProvider


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
    {"prometheus": PrometheusProvider.from_settings}
)

FLAGGER_ONLY_TYPES: Final = frozenset(
    {
        "datadog",
        "cloudwatch",
        "newrelic",
        "graphite",
        "stackdriver",
        "influxdb",
        "dynatrace",
        "keptn",
        "splunk",
        "externalmetrics",
    }
)
"""Types Flagger knows and kanaria does not (yet); named as such in the error."""


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
        if type_name in FLAGGER_ONLY_TYPES:
            raise errors.ConfigError(
                f"metrics provider type {type_name!r} is not supported by kanaria; "
                f"supported: {known}"
            )
        raise errors.ConfigError(f"unknown metrics provider type {type_name!r}; known: {known}")
    return factory(settings, resolver=resolver, connector=connector)
