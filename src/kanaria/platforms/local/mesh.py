"""Translate Kubernetes Services and Istio networking objects into Envoy xDS resources.

The local platform has no Istio: one Envoy plays both the sidecar mesh and the ingress gateway.
This module is the pure half of that trick. It takes the objects Flagger writes (Services,
VirtualServices, DestinationRules, Gateways) as parsed YAML, plus where the platform placed each
replica on loopback, and returns the listeners, clusters and route configurations Envoy needs.
Nothing here touches files or sockets, so every rule can be checked in unit tests.

Three choices shape the output:

* Weights live only in route configurations (RDS), never inline in listeners, because a listener
  update drains old connections slowly and keeps serving old weights on them.
* There is one Envoy cluster per (service, port, subset, workload). Its name carries those parts
  (`test|podinfo-canary|9898||podinfo`) so Prometheus can relabel Envoy's per-cluster stats into
  Istio's `destination_*` labels; two clusters of one workload become two series that `sum()`
  adds up. Names must stay free of dots, which Envoy's stat tag extraction splits on.
* Invalid input raises `ConfigError` naming the object and field, so the control plane can use
  `translate()` as a validating webhook before it stores an object.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kanaria.errors import ConfigError

Manifest = Mapping[str, Any]
Resource = dict[str, Any]

CLUSTER_DOMAIN = "svc.cluster.local"
MESH_GATEWAY = "mesh"
# Istio configures "unlimited" circuit breakers; Envoy's own defaults (1024) would cap load tests.
_UNLIMITED = 4294967295
_MAX_WEIGHT = 4294967295
_MAX_PORT = 65535
# Istio's default retry policy, applied when a route does not say otherwise.
_DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
_DEFAULT_RETRY_ATTEMPTS = 2
_ENVOY_RETRY_ON = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "envoy-ratelimited",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
_REDIRECT_CODES = {
    301: "MOVED_PERMANENTLY",
    302: "FOUND",
    303: "SEE_OTHER",
    307: "TEMPORARY_REDIRECT",
    308: "PERMANENT_REDIRECT",
}
_LB_POLICIES = {
    "ROUND_ROBIN": "ROUND_ROBIN",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "LEAST_CONN": "LEAST_REQUEST",
    "RANDOM": "RANDOM",
}
_NOOP_TLS_MODES = frozenset({"DISABLE", "ISTIO_MUTUAL"})
_HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
_CORS_FILTER = "envoy.filters.http.cors"
_CORS_POLICY_TYPE = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
_PREVIOUS_HOSTS_TYPE = (
    "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
)
_HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


# --------------------------------------------------------------------------------------------
# Input and output
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServicePort:
    """One port of a Service; `target_port` is a container port number or name."""

    port: int
    target_port: int | str
    name: str = ""
    protocol: str = "TCP"


@dataclass(frozen=True)
class Endpoint:
    """One replica of a workload, listening on its own loopback "pod IP".

    `port` is the container port the replica listens on; `port_name` lets a named `targetPort`
    find it. `labels` are the pod's labels, needed only for DestinationRule subsets.
    """

    workload: str
    ip: str
    port: int
    port_name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    """A Kubernetes Service as the local platform runs it: a loopback virtual IP and endpoints."""

    namespace: str
    name: str
    vip: str
    ports: tuple[ServicePort, ...]
    endpoints: tuple[Endpoint, ...] = ()

    @classmethod
    def from_manifest(
        cls, manifest: Manifest, vip: str, endpoints: Iterable[Endpoint] = ()
    ) -> Service:
        """Read a `v1/Service` manifest; the platform supplies the VIP and the endpoints."""
        where = _Where.of("Service", manifest)
        ports = []
        for index, raw in enumerate(_list(manifest, ("spec", "ports"), where)):
            path = f"spec.ports[{index}]"
            port = _int(raw.get("port"), where, f"{path}.port")
            target = raw.get("targetPort", port)
            if not isinstance(target, int | str) or isinstance(target, bool):
                raise where.error(f"{path}.targetPort", "expected a port number or name")
            protocol = str(raw.get("protocol", "TCP"))
            ports.append(ServicePort(port, target, str(raw.get("name", "")), protocol))
        if not ports:
            raise where.error("spec.ports", "a Service needs at least one port")
        return cls(where.namespace, where.name, vip, tuple(ports), tuple(endpoints))

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.{CLUSTER_DOMAIN}"

    def endpoints_for(self, service_port: ServicePort) -> list[Endpoint]:
        """The endpoints behind one port, matching `targetPort` by number or by name."""
        target = service_port.target_port
        if isinstance(target, int):
            return [e for e in self.endpoints if e.port == target]
        return [e for e in self.endpoints if e.port_name == target]


@dataclass(frozen=True)
class MeshSnapshot:
    """Everything the data plane depends on, at one moment.

    `gateway_ports` maps an Istio Gateway server port (80) to the local port Envoy listens on
    for it (127.0.0.1:18080); every HTTP server port of every Gateway needs an entry.
    """

    services: tuple[Service, ...] = ()
    virtual_services: tuple[Manifest, ...] = ()
    destination_rules: tuple[Manifest, ...] = ()
    gateways: tuple[Manifest, ...] = ()
    gateway_ports: Mapping[int, int] = field(default_factory=dict)
    gateway_address: str = "127.0.0.1"


@dataclass(frozen=True)
class EnvoyResources:
    """Envoy v3 resources as plain dicts, ready to be written as xDS files.

    Listeners name their route configuration (`rds.route_config_name`) but leave its
    `config_source` out: where the RDS files live is the Envoy process's business.
    """

    listeners: tuple[Resource, ...]
    clusters: tuple[Resource, ...]
    route_configs: tuple[Resource, ...]


@dataclass(frozen=True)
class ClusterKey:
    """What one Envoy cluster stands for; its name is what Prometheus relabels into Istio labels."""

    namespace: str
    service: str
    port: int
    subset: str
    workload: str

    @property
    def name(self) -> str:
        return f"{self.namespace}|{self.service}|{self.port}|{self.subset}|{self.workload}"

    @classmethod
    def parse(cls, name: str) -> ClusterKey:
        match = CLUSTER_NAME_PATTERN.fullmatch(name)
        if match is None:
            raise ValueError(f"not a kanaria cluster name: {name!r}")
        namespace, service, port, subset, workload = match.groups()
        return cls(namespace, service, int(port), subset, workload)


# Group order: namespace, service, port, subset, workload. prometheus.py relabels with it.
CLUSTER_NAME_REGEX = r"([^|]+)\|([^|]+)\|([0-9]+)\|([^|]*)\|([^|]*)"
CLUSTER_NAME_PATTERN = re.compile(CLUSTER_NAME_REGEX)


def gateway_server_ports(gateways: Iterable[Manifest]) -> set[int]:
    """The Gateway server ports that need a local port in `MeshSnapshot.gateway_ports`."""
    ports = set()
    for gateway in gateways:
        where = _Where.of("Gateway", gateway)
        for index, server in enumerate(_list(gateway, ("spec", "servers"), where)):
            port = _dict(server.get("port"), where, f"spec.servers[{index}].port")
            path = f"spec.servers[{index}].port.number"
            number = _int(port.get("number"), where, path, minimum=1)
            if number > _MAX_PORT:
                raise where.error(path, f"{number} is not a port number (1-{_MAX_PORT})")
            ports.add(number)
    return ports


def translate(snapshot: MeshSnapshot) -> EnvoyResources:
    """Build the Envoy configuration for a snapshot, or raise `ConfigError` on invalid input."""
    index = _Index.build(snapshot)
    clusters = _Clusters(index)
    listeners: list[Resource] = []
    routes: list[Resource] = []
    for service in sorted(snapshot.services, key=lambda s: (s.namespace, s.name)):
        for service_port in service.ports:
            if service_port.protocol.upper() != "TCP":
                continue  # UDP and SCTP ports have no HTTP listener
            listener, route_config = _mesh_listener(index, clusters, service, service_port)
            listeners.append(listener)
            routes.append(route_config)
    for port in sorted(index.gateway_servers):
        listener, route_config = _gateway_listener(index, clusters, port)
        listeners.append(listener)
        routes.append(route_config)
    for where, vs in index.virtual_services:
        # Check every route, bound or not, so a mistake surfaces when the object is applied.
        _http_routes(vs, _RouteContext(index, clusters, where, gateway=None, port=None))
    return EnvoyResources(tuple(listeners), clusters.resources(), tuple(routes))


# --------------------------------------------------------------------------------------------
# Errors and small readers of untrusted dicts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    """The object an error is about, so every message names kind, namespace and name."""

    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, kind: str, manifest: Manifest) -> _Where:
        metadata = manifest.get("metadata") or {}
        name = str(metadata.get("name") or "")
        namespace = str(metadata.get("namespace") or "default")
        where = cls(kind, namespace, name or "<unnamed>")
        if not name:
            raise where.error("metadata.name", "is required")
        return where

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.kind} {self.namespace}/{self.name}: {path}: {message}")


def _dict(value: Any, where: _Where, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise where.error(path, f"expected a mapping, got {type(value).__name__}")
    return value


def _list(manifest: Manifest, keys: Sequence[str], where: _Where) -> list[Mapping[str, Any]]:
    value: Any = manifest
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    if value is None:
        return []
    path = ".".join(keys)
    if not isinstance(value, list):
        raise where.error(path, f"expected a list, got {type(value).__name__}")
    return [_dict(item, where, f"{path}[{i}]") for i, item in enumerate(value)]


def _items(value: Any, where: _Where, path: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error(path, f"expected a list, got {type(value).__name__}")
    return [_dict(item, where, f"{path}[{i}]") for i, item in enumerate(value)]


def _strings(value: Any, where: _Where, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(path, "expected a list of strings")
    return list(value)


def _int(value: Any, where: _Where, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(path, f"expected an integer, got {value!r}")
    if value < minimum:
        raise where.error(path, f"must be at least {minimum}, got {value}")
    return value


def _only(mapping: Mapping[str, Any], allowed: Iterable[str], where: _Where, path: str) -> None:
    """Refuse fields the local data plane cannot honour instead of silently ignoring them."""
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise where.error(
            f"{path}.{unknown[0]}" if path else unknown[0],
            "is not supported by the local platform",
        )


def _duration(value: Any, where: _Where, path: str) -> str:
    """An Istio/Go duration ("1s", "1.5s", "500ms", "1m30s") as a protobuf duration string."""
    if not isinstance(value, str) or not value:
        raise where.error(path, f"expected a duration such as 1s or 500ms, got {value!r}")
    parts = list(_DURATION_PART.finditer(value))
    if not parts or "".join(p.group(0) for p in parts) != value:
        raise where.error(path, f"expected a duration such as 1s or 500ms, got {value!r}")
    seconds = sum(float(p.group(1)) * _DURATION_UNITS[p.group(2)] for p in parts)
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


# --------------------------------------------------------------------------------------------
# Index: name resolution like Kubernetes DNS and Istio's gateway references
# --------------------------------------------------------------------------------------------


@dataclass
class _Index:
    services: dict[tuple[str, str], Service]
    virtual_services: list[tuple[_Where, Manifest]]
    destination_rules: dict[tuple[str, str], tuple[_Where, Manifest]]
    gateways: dict[tuple[str, str], tuple[_Where, Manifest]]
    gateway_servers: dict[int, list[tuple[_Where, Mapping[str, Any]]]]
    snapshot: MeshSnapshot

    @classmethod
    def build(cls, snapshot: MeshSnapshot) -> _Index:
        index = cls({}, [], {}, {}, {}, snapshot)
        index._add_services(snapshot.services)
        for vs in snapshot.virtual_services:
            where = _Where.of("VirtualService", vs)
            _check_virtual_service(vs, where)
            index.virtual_services.append((where, vs))
        index.virtual_services.sort(key=lambda item: (item[0].namespace, item[0].name))
        for dr in snapshot.destination_rules:
            index._add_destination_rule(dr)
        for gateway in snapshot.gateways:
            index._add_gateway(gateway)
        return index

    def _add_services(self, services: Iterable[Service]) -> None:
        vips: dict[str, str] = {}
        for service in services:
            where = _Where("Service", service.namespace, service.name)
            for part in (service.namespace, service.name):
                if "." in part or "|" in part:
                    raise where.error("metadata", "names must not contain '.' or '|'")
            for endpoint in service.endpoints:
                if "." in endpoint.workload or "|" in endpoint.workload:
                    raise where.error(
                        "endpoints",
                        f"workload name {endpoint.workload!r} contains '.' or '|', which the "
                        "local platform's metrics naming cannot carry",
                    )
            other = vips.setdefault(service.vip, f"{service.namespace}/{service.name}")
            if other != f"{service.namespace}/{service.name}":
                raise where.error("vip", f"{service.vip} is already used by Service {other}")
            self.services[(service.namespace, service.name)] = service

    def _add_destination_rule(self, dr: Manifest) -> None:
        where = _Where.of("DestinationRule", dr)
        spec = _dict(dr.get("spec"), where, "spec")
        _only(
            spec,
            ("host", "trafficPolicy", "subsets", "exportTo", "workloadSelector"),
            where,
            "spec",
        )
        host = spec.get("host")
        if not isinstance(host, str) or not host:
            raise where.error("spec.host", "is required")
        key = self.resolve_host(host, where.namespace)
        if key is None:
            return  # a rule for a host outside the mesh (an external name) has nothing to shape
        # Istio lets the first rule for a host win; sorting makes "first" reproducible.
        current = self.destination_rules.get(key)
        if current is None or (where.namespace, where.name) < (
            current[0].namespace,
            current[0].name,
        ):
            self.destination_rules[key] = (where, dr)

    def _add_gateway(self, gateway: Manifest) -> None:
        where = _Where.of("Gateway", gateway)
        self.gateways[(where.namespace, where.name)] = (where, gateway)
        for i, server in enumerate(_list(gateway, ("spec", "servers"), where)):
            path = f"spec.servers[{i}]"
            port = _dict(server.get("port"), where, f"{path}.port")
            number = _int(port.get("number"), where, f"{path}.port.number", minimum=1)
            protocol = str(port.get("protocol", "HTTP")).upper()
            if protocol not in ("HTTP", "HTTP2", "GRPC"):
                raise where.error(
                    f"{path}.port.protocol", f"{protocol} is not supported (HTTP, HTTP2, GRPC)"
                )
            if server.get("tls"):
                raise where.error(f"{path}.tls", "TLS is not supported by the local platform")
            if number not in self.snapshot.gateway_ports:
                raise where.error(
                    f"{path}.port.number", f"no local port is assigned to gateway port {number}"
                )
            self.gateway_servers.setdefault(number, []).append((where, server))

    def resolve_host(self, host: str, namespace: str) -> tuple[str, str] | None:
        """Find the Service a host names, the way cluster DNS would from `namespace`."""
        labels = host.split(".")
        if len(labels) == 1:
            candidate = (namespace, labels[0])
        elif len(labels) == 2 or (
            len(labels) >= 3 and ".".join(labels[2:]) in ("svc", CLUSTER_DOMAIN)
        ):
            candidate = (labels[1], labels[0])
        else:
            return None
        return candidate if candidate in self.services else None

    def resolve_gateway(self, reference: str, namespace: str) -> tuple[str, str]:
        """`name`, `namespace/name` or `name.namespace.svc.cluster.local`, as Istio reads them."""
        if "/" in reference:
            gateway_namespace, _, name = reference.partition("/")
            return (gateway_namespace, name)
        labels = reference.split(".")
        if len(labels) >= 2:
            return (labels[1], labels[0])
        return (namespace, reference)

    def destination_rule(self, service: Service) -> tuple[_Where, Manifest] | None:
        return self.destination_rules.get((service.namespace, service.name))


def _check_virtual_service(vs: Manifest, where: _Where) -> None:
    spec = _dict(vs.get("spec"), where, "spec")
    _only(spec, ("hosts", "gateways", "http", "exportTo", "tcp", "tls"), where, "spec")
    for unsupported in ("tcp", "tls"):
        if spec.get(unsupported):
            raise where.error(f"spec.{unsupported}", "is not supported by the local platform")
    if not _strings(spec.get("hosts"), where, "spec.hosts"):
        raise where.error("spec.hosts", "needs at least one host")
    _strings(spec.get("gateways"), where, "spec.gateways")


# --------------------------------------------------------------------------------------------
# Clusters: one per (service, port, subset, workload), shaped by the DestinationRule
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Backend:
    """The Envoy clusters behind one destination, with how many replicas each one has."""

    clusters: tuple[tuple[str, int], ...]
    hash_policy: tuple[Resource, ...]

    @property
    def replicas(self) -> int:
        return sum(count for _, count in self.clusters)


class _Clusters:
    """Collects the clusters that routes refer to, creating each one once."""

    def __init__(self, index: _Index) -> None:
        self._index = index
        self._built: dict[str, Resource] = {}

    def resources(self) -> tuple[Resource, ...]:
        return tuple(self._built[name] for name in sorted(self._built))

    def backend(self, service: Service, service_port: ServicePort, subset: str) -> _Backend:
        """The clusters for a destination, grouping its endpoints by workload."""
        rule = self._index.destination_rule(service)
        policy, subset_labels = _effective_policy(rule, subset, service_port.port)
        endpoints = [
            e
            for e in service.endpoints_for(service_port)
            if all(e.labels.get(k) == v for k, v in subset_labels.items())
        ]
        by_workload: dict[str, list[Endpoint]] = {}
        for endpoint in endpoints:
            by_workload.setdefault(endpoint.workload, []).append(endpoint)
        if not by_workload:
            by_workload[""] = []  # an empty cluster: Envoy answers 503, as Istio would
        clusters = []
        for workload in sorted(by_workload):
            key = ClusterKey(service.namespace, service.name, service_port.port, subset, workload)
            if key.name not in self._built:
                self._built[key.name] = _cluster(key.name, by_workload[workload], policy, rule)
            clusters.append((key.name, max(1, len(by_workload[workload]))))
        return _Backend(tuple(clusters), tuple(_hash_policy(policy, rule)))


def _effective_policy(
    rule: tuple[_Where, Manifest] | None, subset: str, port: int
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """Istio's precedence: subset over top level, port-level settings over the rest."""
    if rule is None:
        return {}, {}  # _destination has checked that a named subset exists
    where, manifest = rule
    spec = _dict(manifest.get("spec"), where, "spec")
    policy = _with_port_settings(
        _dict(spec.get("trafficPolicy"), where, "spec.trafficPolicy"),
        port,
        where,
        "spec.trafficPolicy",
    )
    if not subset:
        return policy, {}
    for i, entry in enumerate(_items(spec.get("subsets"), where, "spec.subsets")):
        if entry.get("name") == subset:
            path = f"spec.subsets[{i}]"
            own = _dict(entry.get("trafficPolicy"), where, f"{path}.trafficPolicy")
            policy.update(_with_port_settings(own, port, where, f"{path}.trafficPolicy"))
            labels = _dict(entry.get("labels"), where, f"{path}.labels")
            return policy, {str(k): str(v) for k, v in labels.items()}
    raise where.error("spec.subsets", f"has no subset named {subset!r}")


def _with_port_settings(
    policy: Mapping[str, Any], port: int, where: _Where, path: str
) -> dict[str, Any]:
    sections = ("connectionPool", "loadBalancer", "outlierDetection", "tls")
    _only(policy, (*sections, "portLevelSettings"), where, path)
    merged = {k: v for k, v in policy.items() if k != "portLevelSettings"}
    for i, entry in enumerate(
        _items(policy.get("portLevelSettings"), where, f"{path}.portLevelSettings")
    ):
        entry_path = f"{path}.portLevelSettings[{i}]"
        _only(entry, (*sections, "port"), where, entry_path)
        number = _dict(entry.get("port"), where, f"{entry_path}.port").get("number")
        if number == port:
            merged.update({k: v for k, v in entry.items() if k != "port"})
    return merged


def _cluster(
    name: str,
    endpoints: Sequence[Endpoint],
    policy: Mapping[str, Any],
    rule: tuple[_Where, Manifest] | None,
) -> Resource:
    where = rule[0] if rule else _Where("Cluster", "", name)
    cluster: Resource = {
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": name,
        "type": "STATIC",
        "connect_timeout": "10s",
        "lb_policy": "LEAST_REQUEST",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [_lb_endpoint(e) for e in endpoints]}],
        },
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": _UNLIMITED,
                    "max_pending_requests": _UNLIMITED,
                    "max_requests": _UNLIMITED,
                    "max_retries": _UNLIMITED,
                }
            ]
        },
        # Speak to the replica in the protocol the client used, so gRPC (h2c) passes through.
        "typed_extension_protocol_options": {
            _HTTP_OPTIONS_KEY: {
                "@type": f"type.googleapis.com/{_HTTP_OPTIONS_KEY}",
                "use_downstream_protocol_config": {
                    "http_protocol_options": {},
                    "http2_protocol_options": {},
                },
            }
        },
    }
    _apply_tls(policy, where)
    _apply_connection_pool(
        cluster,
        _dict(policy.get("connectionPool"), where, "spec.trafficPolicy.connectionPool"),
        where,
    )
    _apply_load_balancer(
        cluster, _dict(policy.get("loadBalancer"), where, "spec.trafficPolicy.loadBalancer"), where
    )
    _apply_outlier_detection(
        cluster,
        _dict(policy.get("outlierDetection"), where, "spec.trafficPolicy.outlierDetection"),
        where,
    )
    return cluster


def _lb_endpoint(endpoint: Endpoint) -> Resource:
    address = {"socket_address": {"address": endpoint.ip, "port_value": endpoint.port}}
    return {"endpoint": {"address": address}}


def _apply_tls(policy: Mapping[str, Any], where: _Where) -> None:
    tls = _dict(policy.get("tls"), where, "spec.trafficPolicy.tls")
    mode = str(tls.get("mode", "DISABLE"))
    if mode not in _NOOP_TLS_MODES:
        # Loopback traffic is plaintext; ISTIO_MUTUAL is transparent to apps, so it is a no-op.
        raise where.error(
            "spec.trafficPolicy.tls.mode", f"{mode} is not supported (DISABLE, ISTIO_MUTUAL)"
        )


_TCP_POOL_FIELDS = ("maxConnections", "connectTimeout", "tcpKeepalive", "maxConnectionDuration")
# h2UpgradePolicy, useClientProtocol and maxConcurrentStreams are accepted and have no effect:
# the cluster already speaks whatever protocol the client used.
_HTTP_POOL_FIELDS = (
    "http1MaxPendingRequests",
    "http2MaxRequests",
    "maxRequestsPerConnection",
    "maxRetries",
    "idleTimeout",
    "h2UpgradePolicy",
    "useClientProtocol",
    "maxConcurrentStreams",
)
_HTTP_POOL_LIMITS = (
    ("http1MaxPendingRequests", "max_pending_requests"),
    ("http2MaxRequests", "max_requests"),
    ("maxRetries", "max_retries"),
)


def _apply_connection_pool(cluster: Resource, pool: Mapping[str, Any], where: _Where) -> None:
    path = "spec.trafficPolicy.connectionPool"
    _only(pool, ("tcp", "http"), where, path)
    common: Resource = {}  # Envoy's common HTTP options hold settings from both sections
    _apply_tcp_pool(cluster, common, _dict(pool.get("tcp"), where, f"{path}.tcp"), where)
    _apply_http_pool(cluster, common, _dict(pool.get("http"), where, f"{path}.http"), where)
    if common:
        options = cluster["typed_extension_protocol_options"][_HTTP_OPTIONS_KEY]
        options["common_http_protocol_options"] = common


def _apply_tcp_pool(
    cluster: Resource, common: Resource, tcp: Mapping[str, Any], where: _Where
) -> None:
    path = "spec.trafficPolicy.connectionPool.tcp"
    _only(tcp, _TCP_POOL_FIELDS, where, path)
    if "maxConnections" in tcp:
        limit = _int(tcp["maxConnections"], where, f"{path}.maxConnections", 1)
        cluster["circuit_breakers"]["thresholds"][0]["max_connections"] = limit
    if "connectTimeout" in tcp:
        cluster["connect_timeout"] = _duration(
            tcp["connectTimeout"], where, f"{path}.connectTimeout"
        )
    keepalive = _dict(tcp.get("tcpKeepalive"), where, f"{path}.tcpKeepalive")
    if keepalive:
        options = _keepalive(keepalive, where, f"{path}.tcpKeepalive")
        cluster["upstream_connection_options"] = {"tcp_keepalive": options}
    if "maxConnectionDuration" in tcp:
        common["max_connection_duration"] = _duration(
            tcp["maxConnectionDuration"], where, f"{path}.maxConnectionDuration"
        )


def _apply_http_pool(
    cluster: Resource, common: Resource, http: Mapping[str, Any], where: _Where
) -> None:
    path = "spec.trafficPolicy.connectionPool.http"
    _only(http, _HTTP_POOL_FIELDS, where, path)
    thresholds = cluster["circuit_breakers"]["thresholds"][0]
    for field_name, key in _HTTP_POOL_LIMITS:
        if field_name in http:
            thresholds[key] = _int(http[field_name], where, f"{path}.{field_name}", 0)
    if http.get("maxRequestsPerConnection"):
        common["max_requests_per_connection"] = _int(
            http["maxRequestsPerConnection"], where, f"{path}.maxRequestsPerConnection", 1
        )
    if "idleTimeout" in http:
        common["idle_timeout"] = _duration(http["idleTimeout"], where, f"{path}.idleTimeout")


def _keepalive(keepalive: Mapping[str, Any], where: _Where, path: str) -> Resource:
    _only(keepalive, ("probes", "time", "interval"), where, path)
    result: Resource = {}
    if "probes" in keepalive:
        result["keepalive_probes"] = _int(keepalive["probes"], where, f"{path}.probes", 1)
    for name in ("time", "interval"):
        if name in keepalive:
            seconds = float(_duration(keepalive[name], where, f"{path}.{name}")[:-1])
            result[f"keepalive_{name}"] = max(1, math.ceil(seconds))
    return result


def _apply_load_balancer(cluster: Resource, balancer: Mapping[str, Any], where: _Where) -> None:
    path = "spec.trafficPolicy.loadBalancer"
    # A single locality on one machine makes locality settings meaningless, hence accepted.
    _only(balancer, ("simple", "consistentHash", "localityLbSetting"), where, path)
    if "simple" in balancer:
        simple = str(balancer["simple"])
        if simple == "UNSPECIFIED":
            return
        if simple not in _LB_POLICIES:
            raise where.error(
                f"{path}.simple", f"{simple} is not supported ({', '.join(_LB_POLICIES)})"
            )
        cluster["lb_policy"] = _LB_POLICIES[simple]
    consistent = _dict(balancer.get("consistentHash"), where, f"{path}.consistentHash")
    if consistent:
        cluster["lb_policy"] = "MAGLEV" if "maglev" in consistent else "RING_HASH"
        ring = _dict(consistent.get("ringHash"), where, f"{path}.consistentHash.ringHash")
        size = ring.get("minimumRingSize", consistent.get("minimumRingSize"))
        if size is not None:
            minimum = _int(size, where, f"{path}.consistentHash.minimumRingSize", 1)
            cluster["ring_hash_lb_config"] = {"minimum_ring_size": minimum}


def _hash_policy(policy: Mapping[str, Any], rule: tuple[_Where, Manifest] | None) -> list[Resource]:
    where = rule[0] if rule else _Where("DestinationRule", "", "")
    path = "spec.trafficPolicy.loadBalancer.consistentHash"
    balancer = _dict(policy.get("loadBalancer"), where, "spec.trafficPolicy.loadBalancer")
    consistent = _dict(balancer.get("consistentHash"), where, path)
    _only(
        consistent,
        (
            "httpHeaderName",
            "httpCookie",
            "useSourceIp",
            "httpQueryParameterName",
            "ringHash",
            "maglev",
            "minimumRingSize",
        ),
        where,
        path,
    )
    if "httpHeaderName" in consistent:
        return [{"header": {"header_name": str(consistent["httpHeaderName"])}}]
    if "httpCookie" in consistent:
        cookie = _dict(consistent["httpCookie"], where, f"{path}.httpCookie")
        result: Resource = {"name": str(cookie.get("name", ""))}
        if not result["name"]:
            raise where.error(f"{path}.httpCookie.name", "is required")
        if "path" in cookie:
            result["path"] = str(cookie["path"])
        if "ttl" in cookie:
            result["ttl"] = _duration(cookie["ttl"], where, f"{path}.httpCookie.ttl")
        return [{"cookie": result}]
    if consistent.get("useSourceIp"):
        return [{"connection_properties": {"source_ip": True}}]
    if "httpQueryParameterName" in consistent:
        return [{"query_parameter": {"name": str(consistent["httpQueryParameterName"])}}]
    return []


def _apply_outlier_detection(cluster: Resource, outlier: Mapping[str, Any], where: _Where) -> None:
    path = "spec.trafficPolicy.outlierDetection"
    if not outlier:
        return
    _only(
        outlier,
        (
            "consecutive5xxErrors",
            "consecutiveGatewayErrors",
            "consecutiveErrors",
            "interval",
            "baseEjectionTime",
            "maxEjectionPercent",
            "minHealthPercent",
            "splitExternalLocalOriginErrors",
            "consecutiveLocalOriginFailures",
        ),
        where,
        path,
    )
    # Istio enforces only the detectors the user names, and never success-rate ejection.
    detection: Resource = {
        "enforcing_consecutive_5xx": 0,
        "enforcing_consecutive_gateway_failure": 0,
        "enforcing_success_rate": 0,
        "max_ejection_percent": 10,
    }
    for field_name, key in (
        ("consecutive5xxErrors", "consecutive_5xx"),
        ("consecutiveGatewayErrors", "consecutive_gateway_failure"),
        ("consecutiveErrors", "consecutive_gateway_failure"),
    ):
        if field_name in outlier:
            value = outlier[field_name]
            if isinstance(value, Mapping):  # UInt32Value written as {value: N}
                value = value.get("value")
            detection[key] = _int(value, where, f"{path}.{field_name}")
            detection[f"enforcing_{key}"] = 100 if detection[key] > 0 else 0
    for field_name, key in (("interval", "interval"), ("baseEjectionTime", "base_ejection_time")):
        if field_name in outlier:
            detection[key] = _duration(outlier[field_name], where, f"{path}.{field_name}")
    if "maxEjectionPercent" in outlier:
        detection["max_ejection_percent"] = _int(
            outlier["maxEjectionPercent"], where, f"{path}.maxEjectionPercent"
        )
    if outlier.get("splitExternalLocalOriginErrors"):
        detection["split_external_local_origin_errors"] = True
    if "consecutiveLocalOriginFailures" in outlier:
        detection["consecutive_local_origin_failure"] = _int(
            outlier["consecutiveLocalOriginFailures"],
            where,
            f"{path}.consecutiveLocalOriginFailures",
        )
    cluster["outlier_detection"] = detection
    if "minHealthPercent" in outlier:
        percent = _int(outlier["minHealthPercent"], where, f"{path}.minHealthPercent")
        cluster["common_lb_config"] = {"healthy_panic_threshold": {"value": percent}}


# --------------------------------------------------------------------------------------------
# Listeners
# --------------------------------------------------------------------------------------------


def _mesh_listener(
    index: _Index, clusters: _Clusters, service: Service, service_port: ServicePort
) -> tuple[Resource, Resource]:
    """The listener on a Service's VIP:port: the sidecar view of that one host."""
    name = f"mesh|{service.namespace}|{service.name}|{service_port.port}"
    bound = _mesh_virtual_service(index, service)
    if bound is None:
        routes = [_default_route(clusters, service, service_port)]
    else:
        where, vs = bound
        context = _RouteContext(index, clusters, where, MESH_GATEWAY, service_port.port)
        routes = _http_routes(vs, context)
    virtual_host = {"name": service.fqdn, "domains": ["*"], "routes": routes}
    route_config = {
        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "name": name,
        "virtual_hosts": [virtual_host],
    }
    return _listener(name, service.vip, service_port.port, gateway=False), route_config


def _mesh_virtual_service(index: _Index, service: Service) -> tuple[_Where, Manifest] | None:
    """The VirtualService bound to `mesh` for this host; exact hosts win over wildcards."""
    wildcard: tuple[_Where, Manifest] | None = None
    for where, vs in index.virtual_services:
        if not _bound_to(index, where, vs, MESH_GATEWAY):
            continue
        for host in vs["spec"]["hosts"]:
            if host == "*":
                continue  # Istio only allows the bare wildcard on gateways
            if host.startswith("*."):
                if wildcard is None and service.fqdn.endswith(host[1:]):
                    wildcard = (where, vs)
            elif index.resolve_host(host, where.namespace) == (service.namespace, service.name):
                return (where, vs)
    return wildcard


def _bound_to(index: _Index, where: _Where, vs: Manifest, gateway: str) -> bool:
    gateways = vs["spec"].get("gateways") or [MESH_GATEWAY]
    return any(_same_gateway(index, where, ref, gateway) for ref in gateways)


def _same_gateway(index: _Index, where: _Where, reference: str, gateway: str) -> bool:
    if MESH_GATEWAY in (reference, gateway):
        return reference == gateway
    resolved = index.resolve_gateway(reference, where.namespace)
    return f"{resolved[0]}/{resolved[1]}" == gateway


def _gateway_listener(index: _Index, clusters: _Clusters, port: int) -> tuple[Resource, Resource]:
    """The ingress listener for one Gateway port: virtual hosts from every bound VirtualService."""
    name = f"gateway|{port}"
    domains: dict[str, list[Resource]] = {}
    seen: set[tuple[_Where, str]] = set()
    for gateway_where, server in index.gateway_servers[port]:
        gateway = f"{gateway_where.namespace}/{gateway_where.name}"
        server_hosts = _strings(server.get("hosts"), gateway_where, "spec.servers.hosts")
        for where, vs in index.virtual_services:
            if not _bound_to(index, where, vs, gateway):
                continue
            context = _RouteContext(index, clusters, where, gateway, port)
            vs_domains = [
                domain
                for domain in _gateway_domains(
                    vs["spec"]["hosts"], where, server_hosts, gateway_where
                )
                if (where, domain) not in seen
            ]
            seen.update((where, domain) for domain in vs_domains)
            routes = _http_routes(vs, context) if vs_domains else []
            for domain in vs_domains:
                # Istio merges VirtualServices sharing a host on a gateway, in creation order.
                domains.setdefault(domain, []).extend(routes)
    virtual_hosts = [
        {"name": domain, "domains": [domain], "routes": routes}
        for domain, routes in sorted(domains.items())
    ]
    route_config = {
        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "name": name,
        "virtual_hosts": virtual_hosts,
    }
    address = index.snapshot.gateway_address
    listener = _listener(name, address, index.snapshot.gateway_ports[port], gateway=True)
    return listener, route_config


def _gateway_domains(
    vs_hosts: Sequence[str], where: _Where, server_hosts: Sequence[str], gateway: _Where
) -> list[str]:
    """The Host-header domains a VirtualService serves through one Gateway server."""
    result = []
    for host in vs_hosts:
        fqdn = (
            host if (host == "*" or "." in host) else f"{host}.{where.namespace}.{CLUSTER_DOMAIN}"
        )
        for server_host in server_hosts:
            namespace, _, pattern = server_host.rpartition("/")
            if namespace not in ("", "*") and (
                namespace != where.namespace
                and not (namespace == "." and where.namespace == gateway.namespace)
            ):
                continue
            domain = _intersect(fqdn, pattern)
            if domain is not None and domain not in result:
                result.append(domain)
    return result


def _intersect(host: str, pattern: str) -> str | None:
    """The narrower of two host patterns when one contains the other, else None."""
    if _covers(pattern, host):
        return host
    if _covers(host, pattern):
        return pattern
    return None


def _covers(pattern: str, host: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return pattern == host


def _listener(name: str, address: str, port: int, gateway: bool) -> Resource:
    manager: Resource = {
        "@type": _HCM_TYPE,
        "stat_prefix": name,
        "codec_type": "AUTO",
        "rds": {"route_config_name": name},
        # Host headers carry the listener port on a gateway; Istio matches hosts without it.
        "strip_any_host_port": True,
        "normalize_path": True,
        "use_remote_address": gateway,
        "http_filters": [
            {
                "name": _CORS_FILTER,
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    return {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": name,
        "address": {"socket_address": {"address": address, "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


# --------------------------------------------------------------------------------------------
# HTTP routes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RouteContext:
    index: _Index
    clusters: _Clusters
    where: _Where
    gateway: str | None  # None while only validating: every match clause applies
    port: int | None


_HTTP_ROUTE_FIELDS = (
    "name",
    "match",
    "route",
    "redirect",
    "directResponse",
    "rewrite",
    "timeout",
    "retries",
    "mirror",
    "mirrors",
    "mirrorPercentage",
    "mirrorPercent",
    "mirror_percent",
    "headers",
    "corsPolicy",
)
_MATCH_FIELDS = (
    "name",
    "uri",
    "scheme",
    "method",
    "authority",
    "headers",
    "withoutHeaders",
    "queryParams",
    "port",
    "gateways",
    "ignoreUriCase",
)


def _default_route(clusters: _Clusters, service: Service, service_port: ServicePort) -> Resource:
    """Plain Kubernetes behaviour for a host without a VirtualService: spread over endpoints."""
    backend = clusters.backend(service, service_port, "")
    action = _weighted_action([(backend, 100, {})])
    action["timeout"] = "0s"
    action["retry_policy"] = _retry_policy(
        None, _Where("Service", service.namespace, service.name), ""
    )
    if backend.hash_policy:
        action["hash_policy"] = list(backend.hash_policy)
    return {"name": "default", "match": {"prefix": "/"}, "route": action}


def _http_routes(vs: Manifest, context: _RouteContext) -> list[Resource]:
    routes = []
    for i, http in enumerate(_items(vs["spec"].get("http"), context.where, "spec.http")):
        routes.extend(_http_route(http, f"spec.http[{i}]", context))
    return routes


def _http_route(http: Mapping[str, Any], path: str, context: _RouteContext) -> list[Resource]:
    """One Istio HTTPRoute; each of its match clauses becomes an Envoy route with one action."""
    where = context.where
    _only(http, _HTTP_ROUTE_FIELDS, where, path)
    matches = _items(http.get("match"), where, f"{path}.match") or [{}]
    envoy_matches = []
    for j, match in enumerate(matches):
        envoy_match = _route_match(match, f"{path}.match[{j}]", context)
        if envoy_match is not None:
            envoy_matches.append(envoy_match)
    if not envoy_matches:
        return []
    base: Resource = {"name": str(http.get("name") or f"{where.namespace}/{where.name}/{path}")}
    base.update(_route_action(http, path, context))
    base.update(_header_operations(http.get("headers"), where, f"{path}.headers"))
    cors = _cors(http.get("corsPolicy"), where, f"{path}.corsPolicy")
    if cors:
        base["typed_per_filter_config"] = {_CORS_FILTER: cors}
    return [{**base, "match": envoy_match} for envoy_match in envoy_matches]


def _route_match(match: Mapping[str, Any], path: str, context: _RouteContext) -> Resource | None:
    """An Envoy RouteMatch, or None when the clause is for another gateway or port."""
    where = context.where
    _only(match, _MATCH_FIELDS, where, path)
    gateways = _strings(match.get("gateways"), where, f"{path}.gateways")
    gateway = context.gateway
    if (
        gateway
        and gateways
        and not any(_same_gateway(context.index, where, g, gateway) for g in gateways)
    ):
        return None
    port = _int(match["port"], where, f"{path}.port") if "port" in match else None
    if context.port is not None and port is not None and port != context.port:
        return None
    result: Resource = {}
    uri = _dict(match.get("uri"), where, f"{path}.uri")
    kind, value = _string_match(uri, where, f"{path}.uri") if uri else ("prefix", "/")
    result[{"exact": "path", "prefix": "prefix", "regex": "safe_regex"}[kind]] = (
        {"regex": value} if kind == "regex" else value
    )
    if match.get("ignoreUriCase"):
        result["case_sensitive"] = False
    headers = [
        _header_matcher(f":{name}", match[name], where, f"{path}.{name}", invert=False)
        for name in ("scheme", "method", "authority")
        if name in match
    ]
    for key, invert in (("headers", False), ("withoutHeaders", True)):
        for name, spec in _dict(match.get(key), where, f"{path}.{key}").items():
            headers.append(_header_matcher(name, spec, where, f"{path}.{key}.{name}", invert))
    if headers:
        result["headers"] = headers
    params = []
    for name, spec in _dict(match.get("queryParams"), where, f"{path}.queryParams").items():
        params.append(
            {"name": name, **_present_or_string(spec, where, f"{path}.queryParams.{name}")}
        )
    if params:
        result["query_parameters"] = params
    return result


def _string_match(spec: Mapping[str, Any], where: _Where, path: str) -> tuple[str, str]:
    _only(spec, ("exact", "prefix", "regex"), where, path)
    if len(spec) != 1:
        raise where.error(path, "needs exactly one of exact, prefix, regex")
    ((kind, value),) = spec.items()
    if not isinstance(value, str):
        raise where.error(f"{path}.{kind}", f"expected a string, got {value!r}")
    return kind, value


def _present_or_string(spec: Any, where: _Where, path: str) -> Resource:
    spec = _dict(spec, where, path)
    if not spec:
        return {"present_match": True}
    kind, value = _string_match(spec, where, path)
    return {"string_match": {"safe_regex": {"regex": value}} if kind == "regex" else {kind: value}}


def _header_matcher(name: str, spec: Any, where: _Where, path: str, invert: bool) -> Resource:
    matcher: Resource = {"name": name.lower(), **_present_or_string(spec, where, path)}
    if invert:
        matcher["invert_match"] = True
    return matcher


def _route_action(http: Mapping[str, Any], path: str, context: _RouteContext) -> Resource:
    where = context.where
    if "redirect" in http:
        return {"redirect": _redirect(http["redirect"], where, f"{path}.redirect")}
    if "directResponse" in http:
        return {
            "direct_response": _direct_response(
                http["directResponse"], where, f"{path}.directResponse"
            )
        }
    destinations = _items(http.get("route"), where, f"{path}.route")
    if not destinations:
        raise where.error(f"{path}.route", "needs at least one destination (or a redirect)")
    weights = _weights(destinations, where, f"{path}.route")
    targets = []
    for k, destination in enumerate(destinations):
        dest_path = f"{path}.route[{k}]"
        _only(destination, ("destination", "weight", "headers"), where, dest_path)
        backend = _destination(destination.get("destination"), f"{dest_path}.destination", context)
        headers = _header_operations(destination.get("headers"), where, f"{dest_path}.headers")
        targets.append((backend, weights[k], headers))
    action = _weighted_action(targets)
    action["timeout"] = (
        _duration(http["timeout"], where, f"{path}.timeout") if "timeout" in http else "0s"
    )
    retry = _retry_policy(http.get("retries"), where, f"{path}.retries")
    if retry:
        action["retry_policy"] = retry
    action.update(_rewrite(http.get("rewrite"), where, f"{path}.rewrite"))
    mirrors = _mirrors(http, path, context)
    if mirrors:
        action["request_mirror_policies"] = mirrors
    hash_policy = next((t[0].hash_policy for t in targets if t[0].hash_policy), ())
    if hash_policy:
        action["hash_policy"] = list(hash_policy)
    return {"route": action}


def _weights(destinations: Sequence[Mapping[str, Any]], where: _Where, path: str) -> list[int]:
    """Istio's relative weights: a lone destination gets everything; zero in total is refused."""
    if len(destinations) == 1 and "weight" not in destinations[0]:
        return [100]
    weights = [
        _int(d.get("weight", 0), where, f"{path}[{k}].weight") for k, d in enumerate(destinations)
    ]
    if sum(weights) <= 0:
        raise where.error(path, f"destination weights {weights} add up to 0; no traffic could flow")
    return weights


def _destination(spec: Any, path: str, context: _RouteContext) -> _Backend:
    where = context.where
    destination = _dict(spec, where, path)
    _only(destination, ("host", "subset", "port"), where, path)
    host = destination.get("host")
    if not isinstance(host, str) or not host:
        raise where.error(f"{path}.host", "is required")
    key = context.index.resolve_host(host, where.namespace)
    if key is None:
        raise where.error(f"{path}.host", f"unknown host {host!r}: no such Service in the mesh")
    service = context.index.services[key]
    subset = str(destination.get("subset") or "")
    if subset and subset not in _subset_names(context.index, service):
        raise where.error(
            f"{path}.subset",
            f"no DestinationRule for {service.namespace}/{service.name} defines subset {subset!r}",
        )
    return context.clusters.backend(
        service, _destination_port(service, destination, path, context), subset
    )


def _subset_names(index: _Index, service: Service) -> set[str]:
    rule = index.destination_rule(service)
    if rule is None:
        return set()
    where, manifest = rule
    subsets = _items(
        _dict(manifest.get("spec"), where, "spec").get("subsets"), where, "spec.subsets"
    )
    return {str(entry.get("name")) for entry in subsets}


def _destination_port(
    service: Service, destination: Mapping[str, Any], path: str, context: _RouteContext
) -> ServicePort:
    where = context.where
    port_spec = _dict(destination.get("port"), where, f"{path}.port")
    if "number" in port_spec:
        number = _int(port_spec["number"], where, f"{path}.port.number")
        for service_port in service.ports:
            if service_port.port == number:
                return service_port
        raise where.error(
            f"{path}.port.number",
            f"Service {service.namespace}/{service.name} has no port {number}",
        )
    if len(service.ports) == 1:
        return service.ports[0]
    for service_port in service.ports:
        if context.gateway == MESH_GATEWAY and service_port.port == context.port:
            return service_port
    if context.gateway is None:
        return service.ports[0]  # only validating: the mesh listener will pick its own port
    raise where.error(
        f"{path}.port", f"Service {service.namespace}/{service.name} has several ports; name one"
    )


def _weighted_action(targets: Sequence[tuple[_Backend, int, Resource]]) -> Resource:
    """Spread each destination's weight over its workloads in proportion to their replicas.

    Envoy weights are integers, so when a destination has several workloads every weight is
    scaled by the least common multiple of their replica counts: the split stays exact, no sum
    becomes zero, and the usual one-workload case keeps the VirtualService's own numbers.
    """
    split = [t[0].replicas for t in targets if len(t[0].clusters) > 1]
    scale = math.lcm(*split) if split else 1
    entries: dict[str, Resource] = {}
    for backend, weight, headers in targets:
        for name, replicas in backend.clusters:
            share = weight * scale * replicas // backend.replicas
            entry = entries.setdefault(name, {"name": name, "weight": 0, **headers})
            entry["weight"] += share
    if sum(e["weight"] for e in entries.values()) > _MAX_WEIGHT:
        raise ConfigError("route weights overflow Envoy's 32-bit total; use smaller weights")
    if len(entries) == 1 and not next(iter(entries.values())).keys() - {"name", "weight"}:
        return {"cluster": next(iter(entries))}
    return {"weighted_clusters": {"clusters": list(entries.values())}}


def _retry_policy(retries: Any, where: _Where, path: str) -> Resource | None:
    """Istio's retry settings; without any, Istio's default of two retries applies."""
    spec = _dict(retries, where, path)
    _only(spec, ("attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities"), where, path)
    attempts = _int(spec.get("attempts", _DEFAULT_RETRY_ATTEMPTS), where, f"{path}.attempts")
    if attempts == 0:
        return None
    retry_on = str(spec.get("retryOn") or _DEFAULT_RETRY_ON)
    conditions, codes = [], []
    for token in (t.strip() for t in retry_on.split(",") if t.strip()):
        if token.isdigit():
            codes.append(int(token))
        elif token in _ENVOY_RETRY_ON:
            conditions.append(token)
        else:
            raise where.error(f"{path}.retryOn", f"unknown retry condition {token!r}")
    if codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    if "retriable-status-codes" in conditions and not codes:
        codes = [503]
    policy: Resource = {
        "retry_on": ",".join(conditions),
        "num_retries": attempts,
        # As Istio does: retry on a different replica when there is one.
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {"@type": _PREVIOUS_HOSTS_TYPE},
            }
        ],
        "host_selection_retry_max_attempts": 5,
    }
    if codes:
        policy["retriable_status_codes"] = codes
    if "perTryTimeout" in spec:
        policy["per_try_timeout"] = _duration(spec["perTryTimeout"], where, f"{path}.perTryTimeout")
    return policy


def _rewrite(rewrite: Any, where: _Where, path: str) -> Resource:
    spec = _dict(rewrite, where, path)
    _only(spec, ("uri", "authority", "uriRegexRewrite"), where, path)
    result: Resource = {}
    if "uri" in spec:
        result["prefix_rewrite"] = str(spec["uri"])
    regex = _dict(spec.get("uriRegexRewrite"), where, f"{path}.uriRegexRewrite")
    if regex:
        if "uri" in spec:
            raise where.error(path, "uri and uriRegexRewrite are mutually exclusive")
        result["regex_rewrite"] = {
            "pattern": {"regex": str(regex.get("match", ""))},
            "substitution": str(regex.get("rewrite", "")),
        }
    if "authority" in spec:
        result["host_rewrite_literal"] = str(spec["authority"])
    return result


def _mirrors(http: Mapping[str, Any], path: str, context: _RouteContext) -> list[Resource]:
    """Mirror policies; a destination with several workloads is mirrored to each in proportion."""
    where = context.where
    specs: list[tuple[Any, float, str]] = []
    if "mirror" in http:
        percent = 100.0
        if "mirrorPercentage" in http:
            percent = _percent(
                _dict(http["mirrorPercentage"], where, f"{path}.mirrorPercentage").get("value"),
                where,
                f"{path}.mirrorPercentage.value",
            )
        for legacy in ("mirrorPercent", "mirror_percent"):
            if legacy in http:
                percent = float(_int(http[legacy], where, f"{path}.{legacy}"))
        specs.append((http["mirror"], percent, f"{path}.mirror"))
    for k, entry in enumerate(_items(http.get("mirrors"), where, f"{path}.mirrors")):
        percent = _percent(
            _dict(entry.get("percentage"), where, f"{path}.mirrors[{k}].percentage").get(
                "value", 100.0
            ),
            where,
            f"{path}.mirrors[{k}].percentage.value",
        )
        specs.append((entry.get("destination"), percent, f"{path}.mirrors[{k}].destination"))
    policies = []
    for spec, percent, spec_path in specs:
        backend = _destination(spec, spec_path, context)
        for name, replicas in backend.clusters:
            share = percent * replicas / backend.replicas
            fraction = {"numerator": round(share * 10_000), "denominator": "MILLION"}
            policies.append({"cluster": name, "runtime_fraction": {"default_value": fraction}})
    return policies


def _percent(value: Any, where: _Where, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise where.error(path, f"expected a percentage between 0 and 100, got {value!r}")
    return float(value)


def _redirect(spec: Any, where: _Where, path: str) -> Resource:
    redirect = _dict(spec, where, path)
    _only(redirect, ("uri", "authority", "port", "scheme", "redirectCode"), where, path)
    result: Resource = {}
    if "uri" in redirect:
        result["path_redirect"] = str(redirect["uri"])
    if "authority" in redirect:
        result["host_redirect"] = str(redirect["authority"])
    if "port" in redirect:
        result["port_redirect"] = _int(redirect["port"], where, f"{path}.port", 1)
    if "scheme" in redirect:
        result["scheme_redirect"] = str(redirect["scheme"])
    code = redirect.get("redirectCode", 301)
    if code not in _REDIRECT_CODES:
        raise where.error(
            f"{path}.redirectCode", f"expected one of {sorted(_REDIRECT_CODES)}, got {code!r}"
        )
    result["response_code"] = _REDIRECT_CODES[code]
    return result


def _direct_response(spec: Any, where: _Where, path: str) -> Resource:
    response = _dict(spec, where, path)
    _only(response, ("status", "body"), where, path)
    result: Resource = {"status": _int(response.get("status"), where, f"{path}.status", 100)}
    body = _dict(response.get("body"), where, f"{path}.body")
    _only(body, ("string",), where, f"{path}.body")
    if "string" in body:
        result["body"] = {"inline_string": str(body["string"])}
    return result


def _header_operations(spec: Any, where: _Where, path: str) -> Resource:
    """Istio's request/response header set/add/remove as Envoy's header mutation fields."""
    headers = _dict(spec, where, path)
    _only(headers, ("request", "response"), where, path)
    result: Resource = {}
    for direction in ("request", "response"):
        operations = _dict(headers.get(direction), where, f"{path}.{direction}")
        _only(operations, ("set", "add", "remove"), where, f"{path}.{direction}")
        to_add = [
            _header_value(name, value, action)
            for key, action in (
                ("set", "OVERWRITE_IF_EXISTS_OR_ADD"),
                ("add", "APPEND_IF_EXISTS_OR_ADD"),
            )
            for name, value in _dict(
                operations.get(key), where, f"{path}.{direction}.{key}"
            ).items()
        ]
        if to_add:
            result[f"{direction}_headers_to_add"] = to_add
        remove = _strings(operations.get("remove"), where, f"{path}.{direction}.remove")
        if remove:
            result[f"{direction}_headers_to_remove"] = remove
    return result


def _header_value(name: str, value: Any, action: str) -> Resource:
    return {"header": {"key": name, "value": str(value)}, "append_action": action}


def _cors(spec: Any, where: _Where, path: str) -> Resource | None:
    cors = _dict(spec, where, path)
    if not cors:
        return None
    _only(
        cors,
        (
            "allowOrigin",
            "allowOrigins",
            "allowMethods",
            "allowHeaders",
            "exposeHeaders",
            "maxAge",
            "allowCredentials",
            "unmatchedPreflights",
        ),
        where,
        path,
    )
    origins: list[Resource] = [
        {"exact": origin}
        for origin in _strings(cors.get("allowOrigin"), where, f"{path}.allowOrigin")
    ]
    for k, origin in enumerate(_items(cors.get("allowOrigins"), where, f"{path}.allowOrigins")):
        kind, value = _string_match(origin, where, f"{path}.allowOrigins[{k}]")
        origins.append({"safe_regex": {"regex": value}} if kind == "regex" else {kind: value})
    policy: Resource = {"@type": _CORS_POLICY_TYPE, "allow_origin_string_match": origins}
    for field_name, key in (
        ("allowMethods", "allow_methods"),
        ("allowHeaders", "allow_headers"),
        ("exposeHeaders", "expose_headers"),
    ):
        values = _strings(cors.get(field_name), where, f"{path}.{field_name}")
        if values:
            policy[key] = ",".join(values)
    if "maxAge" in cors:
        seconds = float(_duration(cors["maxAge"], where, f"{path}.maxAge")[:-1])
        policy["max_age"] = str(int(seconds))
    if "allowCredentials" in cors:
        policy["allow_credentials"] = bool(cors["allowCredentials"])
    return policy
