"""Alerts where the team talks: the engine's `Notifier`, over AlertProviders and chat webhooks.

The engine calls `alert(canary, severity, message, fields)` at Flagger's alert moments
(reference/flagger.md §6.2). This module decides who hears it and delivers it:

* each of the canary's `analysis.alerts` whose severity admits the alert — `info` hears
  everything, `warn` hears warnings and errors, `error` only errors. An alert written without a
  severity is `info` (the CRD's documented default; Flagger's code matched nothing there);
* when `analysis.alerts` is empty, the controller's default provider, if one was configured
  (Flagger's `-slack-url`/`-msteams-url` flags);
* the provider's address comes from its Secret's `address` key when `secretRef` is set (its
  `token` key becomes a Bearer header), else from `spec.address`; `proxy` is honoured.

A chat service that is down must never hold up or break a release: every delivery is cut at a
timeout, runs alongside the others, and its failure is logged, never raised. Alert texts and
delivery failures go through `redact`: a chat room is no place for a URL's credentials.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from kanaria.errors import ConfigError, KanariaError, TemporaryError
from kanaria.redaction import redact
from kanaria.spec.canary import Alert, Canary
from kanaria.spec.objects import ALERT_PROVIDER, SECRET, Object, ObjectClient
from kanaria.spec.templates import AlertProvider
from kanaria.webhooks.alerts import AlertMessage, service

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0  # Flagger's notification timeout
DEFAULT_CHANNEL = "general"
DEFAULT_USERNAME = "flagger"
_SEVERITY_RANK = {"info": 0, "warn": 1, "error": 2}
_NEW_REVISION = "New revision detected"
_MAX_ERROR_BODY = 300


@dataclass(frozen=True)
class Destination:
    """Where one alert goes: a service type, its address, and how to talk to it."""

    type: str
    address: str
    channel: str = DEFAULT_CHANNEL
    username: str = DEFAULT_USERNAME
    proxy: str | None = None
    token: str | None = None
    source: str = "default provider"

    def __post_init__(self) -> None:
        service(self.type)  # an unknown type fails here, at configuration time


def default_provider(
    *,
    slack_url: str | None = None,
    slack_token: str | None = None,
    slack_channel: str | None = None,
    slack_user: str | None = None,
    slack_proxy: str | None = None,
    msteams_url: str | None = None,
    msteams_proxy: str | None = None,
) -> Destination | None:
    """The global provider from Flagger's flags: Slack if its URL is set, else MS Teams."""
    if slack_url:
        return Destination(
            "slack",
            slack_url,
            channel=slack_channel or DEFAULT_CHANNEL,
            username=slack_user or DEFAULT_USERNAME,
            proxy=slack_proxy,
            token=slack_token,
        )
    if msteams_url:
        return Destination("msteams", msteams_url, proxy=msteams_proxy)
    return None


def admits(alert: Alert, severity: str) -> bool:
    """Whether an alert subscription at `alert.severity` hears an alert of `severity`."""
    return _SEVERITY_RANK.get(severity, 0) >= _SEVERITY_RANK[alert.severity]


def alert_fields(
    canary: Canary, message: str, fields: dict[str, str], cluster_name: str | None
) -> list[tuple[str, str]]:
    """The fields shown under the message: the engine's, the cluster, and for a new revision
    what the analysis will do (Flagger's alert metadata)."""
    shown = dict(fields)
    shown.setdefault("Target", _target(canary))
    if message.startswith(_NEW_REVISION):
        analysis = canary.spec.analysis
        shown.setdefault("Failed checks threshold", str(analysis.failed_checks_threshold))
        shown.setdefault("Progress deadline", f"{canary.spec.progress_deadline_seconds}s")
        routing = traffic_routing(canary)
        if routing:
            shown.setdefault("Traffic routing", routing)
    if cluster_name:
        shown.setdefault("Cluster", cluster_name)
    return list(shown.items())


def traffic_routing(canary: Canary) -> str:
    analysis = canary.spec.analysis
    if analysis.step_weight:
        return f"Weight step: {analysis.step_weight} max: {analysis.max_canary_weight}"
    if analysis.step_weights:
        steps = ",".join(str(step) for step in analysis.step_weights)
        return f"Weight steps: {steps} max: {analysis.max_canary_weight}"
    if analysis.match:
        return "A/B Testing"
    if analysis.iterations:
        return "Blue/Green"
    return ""


def _target(canary: Canary) -> str:
    target = canary.spec.target_ref
    return f"{target.kind}/{target.name}.{canary.namespace}"


class AlertNotifier:
    """The engine's `Notifier`. Reads AlertProviders and Secrets through `objects` at each
    alert, so a provider changed with `kubectl apply` takes effect on the next alert."""

    def __init__(
        self,
        objects: ObjectClient,
        *,
        default: Destination | None = None,
        cluster_name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.objects = objects
        self.default = default
        self.cluster_name = cluster_name
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def alert(
        self, canary: Canary, severity: str, message: str, fields: dict[str, str]
    ) -> None:
        """Deliver to every destination that wants it; log (never raise) what fails."""
        message = redact(message)
        destinations = await self.destinations(canary, severity)
        shown = alert_fields(canary, message, fields, self.cluster_name)
        await asyncio.gather(
            *(self._deliver(canary, where, severity, message, shown) for where in destinations)
        )

    async def destinations(self, canary: Canary, severity: str) -> list[Destination]:
        subscriptions = canary.spec.analysis.alerts
        if not subscriptions:
            return [self.default] if self.default is not None else []
        found = []
        for subscription in subscriptions:
            if not admits(subscription, severity):
                continue
            try:
                found.append(await self._resolve(canary, subscription))
            except KanariaError as exc:
                log.error("%s: alert %s not sent: %s", canary.key, subscription.name, exc)
        return found

    async def _resolve(self, canary: Canary, subscription: Alert) -> Destination:
        ref = subscription.provider_ref
        namespace = ref.namespace or canary.namespace
        raw = await self.objects.get(ALERT_PROVIDER, namespace, ref.name)
        if raw is None:
            raise ConfigError(f"alert provider {ref.name}.{namespace} not found")
        try:
            spec = AlertProvider.model_validate(raw).spec
        except ValueError as exc:
            raise ConfigError(f"alert provider {ref.name}.{namespace} is invalid: {exc}") from exc
        address, token = spec.address, None
        if spec.secret_ref is not None:
            address, token = await self._secret_address(namespace, spec.secret_ref.name)
        if not address:
            raise ConfigError(f"alert provider {ref.name}.{namespace} has no address")
        return Destination(
            spec.type,
            address,
            channel=spec.channel or DEFAULT_CHANNEL,
            username=spec.username or DEFAULT_USERNAME,
            proxy=spec.proxy or None,
            token=token,
            source=f"alert provider {ref.name}.{namespace}",
        )

    async def _secret_address(self, namespace: str, name: str) -> tuple[str, str | None]:
        secret = await self.objects.get(SECRET, namespace, name)
        if secret is None:
            raise ConfigError(f"secret {name}.{namespace} (the provider's secretRef) not found")
        data = secret_data(secret)
        if not data.get("address"):
            raise ConfigError(f"secret {name}.{namespace} has no 'address' key")
        return data["address"], data.get("token") or None

    async def _deliver(
        self,
        canary: Canary,
        where: Destination,
        severity: str,
        message: str,
        fields: list[tuple[str, str]],
    ) -> None:
        alert = AlertMessage(
            canary.name, canary.namespace, message, severity, fields, where.channel, where.username
        )
        chat = service(where.type)
        try:
            await self._post(chat.endpoint(where.address), chat.payload(alert), where)
        except TemporaryError as exc:
            log.error("%s: alert to %s (%s) failed: %s", canary.key, where.source, where.type, exc)

    async def _post(self, url: str, payload: dict[str, Any], where: Destination) -> None:
        headers = {"Authorization": f"Bearer {where.token}"} if where.token else {}
        limit = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with self._client().post(
                url, json=payload, headers=headers, proxy=where.proxy, timeout=limit
            ) as response:
                if response.status >= 300:
                    body = (await response.text(errors="replace"))[:_MAX_ERROR_BODY]
                    reason = f"status {response.status}: {body.strip() or 'no body'}"
                    raise TemporaryError(redact(reason))
        except TimeoutError as exc:
            raise TemporaryError(f"no answer within {self.timeout:g}s") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise TemporaryError(redact(f"cannot reach the webhook: {exc}")) from exc

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session


def secret_data(secret: Object) -> dict[str, str]:
    """A Secret's values as text: `data` is base64 (as the API server stores it), `stringData`
    is plain (as a manifest may write it, and the local store keeps it)."""
    values = {str(key): str(value) for key, value in (secret.get("stringData") or {}).items()}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            values.setdefault(str(key), base64.b64decode(str(encoded), validate=True).decode())
        except (binascii.Error, UnicodeDecodeError):
            log.warning("secret key %s is not base64 text; ignored", key)
    return values
