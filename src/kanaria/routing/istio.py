"""The Istio router: DestinationRules and the VirtualService that splits traffic (flagger.md §5).

Weights are absolute: `set_routes` rebuilds the VirtualService's HTTP routes from the Canary each
time, and `get_routes` reads them back, so the VirtualService is the one record of where traffic
goes. `reconcile` never touches weights, so a periodic reconcile cannot reset a release. The
spec of a VirtualService that existed before kanaria is kept in an annotation, to be restored
on deletion (`revertOnDeletion`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kanaria.errors import ConfigError, NotFoundError
from kanaria.routing import affinity
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX, owned_by, owner_reference
from kanaria.spec.objects import DESTINATION_RULE, VIRTUAL_SERVICE, Object, ObjectClient

ORIGINAL_ANNOTATION = "flagger.kubernetes.io/original-configuration"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


class IstioRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        await self.services.reconcile(canary)
        apex = canary.spec.service_name
        for suffix in (PRIMARY_SUFFIX, CANARY_SUFFIX):
            await self._reconcile_destination_rule(canary, apex + suffix)
        await self._reconcile_virtual_service(canary)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        current = await self._virtual_service(canary)
        affinity.advance_cookies(canary, routes.canary_weight)
        spec = {**current["spec"], "http": http_routes(canary, routes)}
        await self.objects.patch(
            VIRTUAL_SERVICE,
            canary.namespace,
            canary.spec.service_name,
            {"spec": {"http": spec["http"]}},
        )

    async def get_routes(self, canary: Canary) -> Routes:
        virtual_service = await self._virtual_service(canary)
        return routes_of(canary, virtual_service)

    async def finalize(self, canary: Canary) -> None:
        await self.services.finalize(canary)
        virtual_service = await self.objects.get(
            VIRTUAL_SERVICE, canary.namespace, canary.spec.service_name
        )
        if virtual_service is None:
            return
        annotations = virtual_service["metadata"].get("annotations") or {}
        original = annotations.get(LAST_APPLIED_ANNOTATION) or annotations.get(ORIGINAL_ANNOTATION)
        if original is None:
            return
        spec = json.loads(original).get("spec", json.loads(original))
        await self.objects.patch(
            VIRTUAL_SERVICE, canary.namespace, canary.spec.service_name, {"spec": spec}
        )

    async def _virtual_service(self, canary: Canary) -> Object:
        name = canary.spec.service_name
        virtual_service = await self.objects.get(VIRTUAL_SERVICE, canary.namespace, name)
        if virtual_service is None:
            raise NotFoundError(f"VirtualService {name}.{canary.namespace} not found")
        return virtual_service

    async def _reconcile_destination_rule(self, canary: Canary, host: str) -> None:
        spec: dict[str, Any] = {"host": host}
        if canary.spec.service.traffic_policy:
            spec["trafficPolicy"] = canary.spec.service.traffic_policy
        existing = await self.objects.get(DESTINATION_RULE, canary.namespace, host)
        if existing is None:
            await self.objects.create(
                _object(DESTINATION_RULE.api_version, "DestinationRule", canary, host, spec)
            )
        elif existing.get("spec") != spec:
            await self.objects.patch(DESTINATION_RULE, canary.namespace, host, {"spec": spec})

    async def _reconcile_virtual_service(self, canary: Canary) -> None:
        name = canary.spec.service_name
        existing = await self.objects.get(VIRTUAL_SERVICE, canary.namespace, name)
        if existing is None:
            spec = virtual_service_spec(canary, Routes(100, 0))
            obj = _object(VIRTUAL_SERVICE.api_version, "VirtualService", canary, name, spec)
            if canary.spec.service.apex:
                obj["metadata"]["labels"] = dict(canary.spec.service.apex.labels)
                obj["metadata"]["annotations"] = dict(canary.spec.service.apex.annotations)
            await self.objects.create(obj)
            return
        # keep the weights in force; only the rest of the spec follows the Canary
        wanted = virtual_service_spec(canary, routes_of(canary, existing, strict=False))
        if _without_weights(existing.get("spec") or {}) == _without_weights(wanted):
            return
        patch: dict[str, Any] = {"spec": wanted}
        if not owned_by(existing, canary):
            annotations = existing["metadata"].get("annotations") or {}
            if (
                LAST_APPLIED_ANNOTATION not in annotations
                and ORIGINAL_ANNOTATION not in annotations
            ):
                original = json.dumps({"spec": existing.get("spec") or {}}, sort_keys=True)
                patch["metadata"] = {"annotations": {ORIGINAL_ANNOTATION: original}}
        await self.objects.patch(VIRTUAL_SERVICE, canary.namespace, name, patch)


def virtual_service_spec(canary: Canary, routes: Routes) -> dict[str, Any]:
    service = canary.spec.service
    apex = canary.spec.service_name
    hosts = list(service.hosts)
    if apex not in hosts and "*" not in hosts:
        hosts.append(apex)
    if service.delegation:
        if service.hosts or service.gateways:
            raise ConfigError("spec.service.delegation cannot be combined with hosts or gateways")
        return {"hosts": [], "gateways": [], "http": http_routes(canary, routes)}
    return {
        "hosts": hosts,
        "gateways": list(service.gateways) or ["mesh"],
        "http": http_routes(canary, routes),
    }


def http_routes(canary: Canary, routes: Routes) -> list[dict[str, Any]]:
    """The HTTP routes for the given weights, per strategy (weights, A/B, affinity, mirror)."""
    analysis = canary.spec.analysis
    weighted = _route(canary, routes.primary_weight, routes.canary_weight)
    rules = [weighted]
    if analysis.session_affinity is not None:
        rules = _session_rules(canary, routes.canary_weight, weighted)
    if routes.mirrored:
        rules[0]["mirror"] = {"host": canary.spec.service_name + CANARY_SUFFIX}
        if analysis.mirror_weight:
            rules[0]["mirrorPercentage"] = {"value": analysis.mirror_weight}
    if analysis.match and analysis.iterations:
        matched = {**weighted, "match": _merge_matches(canary.spec.service.match, analysis.match)}
        return [matched, _route(canary, 100, 0)]
    return rules


def _session_rules(
    canary: Canary, canary_weight: int, weighted: dict[str, Any]
) -> list[dict[str, Any]]:
    """Sticky-cookie rules ahead of the weighted one, from the cookies in the Canary's status
    (reference §4.5): while the canary has weight, its cookie holders go to it (and those of
    the primary cookie to the primary); afterwards, holders of the last cookie get it expired."""
    status = canary.status
    if canary_weight == 0:
        return [_expiry_rule(canary, weighted, status.previous_session_affinity_cookie), weighted]
    cookie = status.session_affinity_cookie
    if not cookie:  # never a rule that matches any cookie
        return [weighted]
    sticky = canary.spec.analysis.session_affinity
    assert sticky is not None
    primary_destination, canary_destination = weighted["route"]
    canary_destination["headers"] = _set_cookie(
        affinity.set_cookie(sticky, cookie, sticky.effective_max_age)
    )
    rules = [_cookie_rule(canary, weighted, cookie, 0, 100)]
    primary_cookie = status.primary_session_affinity_cookie
    if sticky.primary_cookie_name and primary_cookie:
        max_age = affinity.primary_cookie_max_age(canary)
        primary_destination["headers"] = _set_cookie(
            affinity.set_cookie(sticky, primary_cookie, max_age)
        )
        rules.append(_cookie_rule(canary, weighted, primary_cookie, 100, 0))
    return [*rules, weighted]


def _cookie_rule(
    canary: Canary, weighted: dict[str, Any], cookie: str, primary_weight: int, canary_weight: int
) -> dict[str, Any]:
    rule = copy.deepcopy(weighted)
    rule["match"] = _cookie_match(canary, cookie)
    rule["route"] = _route(canary, primary_weight, canary_weight)["route"]
    return rule


def _expiry_rule(canary: Canary, weighted: dict[str, Any], previous: str | None) -> dict[str, Any]:
    rule = copy.deepcopy(weighted)
    if previous:
        rule["match"] = _cookie_match(canary, previous)
        headers = rule.setdefault("headers", {})
        response = headers.setdefault("response", {})
        response.setdefault("add", {})[affinity.SET_COOKIE_HEADER] = affinity.expired(previous)
    return rule


def _cookie_match(canary: Canary, cookie: str) -> list[dict[str, Any]]:
    match = {"headers": {affinity.COOKIE_HEADER: {"regex": affinity.cookie_regex(cookie)}}}
    return _merge_matches(canary.spec.service.match, [match])


def _set_cookie(value: str) -> dict[str, Any]:
    return {"response": {"add": {affinity.SET_COOKIE_HEADER: value}}}


def _route(canary: Canary, primary_weight: int, canary_weight: int) -> dict[str, Any]:
    service = canary.spec.service
    apex = canary.spec.service_name
    route: dict[str, Any] = {
        "route": [
            {"destination": {"host": apex + PRIMARY_SUFFIX}, "weight": primary_weight},
            {"destination": {"host": apex + CANARY_SUFFIX}, "weight": canary_weight},
        ]
    }
    if service.match:
        route["match"] = list(service.match)
    for key, value in (
        ("rewrite", service.rewrite),
        ("timeout", service.timeout),
        ("headers", service.headers),
        ("corsPolicy", service.cors_policy),
    ):
        if value:
            route[key] = value
    if service.retries is not None:
        route["retries"] = service.retries.model_dump(by_alias=True, exclude_none=True)
    return route


def _merge_matches(
    service_match: list[dict[str, Any]], analysis_match: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if not service_match:
        return list(analysis_match)
    return [{**base, **extra} for base in service_match for extra in analysis_match]


def routes_of(canary: Canary, virtual_service: Object, strict: bool = True) -> Routes:
    """The weights in force: the first route that sends to both primary and canary (with
    session affinity, the one that sets the cookie)."""
    apex = canary.spec.service_name
    rules = (virtual_service.get("spec") or {}).get("http") or []
    if canary.spec.analysis.session_affinity is not None:
        rules = [rule for rule in rules if _sets_cookie(rule)] or rules
    for http in rules:
        weights = {
            d["destination"]["host"]: int(d.get("weight") or 0) for d in http.get("route") or []
        }
        primary, canary_weight = (
            weights.get(apex + PRIMARY_SUFFIX),
            weights.get(apex + CANARY_SUFFIX),
        )
        if primary is None or canary_weight is None:
            continue
        if primary + canary_weight > 0:
            return Routes(primary, canary_weight, "mirror" in http)
    if strict:
        raise NotFoundError(
            f"VirtualService {apex}.{canary.namespace} does not contain routes for "
            f"{apex}-primary and {apex}-canary"
        )
    return Routes(100, 0)


def _sets_cookie(rule: dict[str, Any]) -> bool:
    return any(destination.get("headers") for destination in rule.get("route") or [])


def _without_weights(spec: dict[str, Any]) -> Any:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: strip(item)
                for key, item in value.items()
                if key not in ("weight", "mirror", "mirrorPercentage")
            }
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return strip(spec)


def _object(api_version: str, kind: str, canary: Canary, name: str, spec: dict[str, Any]) -> Object:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": canary.namespace,
            "ownerReferences": [owner_reference(canary)],
        },
        "spec": spec,
    }
