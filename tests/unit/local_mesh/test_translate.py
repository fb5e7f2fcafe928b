"""Istio objects as Flagger writes them, translated into the Envoy config the local mesh serves."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.platforms.local.mesh import (
    CLUSTER_NAME_REGEX,
    ClusterKey,
    Endpoint,
    EnvoyResources,
    MeshSnapshot,
    Service,
    ServicePort,
    gateway_server_ports,
    translate,
)
from kanaria.routing import affinity
from kanaria.routing.base import Routes
from kanaria.routing.istio import http_routes
from kanaria.spec.canary import Canary
from tests.support.istio import podinfo_virtual_service

GATEWAY: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1alpha3",
    "kind": "Gateway",
    "metadata": {"name": "public-gateway", "namespace": "istio-system"},
    "spec": {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
    },
}


def service(name: str, vip: str, *endpoints: Endpoint, namespace: str = "test") -> Service:
    return Service(namespace, name, vip, (ServicePort(9898, 9898, "http"),), endpoints)


PRIMARY = Endpoint("podinfo-primary", "127.1.0.1", 9898, labels={"app": "podinfo-primary"})
CANARY = Endpoint("podinfo", "127.1.0.2", 9898, labels={"app": "podinfo"})
SERVICES = (
    service("podinfo", "127.10.0.1", PRIMARY),
    service("podinfo-primary", "127.10.0.2", PRIMARY),
    service("podinfo-canary", "127.10.0.3", CANARY),
)


def snapshot(
    *vss: dict[str, Any], rules: tuple[dict[str, Any], ...] = (), **kw: Any
) -> MeshSnapshot:
    return MeshSnapshot(
        services=kw.pop("services", SERVICES),
        virtual_services=vss,
        destination_rules=rules,
        gateways=kw.pop("gateways", (GATEWAY,)),
        gateway_ports=kw.pop("gateway_ports", {80: 18080}),
    )


def route_config(resources: EnvoyResources, name: str) -> dict[str, Any]:
    return next(r for r in resources.route_configs if r["name"] == name)


def first_route(resources: EnvoyResources, name: str, host: str = "*") -> dict[str, Any]:
    config = route_config(resources, name)
    virtual_host = next(v for v in config["virtual_hosts"] if host in v["domains"])
    route: dict[str, Any] = virtual_host["routes"][0]
    return route


def weights(route: dict[str, Any]) -> dict[str, int]:
    action = route["route"]
    if "cluster" in action:
        return {action["cluster"]: 100}
    return {c["name"]: c["weight"] for c in action["weighted_clusters"]["clusters"]}


PRIMARY_CLUSTER = "test|podinfo-primary|9898||podinfo-primary"
CANARY_CLUSTER = "test|podinfo-canary|9898||podinfo"


class TestListenersAndRoutes:
    def test_one_listener_per_service_port_and_per_gateway_port(self) -> None:
        resources = translate(snapshot(podinfo_virtual_service()))
        addresses = {
            listener["name"]: listener["address"]["socket_address"]
            for listener in resources.listeners
        }
        assert addresses == {
            "mesh|test|podinfo|9898": {"address": "127.10.0.1", "port_value": 9898},
            "mesh|test|podinfo-primary|9898": {"address": "127.10.0.2", "port_value": 9898},
            "mesh|test|podinfo-canary|9898": {"address": "127.10.0.3", "port_value": 9898},
            "gateway|80": {"address": "127.0.0.1", "port_value": 18080},
        }

    def test_weights_reach_the_gateway_and_the_mesh_host(self) -> None:
        resources = translate(snapshot(podinfo_virtual_service(90, 10)))
        expected = {PRIMARY_CLUSTER: 90, CANARY_CLUSTER: 10}
        assert weights(first_route(resources, "gateway|80")) == expected
        assert weights(first_route(resources, "mesh|test|podinfo|9898")) == expected

    def test_a_service_without_virtual_service_routes_to_its_own_endpoints(self) -> None:
        resources = translate(snapshot(podinfo_virtual_service()))
        route = first_route(resources, "mesh|test|podinfo-canary|9898")
        assert weights(route) == {CANARY_CLUSTER: 100}

    def test_gateway_only_binding_leaves_mesh_traffic_to_kubernetes_routing(self) -> None:
        vs = podinfo_virtual_service(gateways=("public-gateway.istio-system.svc.cluster.local",))
        resources = translate(snapshot(vs))
        apex = first_route(resources, "mesh|test|podinfo|9898")
        assert weights(apex) == {"test|podinfo|9898||podinfo-primary": 100}
        assert weights(first_route(resources, "gateway|80"))[CANARY_CLUSTER] == 10

    def test_listeners_do_not_change_when_only_weights_do(self) -> None:
        before = translate(snapshot(podinfo_virtual_service(90, 10)))
        after = translate(snapshot(podinfo_virtual_service(50, 50)))
        assert before.listeners == after.listeners
        assert before.clusters == after.clusters
        assert before.route_configs != after.route_configs

    @pytest.mark.parametrize(
        "host",
        ["podinfo-canary", "podinfo-canary.test", "podinfo-canary.test.svc.cluster.local"],
    )
    def test_destination_hosts_resolve_like_cluster_dns(self, host: str) -> None:
        vs = podinfo_virtual_service()
        vs["spec"]["http"][0]["route"][1]["destination"]["host"] = host
        assert CANARY_CLUSTER in weights(first_route(translate(snapshot(vs)), "gateway|80"))

    def test_gateway_reference_forms(self) -> None:
        for reference in ("istio-system/public-gateway", "public-gateway.istio-system"):
            resources = translate(snapshot(podinfo_virtual_service(gateways=(reference,))))
            assert route_config(resources, "gateway|80")["virtual_hosts"]

    def test_unknown_gateway_binds_nothing(self) -> None:
        resources = translate(snapshot(podinfo_virtual_service(gateways=("nowhere/gw",))))
        assert route_config(resources, "gateway|80")["virtual_hosts"] == []

    def test_short_vs_host_is_served_on_gateway_under_its_fqdn(self) -> None:
        resources = translate(snapshot(podinfo_virtual_service()))
        domains = [v["domains"] for v in route_config(resources, "gateway|80")["virtual_hosts"]]
        assert domains == [["*"], ["podinfo.test.svc.cluster.local"]]

    def test_gateway_server_hosts_narrow_the_virtual_service_hosts(self) -> None:
        gateway = copy.deepcopy(GATEWAY)
        gateway["spec"]["servers"][0]["hosts"] = ["*.example.com"]
        vs = podinfo_virtual_service()
        vs["spec"]["hosts"] = ["app.example.com", "other.org", "*"]
        resources = translate(snapshot(vs, gateways=(gateway,)))
        domains = [v["domains"][0] for v in route_config(resources, "gateway|80")["virtual_hosts"]]
        assert domains == ["*.example.com", "app.example.com"]

    def test_match_clauses_can_be_limited_to_the_mesh(self) -> None:
        vs = podinfo_virtual_service(match=[{"gateways": ["mesh"], "uri": {"prefix": "/api"}}])
        resources = translate(snapshot(vs))
        assert first_route(resources, "mesh|test|podinfo|9898")["match"] == {"prefix": "/api"}
        gateway_hosts = route_config(resources, "gateway|80")["virtual_hosts"]
        assert all(v["routes"] == [] for v in gateway_hosts)

    def test_gateway_ports_to_assign(self) -> None:
        assert gateway_server_ports([GATEWAY]) == {80}

    def test_gateway_port_without_local_port_is_refused(self) -> None:
        with pytest.raises(
            ConfigError, match=r"Gateway istio-system/public-gateway: .*port.number"
        ):
            translate(snapshot(podinfo_virtual_service(), gateway_ports={}))


class TestWeights:
    def test_weights_follow_replicas_when_a_service_spans_workloads(self) -> None:
        mixed = service(
            "mixed",
            "127.10.0.9",
            Endpoint("a", "127.1.0.5", 9898),
            Endpoint("b", "127.1.0.6", 9898),
            Endpoint("b", "127.1.0.7", 9898),
        )
        vs = podinfo_virtual_service()
        vs["spec"]["http"][0]["route"][1]["destination"]["host"] = "mixed"
        route = first_route(translate(snapshot(vs, services=(*SERVICES, mixed))), "gateway|80")
        got = weights(route)
        total = sum(got.values())
        assert got[PRIMARY_CLUSTER] / total == pytest.approx(0.9)
        assert got["test|mixed|9898||a"] / total == pytest.approx(0.1 / 3)
        assert got["test|mixed|9898||b"] / total == pytest.approx(0.2 / 3)

    def test_a_lone_destination_takes_all_traffic(self) -> None:
        vs = podinfo_virtual_service()
        vs["spec"]["http"][0]["route"] = [{"destination": {"host": "podinfo-canary"}}]
        assert weights(first_route(translate(snapshot(vs)), "gateway|80")) == {CANARY_CLUSTER: 100}

    def test_zero_weight_is_kept_so_the_canary_stays_visible(self) -> None:
        route = first_route(translate(snapshot(podinfo_virtual_service(100, 0))), "gateway|80")
        assert weights(route) == {PRIMARY_CLUSTER: 100, CANARY_CLUSTER: 0}

    def test_a_service_without_endpoints_gets_an_empty_cluster(self) -> None:
        empty = service("podinfo-canary", "127.10.0.3")
        resources = translate(snapshot(podinfo_virtual_service(), services=(*SERVICES[:2], empty)))
        cluster = next(c for c in resources.clusters if c["name"] == "test|podinfo-canary|9898||")
        assert cluster["load_assignment"]["endpoints"] == [{"lb_endpoints": []}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda vs: vs["spec"]["http"][0]["route"][1]["destination"].update(host="nope"),
            r"VirtualService test/podinfo: spec.http\[0\].route\[1\].destination.host: "
            r"unknown host 'nope'",
        ),
        (
            lambda vs: [d.update(weight=0) for d in vs["spec"]["http"][0]["route"]],
            r"spec.http\[0\].route: destination weights \[0, 0\] add up to 0",
        ),
        (
            lambda vs: vs["spec"]["http"][0]["route"][0].update(weight=-5),
            r"spec.http\[0\].route\[0\].weight: must be at least 0",
        ),
        (
            lambda vs: vs["spec"]["http"][0]["route"][0].update(weight="90"),
            r"spec.http\[0\].route\[0\].weight: expected an integer",
        ),
        (
            lambda vs: vs["spec"]["http"][0].update(fault={"abort": {}}),
            r"spec.http\[0\].fault: is not supported",
        ),
        (
            lambda vs: vs["spec"]["http"][0]["retries"].update(retryOn="sometimes"),
            r"spec.http\[0\].retries.retryOn: unknown retry condition 'sometimes'",
        ),
        (
            lambda vs: vs["spec"]["http"][0].update(timeout="soon"),
            r"spec.http\[0\].timeout: expected a duration",
        ),
        (
            lambda vs: vs["spec"]["http"][0]["route"][1]["destination"].update(subset="v2"),
            r"destination.subset: no DestinationRule for test/podinfo-canary defines subset 'v2'",
        ),
        (
            lambda vs: vs["spec"]["http"][0]["route"][1]["destination"].update(port={"number": 80}),
            r"destination.port.number: Service test/podinfo-canary has no port 80",
        ),
        (
            lambda vs: vs["spec"].update(hosts=[]),
            r"spec.hosts: needs at least one host",
        ),
    ],
)
def test_invalid_virtual_services_name_object_and_field(change: Any, message: str) -> None:
    vs = podinfo_virtual_service()
    change(vs)
    with pytest.raises(ConfigError, match=message):
        translate(snapshot(vs))


def test_unbound_virtual_services_are_validated_too() -> None:
    vs = podinfo_virtual_service(gateways=("nowhere/gw",))
    vs["spec"]["http"][0]["route"][0]["destination"]["host"] = "nope"
    with pytest.raises(ConfigError, match="unknown host"):
        translate(snapshot(vs))


class TestRouteFeatures:
    def test_retries_from_the_virtual_service(self) -> None:
        policy = first_route(translate(snapshot(podinfo_virtual_service())), "gateway|80")["route"][
            "retry_policy"
        ]
        assert policy["num_retries"] == 3
        assert policy["per_try_timeout"] == "1s"
        assert policy["retry_on"] == "gateway-error,connect-failure,refused-stream"

    def test_status_codes_in_retry_on_become_retriable_codes(self) -> None:
        vs = podinfo_virtual_service(retries={"attempts": 1, "retryOn": "503,504,reset"})
        policy = first_route(translate(snapshot(vs)), "gateway|80")["route"]["retry_policy"]
        assert policy["retry_on"] == "reset,retriable-status-codes"
        assert policy["retriable_status_codes"] == [503, 504]

    def test_zero_attempts_disable_retries_and_none_given_means_istio_default(self) -> None:
        no_retries = first_route(
            translate(snapshot(podinfo_virtual_service(retries={"attempts": 0}))), "gateway|80"
        )
        assert "retry_policy" not in no_retries["route"]
        vs = podinfo_virtual_service()
        del vs["spec"]["http"][0]["retries"]
        default = first_route(translate(snapshot(vs)), "gateway|80")["route"]["retry_policy"]
        assert default["num_retries"] == 2
        assert default["retriable_status_codes"] == [503]

    def test_timeout_defaults_to_none_as_in_istio(self) -> None:
        route = first_route(translate(snapshot(podinfo_virtual_service())), "gateway|80")
        assert route["route"]["timeout"] == "0s"
        timed = first_route(
            translate(snapshot(podinfo_virtual_service(timeout="1m30s"))), "gateway|80"
        )
        assert timed["route"]["timeout"] == "90s"

    def test_matches(self) -> None:
        vs = podinfo_virtual_service(
            match=[
                {
                    "uri": {"regex": "/api/.*"},
                    "headers": {"x-canary": {"exact": "insider"}, "cookie": {"regex": ".*c=1.*"}},
                    "method": {"exact": "GET"},
                    "queryParams": {"debug": {"prefix": "y"}, "flag": {}},
                    "withoutHeaders": {"x-skip": {}},
                    "ignoreUriCase": True,
                },
                {"uri": {"exact": "/token"}},
            ]
        )
        resources = translate(snapshot(vs))
        routes = route_config(resources, "gateway|80")["virtual_hosts"][0]["routes"]
        assert routes[0]["match"] == {
            "safe_regex": {"regex": "/api/.*"},
            "case_sensitive": False,
            "headers": [
                {"name": ":method", "string_match": {"exact": "GET"}},
                {"name": "x-canary", "string_match": {"exact": "insider"}},
                {"name": "cookie", "string_match": {"safe_regex": {"regex": ".*c=1.*"}}},
                {"name": "x-skip", "present_match": True, "invert_match": True},
            ],
            "query_parameters": [
                {"name": "debug", "string_match": {"prefix": "y"}},
                {"name": "flag", "present_match": True},
            ],
        }
        assert routes[1]["match"] == {"path": "/token"}
        assert routes[0]["route"] == routes[1]["route"]

    def test_headers_rewrite_mirror_and_cors(self) -> None:
        vs = podinfo_virtual_service(
            headers={
                "request": {"set": {"x-a": "1"}, "add": {"x-b": 2}, "remove": ["x-c"]},
                "response": {"remove": ["server"]},
            },
            rewrite={"uri": "/v2", "authority": "podinfo.internal"},
            mirror={"host": "podinfo-canary"},
            mirrorPercentage={"value": 12.5},
            corsPolicy={
                "allowOrigins": [{"exact": "https://a.example"}],
                "allowMethods": ["GET", "POST"],
                "maxAge": "24h",
                "allowCredentials": True,
            },
        )
        route = first_route(translate(snapshot(vs)), "gateway|80")
        assert route["request_headers_to_add"] == [
            {"header": {"key": "x-a", "value": "1"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
            {"header": {"key": "x-b", "value": "2"}, "append_action": "APPEND_IF_EXISTS_OR_ADD"},
        ]
        assert route["request_headers_to_remove"] == ["x-c"]
        assert route["response_headers_to_remove"] == ["server"]
        assert route["route"]["prefix_rewrite"] == "/v2"
        assert route["route"]["host_rewrite_literal"] == "podinfo.internal"
        assert route["route"]["request_mirror_policies"] == [
            {
                "cluster": CANARY_CLUSTER,
                "runtime_fraction": {
                    "default_value": {"numerator": 125000, "denominator": "MILLION"}
                },
            }
        ]
        cors = route["typed_per_filter_config"]["envoy.filters.http.cors"]
        assert cors["allow_origin_string_match"] == [{"exact": "https://a.example"}]
        assert cors["allow_methods"] == "GET,POST"
        assert cors["max_age"] == "86400"

    def test_destination_headers_for_session_affinity(self) -> None:
        vs = podinfo_virtual_service()
        vs["spec"]["http"][0]["route"][1]["headers"] = {
            "response": {"add": {"Set-Cookie": "flagger-cookie=abc; Max-Age=21600"}}
        }
        route = first_route(translate(snapshot(vs)), "gateway|80")
        canary = route["route"]["weighted_clusters"]["clusters"][1]
        assert canary["response_headers_to_add"][0]["header"]["key"] == "Set-Cookie"

    def test_redirect_and_direct_response(self) -> None:
        vs = podinfo_virtual_service()
        vs["spec"]["http"] = [
            {
                "match": [{"uri": {"exact": "/old"}}],
                "redirect": {"uri": "/new", "redirectCode": 308},
            },
            {"directResponse": {"status": 418, "body": {"string": "teapot"}}},
        ]
        routes = route_config(translate(snapshot(vs)), "gateway|80")["virtual_hosts"][0]["routes"]
        assert routes[0]["redirect"] == {
            "path_redirect": "/new",
            "response_code": "PERMANENT_REDIRECT",
        }
        assert routes[1]["direct_response"] == {"status": 418, "body": {"inline_string": "teapot"}}


def rule(host: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": host, "namespace": "test"},
        "spec": {"host": host, **spec},
    }


def cluster(resources: EnvoyResources, name: str) -> dict[str, Any]:
    return next(c for c in resources.clusters if c["name"] == name)


class TestDestinationRules:
    def test_flaggers_tls_disable_is_a_no_op(self) -> None:
        plain = translate(snapshot(podinfo_virtual_service()))
        with_rule = translate(
            snapshot(
                podinfo_virtual_service(),
                rules=(rule("podinfo-canary", trafficPolicy={"tls": {"mode": "DISABLE"}}),),
            )
        )
        assert plain == with_rule

    def test_traffic_policy_shapes_the_cluster(self) -> None:
        policy = {
            "connectionPool": {
                "tcp": {"maxConnections": 100, "connectTimeout": "250ms"},
                "http": {"http1MaxPendingRequests": 10, "maxRequestsPerConnection": 5},
            },
            "loadBalancer": {"simple": "ROUND_ROBIN"},
            "outlierDetection": {
                "consecutive5xxErrors": 7,
                "interval": "5s",
                "baseEjectionTime": "30s",
            },
        }
        resources = translate(
            snapshot(
                podinfo_virtual_service(), rules=(rule("podinfo-canary", trafficPolicy=policy),)
            )
        )
        built = cluster(resources, CANARY_CLUSTER)
        thresholds = built["circuit_breakers"]["thresholds"][0]
        assert thresholds["max_connections"] == 100
        assert thresholds["max_pending_requests"] == 10
        assert built["connect_timeout"] == "0.25s"
        assert built["lb_policy"] == "ROUND_ROBIN"
        assert built["outlier_detection"]["consecutive_5xx"] == 7
        assert built["outlier_detection"]["enforcing_consecutive_5xx"] == 100
        options = built["typed_extension_protocol_options"]
        http_options = next(iter(options.values()))
        assert http_options["common_http_protocol_options"]["max_requests_per_connection"] == 5
        # The primary has no rule: Istio's defaults.
        assert cluster(resources, PRIMARY_CLUSTER)["lb_policy"] == "LEAST_REQUEST"

    def test_consistent_hash_by_cookie_goes_on_the_route(self) -> None:
        policy = {"loadBalancer": {"consistentHash": {"httpCookie": {"name": "u", "ttl": "0s"}}}}
        resources = translate(
            snapshot(
                podinfo_virtual_service(), rules=(rule("podinfo-canary", trafficPolicy=policy),)
            )
        )
        assert cluster(resources, CANARY_CLUSTER)["lb_policy"] == "RING_HASH"
        route = first_route(resources, "gateway|80")
        assert route["route"]["hash_policy"] == [{"cookie": {"name": "u", "ttl": "0s"}}]

    def test_subsets_select_endpoints_by_labels(self) -> None:
        both = service("podinfo-all", "127.10.0.8", PRIMARY, CANARY)
        subsets = [
            {"name": "stable", "labels": {"app": "podinfo-primary"}},
            {
                "name": "next",
                "labels": {"app": "podinfo"},
                "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
            },
        ]
        vs = podinfo_virtual_service()
        vs["spec"]["http"][0]["route"] = [
            {"destination": {"host": "podinfo-all", "subset": "stable"}, "weight": 70},
            {"destination": {"host": "podinfo-all", "subset": "next"}, "weight": 30},
        ]
        resources = translate(
            snapshot(vs, services=(*SERVICES, both), rules=(rule("podinfo-all", subsets=subsets),))
        )
        assert weights(first_route(resources, "gateway|80")) == {
            "test|podinfo-all|9898|stable|podinfo-primary": 70,
            "test|podinfo-all|9898|next|podinfo": 30,
        }
        assert cluster(resources, "test|podinfo-all|9898|next|podinfo")["lb_policy"] == "RANDOM"

    @pytest.mark.parametrize(
        ("policy", "message"),
        [
            ({"tls": {"mode": "SIMPLE"}}, r"spec.trafficPolicy.tls.mode: SIMPLE is not supported"),
            ({"loadBalancer": {"simple": "PASSTHROUGH"}}, r"loadBalancer.simple: PASSTHROUGH"),
            (
                {"connectionPool": {"tcp": {"maxConnections": 0}}},
                r"maxConnections: must be at least 1",
            ),
            ({"magic": True}, r"spec.trafficPolicy.magic: is not supported"),
        ],
    )
    def test_invalid_rules_name_object_and_field(self, policy: Any, message: str) -> None:
        bad = rule("podinfo-canary", trafficPolicy=policy)
        with pytest.raises(ConfigError, match=rf"DestinationRule test/podinfo-canary: .*{message}"):
            translate(snapshot(podinfo_virtual_service(), rules=(bad,)))


class TestClusterNames:
    def test_names_carry_the_labels_prometheus_needs(self) -> None:
        key = ClusterKey("test", "podinfo-canary", 9898, "", "podinfo")
        assert key.name == CANARY_CLUSTER
        assert ClusterKey.parse(key.name) == key
        groups = re.fullmatch(CLUSTER_NAME_REGEX, key.name)
        assert groups is not None
        assert groups.groups() == ("test", "podinfo-canary", "9898", "", "podinfo")

    def test_workload_names_with_dots_are_refused(self) -> None:
        dotted = service("svc", "127.10.0.7", Endpoint("my.app", "127.1.0.9", 9898))
        with pytest.raises(ConfigError, match=r"Service test/svc: endpoints: workload name"):
            translate(snapshot(services=(*SERVICES, dotted)))

    def test_two_services_cannot_share_a_vip(self) -> None:
        twin = service("twin", "127.10.0.1")
        with pytest.raises(
            ConfigError, match=r"Service test/twin: vip: 127.10.0.1 is already used"
        ):
            translate(snapshot(services=(*SERVICES, twin)))


def test_service_from_manifest_and_named_target_ports() -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "podinfo-canary", "namespace": "test"},
        "spec": {
            "selector": {"app": "podinfo"},
            "ports": [{"name": "http", "port": 9898, "protocol": "TCP", "targetPort": "http"}],
        },
    }
    endpoint = Endpoint("podinfo", "127.1.0.2", 9898, port_name="http")
    parsed = Service.from_manifest(manifest, "127.10.0.3", [endpoint])
    assert parsed.ports == (ServicePort(9898, "http", "http", "TCP"),)
    assert parsed.endpoints_for(parsed.ports[0]) == [endpoint]


def test_multi_port_service_takes_the_listener_port_in_the_mesh() -> None:
    ports = (ServicePort(9898, 9898, "http"), ServicePort(9797, 9797, "http-metrics"))
    metrics = Endpoint("podinfo", "127.1.0.2", 9797)
    multi = Service("test", "podinfo-canary", "127.10.0.3", ports, (CANARY, metrics))
    vs = podinfo_virtual_service(gateways=("mesh",))
    vs["spec"]["hosts"] = ["podinfo"]
    apex = Service("test", "podinfo", "127.10.0.1", ports, (PRIMARY,))
    resources = translate(snapshot(vs, services=(apex, SERVICES[1], multi)))
    assert weights(first_route(resources, "mesh|test|podinfo|9898"))[CANARY_CLUSTER] == 10
    canary_metrics = first_route(resources, "mesh|test|podinfo-canary|9797")
    assert weights(canary_metrics) == {"test|podinfo-canary|9797||podinfo": 100}


class TestSessionAffinityFromTheRouter:
    """The VirtualService rules the Istio router writes with session affinity, on the local
    Envoy: the cookie's name-and-value match, its Set-Cookie, and the expiry after the release."""

    def rules_at(self, canary: Canary, routes: Routes) -> dict[str, Any]:
        affinity.advance_cookies(canary, routes.canary_weight)
        vs = podinfo_virtual_service()
        vs["spec"]["http"] = http_routes(canary, routes)
        return vs

    def test_the_cookie_rules_translate(self) -> None:
        canary = Canary.model_validate(
            {
                "apiVersion": "flagger.app/v1beta1",
                "kind": "Canary",
                "metadata": {"name": "podinfo", "namespace": "test"},
                "spec": {
                    "targetRef": {"name": "podinfo"},
                    "service": {"port": 9898},
                    "analysis": {
                        "stepWeight": 10,
                        "sessionAffinity": {"cookieName": "flagger-cookie"},
                    },
                },
            }
        )
        during = self.rules_at(canary, Routes(90, 10))
        cookie = str(canary.status.session_affinity_cookie)
        sticky, weighted = first_routes(translate(snapshot(during)), "gateway|80", 2)
        (header,) = sticky["match"]["headers"]
        regex = header["string_match"]["safe_regex"]["regex"]
        assert header["name"] == "cookie"  # Envoy matches header names lower-cased
        assert re.fullmatch(regex, f"theme=dark; {cookie}")
        assert not re.fullmatch(regex, "flagger-cookie=fromAnotherRelease")
        assert weights(sticky) == {PRIMARY_CLUSTER: 0, CANARY_CLUSTER: 100}
        canary_cluster = weighted["route"]["weighted_clusters"]["clusters"][1]
        added = canary_cluster["response_headers_to_add"][0]["header"]
        assert (added["key"], added["value"]) == ("Set-Cookie", f"{cookie}; Max-Age=86400")

        after = self.rules_at(canary, Routes(100, 0))
        expiry, _ = first_routes(translate(snapshot(after)), "gateway|80", 2)
        added = expiry["response_headers_to_add"][0]["header"]
        assert (added["key"], added["value"]) == ("Set-Cookie", f"{cookie}; Max-Age=-1")


def first_routes(resources: EnvoyResources, name: str, count: int) -> list[dict[str, Any]]:
    config = route_config(resources, name)
    virtual_host = next(v for v in config["virtual_hosts"] if "*" in v["domains"])
    return list(virtual_host["routes"][:count])
