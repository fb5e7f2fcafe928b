"""Gateway API: one HTTPRoute `<svc>` that splits traffic between `<svc>-primary` and
`<svc>-canary` (providers `gatewayapi:v1` and `gatewayapi:v1beta1`, reference §5 and §6).

The route attaches to `spec.service.gatewayRefs`; its first rule matches `spec.service.match`
(translated from Istio's form; `/` when empty) and weighs the two backends. A/B testing puts the
analysis matches on that rule and adds a second one that keeps everyone else on the primary;
blue/green mirroring adds a `RequestMirror` filter; session affinity puts sticky-cookie rules
before it (`affinity.py`). v1beta1 differs from v1 as Flagger's does: no timeouts, no CORS
filter, no primary cookie, and no wait for the Gateway to accept the route.

Like Flagger, `set_routes` rebuilds the whole spec, and `reconcile` rewrites it (weights back to
100/0) only when something other than the weights, cookies and mirror changed.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass
from typing import Any

from kanaria.errors import ConfigError, NotFoundError, TemporaryError
from kanaria.routing import affinity
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.managed import apex_annotations, apex_labels
from kanaria.routing.metadata import annotations_of, labels_of, new_object, without_empty
from kanaria.spec.canary import Canary, Phase
from kanaria.spec.duration import parse_duration
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import HTTP_ROUTE, HTTP_ROUTE_V1BETA1, Kind, Object, ObjectClient

log = logging.getLogger(__name__)

Rule = dict[str, Any]
Match = dict[str, Any]

DEFAULT_MATCH: Match = {"path": {"type": "PathPrefix", "value": "/"}}
_IN_ANALYSIS = frozenset({Phase.WAITING, Phase.PROGRESSING, Phase.WAITING_PROMOTION})
_STRING_MATCHES = (("exact", "Exact"), ("regex", "RegularExpression"))


@dataclass(frozen=True)
class Flavour:
    """What one Gateway API version of Flagger's router writes."""

    kind: Kind
    timeouts: bool  # spec.service.timeout and backendTimeout
    cors: bool  # a CORS filter from spec.service.corsPolicy
    primary_cookie: bool  # sessionAffinity.primaryCookieName
    parent_readiness: bool  # get_routes waits until the Gateway accepted the route
    mirror_refs_copied: bool  # spec.service.mirror: only the backendRef (else as written)


V1 = Flavour(HTTP_ROUTE, True, True, True, True, True)
V1BETA1 = Flavour(HTTP_ROUTE_V1BETA1, False, False, False, False, False)


class GatewayAPIRouter:
    def __init__(self, objects: ObjectClient, flavour: Flavour = V1) -> None:
        self.objects = objects
        self.flavour = flavour
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        await self.services.reconcile(canary)
        if not canary.spec.service.gateway_refs:
            raise ConfigError(
                f"canary {canary.key}: spec.service.gatewayRefs must be specified when using "
                "Gateway API as a provider"
            )
        name = canary.spec.service_name
        wanted = route_spec(canary, Routes(100, 0), self.flavour, sticky=False)
        live = await self.objects.get(self.flavour.kind, canary.namespace, name)
        if live is None:
            route = new_object(
                self.flavour.kind,
                canary,
                name,
                wanted,
                labels=apex_labels(canary),
                annotations=apex_annotations(canary),
            )
            await self.objects.create(route)
            return
        updated = self._updated(canary, live, wanted)
        if updated is not None:
            await self.objects.replace(updated)

    def _updated(self, canary: Canary, live: Object, wanted: dict[str, Any]) -> Object | None:
        # annotations other controllers add (e.g. AWS's Gateway API controller) are kept
        annotations = {**annotations_of(live), **apex_annotations(canary)}
        labels = apex_labels(canary)
        same_spec = self._comparable(canary, live.get("spec") or {}) == self._comparable(
            canary, wanted
        )
        if same_spec and labels == labels_of(live) and annotations == annotations_of(live):
            return None
        live["spec"] = wanted
        live["metadata"]["labels"] = labels
        live["metadata"]["annotations"] = annotations
        return live

    def _comparable(self, canary: Canary, spec: dict[str, Any]) -> Any:
        """The spec without what routing steps change: weights, cookie rules and filters, and
        the mirror filter while an analysis runs."""
        analysis = canary.spec.analysis
        rules = without_empty(copy.deepcopy(spec)).get("rules") or []
        if analysis.session_affinity is not None:
            names = [analysis.session_affinity.cookie_name]
            if self.flavour.primary_cookie:
                names.append(analysis.session_affinity.primary_cookie_name or "")
            rules = [rule for rule in rules if not _matches_cookie(rule, names)]
        for rule in rules:
            if analysis.mirror and canary.status.phase in _IN_ANALYSIS:
                rule.pop("filters", None)
            for backend in rule.get("backendRefs") or []:
                backend.pop("weight", None)
                if analysis.session_affinity is not None:
                    backend.pop("filters", None)
        return {**without_empty(spec), "rules": rules}

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        live = await self._live(canary)
        if canary.spec.analysis.session_affinity is not None:
            affinity.advance_cookies(
                canary, routes.canary_weight, primary=self.flavour.primary_cookie
            )
        live["spec"] = route_spec(canary, routes, self.flavour, sticky=True)
        await self.objects.replace(live)

    async def get_routes(self, canary: Canary) -> Routes:
        live = await self._live(canary)
        if self.flavour.parent_readiness:
            _check_parents_ready(canary, live)
        return routes_of(canary, live)

    async def finalize(self, canary: Canary) -> None:
        """Flagger leaves the HTTPRoute as it is; the Services get their selector back."""
        await self.services.finalize(canary)

    async def _live(self, canary: Canary) -> Object:
        name = canary.spec.service_name
        live = await self.objects.get(self.flavour.kind, canary.namespace, name)
        if live is None:
            raise NotFoundError(f"HTTPRoute {name}.{canary.namespace} not found")
        return live


def gateway_api_v1(objects: ObjectClient) -> GatewayAPIRouter:
    return GatewayAPIRouter(objects, V1)


def gateway_api_v1beta1(objects: ObjectClient) -> GatewayAPIRouter:
    return GatewayAPIRouter(objects, V1BETA1)


# the spec


def route_spec(canary: Canary, routes: Routes, flavour: Flavour, sticky: bool) -> dict[str, Any]:
    """The HTTPRoute spec for these weights. `sticky`: with the session-affinity rules built
    from the cookies in the Canary's status (set_routes), or without them (reconcile)."""
    service, analysis = canary.spec.service, canary.spec.analysis
    matches = translate_matches(service.match) or [copy.deepcopy(DEFAULT_MATCH)]
    weighted = _rule(canary, matches, flavour, _backends(canary, routes))
    if routes.mirrored and (analysis.iterations or 0) > 0:
        mirror = _mirror_filter(canary.spec.service_name + CANARY_SUFFIX, service.port)
        weighted["filters"] = [*weighted.get("filters", []), mirror]
    rules = [weighted]
    if sticky and analysis.session_affinity is not None:
        rules = _session_rules(canary, routes.canary_weight, weighted, flavour)
    if analysis.match:
        rules[0]["matches"] = merge_matches(translate_matches(analysis.match), matches)
        primary_only = [_backend(canary.spec.service_name + PRIMARY_SUFFIX, 100, service.port)]
        rules.append(_rule(canary, matches, flavour, primary_only))
    spec: dict[str, Any] = {"parentRefs": _parent_refs(canary)}
    if service.hosts:
        spec["hostnames"] = list(service.hosts)
    spec["rules"] = rules
    return spec


def _rule(
    canary: Canary, matches: list[Match], flavour: Flavour, backends: list[dict[str, Any]]
) -> Rule:
    rule: Rule = {"matches": copy.deepcopy(matches)}
    filters = make_filters(canary, flavour)
    if filters:
        rule["filters"] = filters
    rule["backendRefs"] = backends
    timeouts = _timeouts(canary) if flavour.timeouts else None
    if timeouts:
        rule["timeouts"] = timeouts
    return rule


def _backends(canary: Canary, routes: Routes) -> list[dict[str, Any]]:
    apex, port = canary.spec.service_name, canary.spec.service.port
    return [
        _backend(apex + PRIMARY_SUFFIX, routes.primary_weight, port),
        _backend(apex + CANARY_SUFFIX, routes.canary_weight, port),
    ]


def _backend(name: str, weight: int, port: int) -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": name, "port": port, "weight": weight}


def _mirror_filter(name: str, port: int) -> dict[str, Any]:
    reference = {"group": "", "kind": "Service", "name": name, "port": port}
    return {"type": "RequestMirror", "requestMirror": {"backendRef": reference}}


def _parent_refs(canary: Canary) -> list[dict[str, Any]]:
    return [
        ref.model_dump(by_alias=True, exclude_none=True, include=_PARENT_FIELDS)
        for ref in canary.spec.service.gateway_refs
    ]


_PARENT_FIELDS = {"group", "kind", "namespace", "name", "section_name", "port"}


def _timeouts(canary: Canary) -> dict[str, str]:
    service = canary.spec.service
    timeouts = {"request": service.timeout, "backendRequest": service.backend_timeout}
    return {key: value for key, value in timeouts.items() if value}


# matches


def translate_matches(matches: list[dict[str, Any]]) -> list[Match]:
    """Istio-style `match` entries as HTTPRouteMatches; entries that say nothing are skipped."""
    translated = [_translate_match(match) for match in matches]
    return [match for match in translated if match]


def _translate_match(match: dict[str, Any]) -> Match:
    result: Match = {}
    if match.get("uri") is not None:
        result["path"] = _path_match(match["uri"])
    if match.get("method") is not None:
        exact = (match["method"] or {}).get("exact")
        if not exact:
            raise ConfigError(f"Gateway API supports only an exact method match, not {match}")
        result["method"] = exact
    headers = _string_matches(match.get("headers") or {}, "header")
    if headers:
        result["headers"] = headers
    params = _string_matches(match.get("queryParams") or {}, "query")
    if params:
        result["queryParams"] = params
    return result


def _path_match(uri: dict[str, Any]) -> dict[str, str]:
    for key, path_type in (
        ("regex", "RegularExpression"),
        ("exact", "Exact"),
        ("prefix", "PathPrefix"),
    ):
        if (uri or {}).get(key):
            return {"type": path_type, "value": str(uri[key])}
    raise ConfigError(
        f"Gateway API doesn't support the path match {uri}: use exact, prefix or regex"
    )


def _string_matches(matches: dict[str, Any], what: str) -> list[dict[str, str]]:
    result = []
    for name, match in matches.items():
        for key, match_type in _STRING_MATCHES:
            if (match or {}).get(key):
                result.append({"name": str(name), "type": match_type, "value": str(match[key])})
                break
        else:
            raise ConfigError(
                f"Gateway API doesn't support the {what} match {name}: {match} (use exact or regex)"
            )
    return result


def merge_matches(analysis: list[Match], service: list[Match]) -> list[Match]:
    """Each analysis match within each service match: the service's path and method, with the
    analysis' headers and query parameters when it has them."""
    if not analysis:
        return copy.deepcopy(service)
    if not service:
        return copy.deepcopy(analysis)
    merged = []
    for extra in analysis:
        for base in service:
            combined = copy.deepcopy(base)
            for key in ("headers", "queryParams"):
                if extra.get(key):
                    combined[key] = copy.deepcopy(extra[key])
            merged.append(combined)
    return merged


# filters


def make_filters(canary: Canary, flavour: Flavour) -> list[dict[str, Any]]:
    """Header changes, rewrite, mirrors and CORS from `spec.service`, in Flagger's order."""
    service = canary.spec.service
    filters = []
    headers = service.headers or {}
    for side, filter_type in (
        ("request", "RequestHeaderModifier"),
        ("response", "ResponseHeaderModifier"),
    ):
        if headers.get(side) is not None:
            key = filter_type[0].lower() + filter_type[1:]
            filters.append({"type": filter_type, key: _header_filter(headers[side] or {})})
    if service.rewrite is not None:
        filters.append({"type": "URLRewrite", "urlRewrite": _rewrite(service.rewrite)})
    for mirror in service.mirror:
        filters.append({"type": "RequestMirror", "requestMirror": _mirror(mirror, flavour)})
    if flavour.cors and service.cors_policy is not None:
        filters.append({"type": "CORS", "cors": _cors(canary, service.cors_policy)})
    return filters


def _header_filter(operations: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in ("add", "set"):
        pairs = (operations.get(key) or {}).items()
        headers = sorted(({"name": str(n), "value": str(v)} for n, v in pairs), key=_by_name)
        if headers:
            result[key] = headers
    if operations.get("remove"):
        result["remove"] = list(operations["remove"])
    return result


def _by_name(header: dict[str, str]) -> tuple[str, str]:
    return header["name"], header["value"]


def _rewrite(rewrite: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if rewrite.get("authority"):
        result["hostname"] = rewrite["authority"]
    if rewrite.get("uri"):
        if rewrite.get("type") == "ReplacePrefixMatch":
            result["path"] = {"type": "ReplacePrefixMatch", "replacePrefixMatch": rewrite["uri"]}
        else:
            result["path"] = {"type": "ReplaceFullPath", "replaceFullPath": rewrite["uri"]}
    return result


def _mirror(mirror: dict[str, Any], flavour: Flavour) -> dict[str, Any]:
    if not flavour.mirror_refs_copied:
        return copy.deepcopy(mirror)
    reference = mirror.get("backendRef") or {}
    fields = ("group", "kind", "namespace", "name", "port")
    return {"backendRef": {key: reference[key] for key in fields if key in reference}}


def _cors(canary: Canary, policy: dict[str, Any]) -> dict[str, Any]:
    if policy.get("allowOrigins"):
        log.warning(
            "canary %s: corsPolicy.allowOrigins is not supported by Gateway API, "
            "use corsPolicy.allowOrigin instead",
            canary.key,
        )
    cors: dict[str, Any] = {}
    for source, target in (
        ("allowOrigin", "allowOrigins"),
        ("allowMethods", "allowMethods"),
        ("allowHeaders", "allowHeaders"),
        ("exposeHeaders", "exposeHeaders"),
    ):
        if policy.get(source):
            cors[target] = list(policy[source])
    if policy.get("allowCredentials"):
        cors["allowCredentials"] = True
    if policy.get("maxAge"):
        with contextlib.suppress(ValueError):  # Flagger ignores a maxAge it cannot read
            cors["maxAge"] = int(parse_duration(policy["maxAge"]))
    return cors


# session affinity


def _session_rules(
    canary: Canary, canary_weight: int, weighted: Rule, flavour: Flavour
) -> list[Rule]:
    """Sticky rules before the weighted one, from the cookies in the Canary's status."""
    sticky_affinity = canary.spec.analysis.session_affinity
    assert sticky_affinity is not None
    status = canary.status
    if canary_weight == 0:
        return [_expiry_rule(canary, weighted, status.previous_session_affinity_cookie), weighted]
    cookie = status.session_affinity_cookie
    if not cookie:  # never a rule that matches any cookie
        return [weighted]
    apex, port = canary.spec.service_name, canary.spec.service.port
    _add_set_cookie(
        weighted,
        apex + CANARY_SUFFIX,
        affinity.set_cookie(sticky_affinity, cookie, sticky_affinity.effective_max_age),
    )
    rules = [
        _cookie_rule(
            canary,
            weighted,
            cookie,
            [_backend(apex + PRIMARY_SUFFIX, 0, port), _backend(apex + CANARY_SUFFIX, 100, port)],
        )
    ]
    primary_cookie = status.primary_session_affinity_cookie
    if flavour.primary_cookie and sticky_affinity.primary_cookie_name and primary_cookie:
        max_age = affinity.primary_cookie_max_age(canary)
        _add_set_cookie(
            weighted,
            apex + PRIMARY_SUFFIX,
            affinity.set_cookie(sticky_affinity, primary_cookie, max_age),
        )
        to_primary = [
            _backend(apex + PRIMARY_SUFFIX, 100, port),
            _backend(apex + CANARY_SUFFIX, 0, port),
        ]
        rules.append(_cookie_rule(canary, weighted, primary_cookie, to_primary))
    return [*rules, weighted]


def _cookie_rule(
    canary: Canary, weighted: Rule, cookie: str, backends: list[dict[str, Any]]
) -> Rule:
    """A copy of the weighted rule that catches requests carrying `cookie`."""
    rule = {key: copy.deepcopy(value) for key, value in weighted.items() if key != "backendRefs"}
    rule["matches"] = _cookie_matches(canary, cookie)
    rule["backendRefs"] = backends
    return _ordered(rule)


def _expiry_rule(canary: Canary, weighted: Rule, previous: str | None) -> Rule:
    """After a release: holders of its cookie get it back expired."""
    rule = copy.deepcopy(weighted)
    if previous:
        rule["matches"] = _cookie_matches(canary, previous)
        expire = _set_cookie_filter(affinity.expired(previous))
        rule["filters"] = [*rule.get("filters", []), expire]
    return _ordered(rule)


def _cookie_matches(canary: Canary, cookie: str) -> list[Match]:
    header = {
        "type": "RegularExpression",
        "name": affinity.COOKIE_HEADER,
        "value": affinity.cookie_regex(cookie),
    }
    return merge_matches([{"headers": [header]}], translate_matches(canary.spec.service.match))


def _add_set_cookie(rule: Rule, backend_name: str, value: str) -> None:
    for backend in rule["backendRefs"]:
        if backend["name"] == backend_name:
            backend["filters"] = [*backend.get("filters", []), _set_cookie_filter(value)]


def _set_cookie_filter(value: str) -> dict[str, Any]:
    header = {"name": affinity.SET_COOKIE_HEADER, "value": value}
    return {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"add": [header]}}


def _ordered(rule: Rule) -> Rule:
    order = ("matches", "filters", "backendRefs", "timeouts")
    return {key: rule[key] for key in order if key in rule}


def _matches_cookie(rule: Rule, names: list[str]) -> bool:
    return any(
        header.get("type") == "RegularExpression"
        and header.get("name") == affinity.COOKIE_HEADER
        and any(name in str(header.get("value", "")) for name in names)
        for match in rule.get("matches") or []
        for header in match.get("headers") or []
    )


# reading back


def routes_of(canary: Canary, route: Object) -> Routes:
    """The weights in force: the rule that sets the cookie with session affinity, else the
    last rule with both backends; mirrored when a rule mirrors to the canary."""
    apex = canary.spec.service_name
    primary_name, canary_name = apex + PRIMARY_SUFFIX, apex + CANARY_SUFFIX
    weights: dict[str, int] = {}
    cookie_rule_weights: dict[str, int] = {}
    mirrored = False
    for rule in (route.get("spec") or {}).get("rules") or []:
        backends = rule.get("backendRefs") or []
        by_name = {str(b.get("name")): int(b.get("weight") or 0) for b in backends}
        if canary.spec.analysis.session_affinity is not None and any(
            b.get("filters") for b in backends
        ):
            cookie_rule_weights = by_name
        if len(backends) == 2:
            weights = {**weights, **by_name}
        mirrored = mirrored or any(_mirrors_to(f, canary_name) for f in rule.get("filters") or [])
    weights = {**weights, **cookie_rule_weights}
    return Routes(weights.get(primary_name, 0), weights.get(canary_name, 0), mirrored)


def _mirrors_to(route_filter: dict[str, Any], name: str) -> bool:
    if route_filter.get("type") != "RequestMirror":
        return False
    reference = (route_filter.get("requestMirror") or {}).get("backendRef") or {}
    return reference.get("name") == name


def _check_parents_ready(canary: Canary, route: Object) -> None:
    """A Gateway that has not accepted the route's current generation does not route it yet."""
    generation = int((route.get("metadata") or {}).get("generation") or 0)
    parents = ((route.get("status") or {}).get("parents")) or []
    for parent_ref in (route.get("spec") or {}).get("parentRefs") or []:
        for parent in parents:
            if without_empty(parent.get("parentRef") or {}) != without_empty(parent_ref):
                continue
            for condition in parent.get("conditions") or []:
                observed = int(condition.get("observedGeneration") or 0)
                if condition.get("type") == "Accepted" and (
                    condition.get("status") != "True" or observed < generation
                ):
                    status = condition.get("status")
                    raise TemporaryError(
                        f"HTTPRoute {canary.spec.service_name}.{canary.namespace} parent "
                        f"{parent_ref.get('name')} is not ready (status: {status}, "
                        f"observed generation: {observed}, current generation: {generation})"
                    )
