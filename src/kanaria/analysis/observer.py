"""The engine's `Observer` over Prometheus: a metric of a Canary becomes a query and a number.

Builtin checks use the mesh's queries (`providers/queries`), `templateRef` checks a
MetricTemplate read through the `ObjectClient` (with its own provider — any type Flagger
knows — and credentials from its Secret), inline `query` checks the Canary's metrics server.
Metric windows follow the platform's time scale, so the seed's `interval: 1m` is a 2 s window
at 30× speed; that scaled interval is also what the backends that take a time range (Datadog,
CloudWatch, Dynatrace, Splunk: 10 × it; New Relic: 1 ×) are given.

Failures name the template, in Flagger's words (`metric template <name>.<ns> provider <type>
error: …`, `<type> in metric template <name>.<ns> not available: …`), so an event says which
template and which backend went wrong.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import aiohttp.abc
from pydantic import ValidationError

from kanaria.analysis.counts import Counts
from kanaria.errors import ConfigError, KanariaError, TemporaryError
from kanaria.providers import (
    ClosableMetricsProvider,
    NoValuesError,
    ProviderSettings,
    TemplateModel,
    builtin_model,
    builtin_query,
    count_queries,
    provider_for,
    render_query,
)
from kanaria.spec.canary import BUILTIN_METRICS, KNATIVE_PROVIDER, Canary, Metric
from kanaria.spec.objects import KNATIVE_SERVICE, METRIC_TEMPLATE, SECRET, ObjectClient
from kanaria.spec.templates import MetricTemplate


@dataclass(frozen=True)
class ObserverSettings:
    metrics_server: str = "http://prometheus:9090"
    mesh_provider: str = "istio"
    time_scale: float = 1.0
    min_window_seconds: float = 0.0


class PrometheusObserver:
    def __init__(
        self,
        objects: ObjectClient,
        settings: ObserverSettings,
        resolver: aiohttp.abc.AbstractResolver | None = None,
    ) -> None:
        self.objects = objects
        self.settings = settings
        self._resolver = resolver
        self._providers: dict[tuple[object, ...], ClosableMetricsProvider] = {}

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
        self._providers.clear()

    async def measure(self, canary: Canary, metric: Metric) -> float:
        model = await self._model(canary, metric)
        if metric.template_ref is not None:
            template = await self._template(canary, metric)
            provider = await self._template_provider(canary, metric, template)
            return await provider.query(render_query(template.spec.query, model))
        if metric.query:
            query = metric.query
        else:
            query = builtin_query(self._mesh(canary), metric.name)
            model = builtin_model(self._mesh(canary), model)
        return await self._default_provider(canary).query(render_query(query, model))

    async def check_available(self, canary: Canary) -> None:
        """Flagger's check: Prometheus when a builtin metric (or the judge) needs it, then
        each template's backend; the first failure is raised, naming its template."""
        metrics = canary.spec.analysis.metrics
        if canary.spec.analysis.judge or any(m.name in BUILTIN_METRICS for m in metrics):
            await _must_be_online(self._default_provider(canary), "prometheus")
        for metric in metrics:
            if metric.template_ref is not None:
                template = await self._template(canary, metric)
                provider = await self._template_provider(canary, metric, template)
                what = f"{template.spec.provider.type} in metric template {_name_of(template)}"
                await _must_be_online(provider, what)

    async def counts(self, canary: Canary, latency_threshold: float) -> tuple[Counts, Counts]:
        model = builtin_model(self._mesh(canary), await self._model(canary, None))
        provider = self._default_provider(canary)
        found = []
        for workload in ("primary", "canary"):
            queries = count_queries(
                self._mesh(canary),
                workload,
                latency_bound_ms=latency_threshold * 1000,
                windowed=False,
            )
            values = [
                await _count(provider, render_query(query, model))
                for query in (queries.total, queries.failed, queries.slow)
            ]
            found.append(Counts(*values))
        return found[0], found[1]

    def window(self, seconds: float) -> float:
        return max(seconds / self.settings.time_scale, self.settings.min_window_seconds)

    async def _model(self, canary: Canary, metric: Metric | None) -> TemplateModel:
        interval = self.window(metric.interval_seconds if metric else 60.0)
        refs = canary.spec
        return TemplateModel(
            name=canary.name,
            namespace=canary.namespace,
            target=refs.target_ref.name,
            service=refs.service_name,
            ingress=refs.ingress_ref.name if refs.ingress_ref else None,
            route=await self._route(canary),
            interval=interval,
            variables=dict(metric.template_variables) if metric else {},
        )

    async def _route(self, canary: Canary) -> str | None:
        """`routeRef`'s name; for Knative, the latest revision (the canary), as Flagger has it."""
        if self._mesh(canary) != KNATIVE_PROVIDER:
            return canary.spec.route_ref.name if canary.spec.route_ref else None
        name = canary.spec.target_ref.name
        service = await self.objects.get(KNATIVE_SERVICE, canary.namespace, name)
        latest = ((service or {}).get("status") or {}).get("latestCreatedRevisionName")
        if not latest:
            raise TemporaryError(f"Knative Service {name}.{canary.namespace} has no revision yet")
        return str(latest)

    def _mesh(self, canary: Canary) -> str:
        return canary.spec.provider or self.settings.mesh_provider

    def _default_provider(self, canary: Canary) -> ClosableMetricsProvider:
        address = canary.spec.metrics_server or self.settings.metrics_server
        return self._provider("prometheus", ProviderSettings(address=address))

    def _provider(self, type_name: str, settings: ProviderSettings) -> ClosableMetricsProvider:
        key = _cache_key(type_name, settings)
        if key not in self._providers:
            self._providers[key] = provider_for(type_name, settings, resolver=self._resolver)
        return self._providers[key]

    async def _template(self, canary: Canary, metric: Metric) -> MetricTemplate:
        assert metric.template_ref is not None
        namespace = metric.template_ref.namespace or canary.namespace
        raw = await self.objects.get(METRIC_TEMPLATE, namespace, metric.template_ref.name)
        if raw is None:
            raise ConfigError(
                f"metric {metric.name}: MetricTemplate {metric.template_ref.name}.{namespace} "
                "not found"
            )
        try:
            return MetricTemplate.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(
                str(part) for part in first["loc"] if not str(part).startswith("function")
            )
            raise ConfigError(
                f"metric template {metric.template_ref.name}.{namespace} error: "
                f"{field}: {first['msg']}"
            ) from exc

    async def _template_provider(
        self, canary: Canary, metric: Metric, template: MetricTemplate
    ) -> ClosableMetricsProvider:
        spec = template.spec.provider
        address = spec.address or ""
        if spec.type == "prometheus":  # kanaria's default: the Canary's metrics server
            address = address or canary.spec.metrics_server or self.settings.metrics_server
        secret, secret_name = None, ""
        if spec.secret_ref is not None:
            secret_name = f"{spec.secret_ref.name}.{template.namespace}"
            secret = await self._secret(template, spec.secret_ref.name)
        settings = ProviderSettings(
            address=address,
            headers=spec.headers,
            secret=secret,
            insecure_skip_verify=spec.insecure_skip_verify,
            region=spec.region or "",
            interval=self.window(metric.interval_seconds),
            secret_name=secret_name,
            objects=self.objects,
        )
        try:
            return self._provider(spec.type, settings)
        except ConfigError as exc:
            raise ConfigError(
                f"metric template {_name_of(template)} provider {spec.type} error: {exc}"
            ) from exc

    async def _secret(self, template: MetricTemplate, name: str) -> dict[str, str | bytes]:
        raw = await self.objects.get(SECRET, template.namespace, name)
        if raw is None:
            raise ConfigError(
                f"metric template {_name_of(template)} secret {name} error: "
                f"Secret {name}.{template.namespace} not found"
            )
        decoded: dict[str, str | bytes] = {
            key: base64.b64decode(value) for key, value in (raw.get("data") or {}).items()
        }
        decoded.update(raw.get("stringData") or {})
        return decoded


async def _must_be_online(provider: ClosableMetricsProvider, what: str) -> None:
    """Raise, in Flagger's words, unless `provider` says it is online."""
    try:
        online = await provider.is_online()
    except KanariaError as exc:
        raise type(exc)(f"{what} not available: {exc}") from exc
    if not online:
        raise ConfigError(f"{what} not available: it answered, but not as expected")


def _cache_key(type_name: str, settings: ProviderSettings) -> tuple[object, ...]:
    """One provider per distinct configuration: a changed Secret or interval gets a new one."""
    headers = tuple(sorted((name, str(value)) for name, value in settings.headers.items()))
    secret = tuple(sorted((settings.secret or {}).items()))
    return (
        type_name,
        settings.address,
        headers,
        secret,
        settings.insecure_skip_verify,
        settings.region,
        settings.interval,
    )


def _name_of(template: MetricTemplate) -> str:
    return f"{template.name}.{template.namespace}"


async def _count(provider: ClosableMetricsProvider, query: str) -> int:
    try:
        value = await provider.query(query)
    except NoValuesError:
        return 0
    return 0 if math.isnan(value) else max(0, round(value))
