"""The two resources a Canary refers to by name: MetricTemplate and AlertProvider.

A MetricTemplate's provider is checked for what its type cannot work without (an address, a
region, a Secret), so `kanaria validate` says so before a release finds out; Secret keys are
checked when the Secret is read, since manifests rarely carry Secrets.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from kanaria.spec.base import Model, Resource

METRIC_PROVIDER_TYPES = (
    "prometheus",
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
)
ALERT_PROVIDER_TYPES = ("slack", "msteams", "discord", "rocket", "gchat")


class SecretRef(Model):
    name: str


NEEDS_ADDRESS = ("graphite", "influxdb", "dynatrace", "splunk")
"""Types with no default address (Flagger refuses them without one)."""
NEEDS_SECRET: dict[str, str] = {
    "datadog": "datadog_api_key and datadog_application_key",
    "newrelic": "newrelic_account_id and newrelic_query_key",
    "dynatrace": "dynatrace_token",
    "splunk": "sf_token_key",
}
"""Types that cannot authenticate without a Secret, and the keys it must hold."""


class MetricProvider(Model):
    type: Literal[METRIC_PROVIDER_TYPES] = "prometheus"  # type: ignore[valid-type]
    address: str | None = None
    headers: dict[str, Any] = Field(default_factory=dict)
    secret_ref: SecretRef | None = None
    region: str | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _has_what_its_type_needs(self) -> MetricProvider:
        if self.type in NEEDS_ADDRESS and not self.address:
            raise PydanticCustomError(
                "provider_address", f"provider type {self.type} needs an address (its API URL)"
            )
        if self.type == "cloudwatch" and not self.region:
            raise PydanticCustomError(
                "provider_region", "provider type cloudwatch needs a region (e.g. us-east-1)"
            )
        if self.type in NEEDS_SECRET and self.secret_ref is None:
            keys = NEEDS_SECRET[self.type]
            raise PydanticCustomError(
                "provider_secret",
                f"provider type {self.type} needs a secretRef to a Secret with {keys}",
            )
        return self


class MetricTemplateSpec(Model):
    provider: MetricProvider
    query: str


class MetricTemplate(Resource):
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    spec: MetricTemplateSpec


class AlertProviderSpec(Model):
    type: Literal[ALERT_PROVIDER_TYPES]  # type: ignore[valid-type]
    channel: str = "general"
    username: str = "flagger"
    address: str | None = None
    proxy: str | None = None
    secret_ref: SecretRef | None = None


class AlertProvider(Resource):
    kind: Literal["AlertProvider"] = "AlertProvider"
    spec: AlertProviderSpec
