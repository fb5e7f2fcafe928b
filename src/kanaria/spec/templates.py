"""The two resources a Canary refers to by name: MetricTemplate and AlertProvider."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

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


class MetricProvider(Model):
    type: Literal[METRIC_PROVIDER_TYPES] = "prometheus"  # type: ignore[valid-type]
    address: str | None = None
    headers: dict[str, Any] = Field(default_factory=dict)
    secret_ref: SecretRef | None = None
    region: str | None = None
    insecure_skip_verify: bool = False


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
