"""The local platform's network: loopback addresses for Services and replicas, and their names.

A cluster gives every Service a ClusterIP and every pod an IP, and DNS names both. On one
machine the whole 127.0.0.0/8 block is loopback, so kanaria does the same with it:

* **Service VIPs** come from 127.96.0.0/16 and are written into the Service's `spec.clusterIP`
  when it is stored (`ServiceAddresses.admit`, a store admission hook), as the API server does;
  they never change for the life of the Service, and survive control plane restarts because
  they live in the object. Envoy listens on VIP:port for each Service port.
* **Pod IPs** come from 127.128.0.0/16 (`PodAddresses`); the workload runtime takes one per
  replica and passes it as `$POD_IP`, so every replica binds its real ports on its own address.
* **Names**: `NameTable` maps `name`, `name.ns`, `name.ns.svc` and `name.ns.svc.cluster.local`
  to VIPs. kanaria's own aiohttp clients (webhooks, the engine) resolve through
  `ServiceResolver`; commands the load tester runs see the same table in a hosts file per
  namespace (`hosts_file(namespace)`), bound over /etc/hosts in their mount namespace.
  Unknown names are errors, never a fall-back to real DNS: traffic stays on loopback.
* **Replicas**: the workload runtime reports each replica (address, ports, readiness) into a
  `ReplicaTable`; the control plane turns ready ones into the mesh's endpoints and into
  Prometheus scrape targets.
"""

from __future__ import annotations

import ipaddress
import socket
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp.abc import AbstractResolver, ResolveResult

from kanaria.errors import PermanentError
from kanaria.platforms.local.state import write_atomically
from kanaria.spec.objects import Object

SERVICE_NETWORK = ipaddress.IPv4Network("127.96.0.0/16")
POD_NETWORK = ipaddress.IPv4Network("127.128.0.0/16")
CLUSTER_DOMAIN = "svc.cluster.local"
_LOCALHOST_LINES = (
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
)


def _usable(network: ipaddress.IPv4Network) -> Iterable[str]:
    """Addresses of a block, without the .0 and .255 ones that look like network/broadcast."""
    for address in network.hosts():
        if address.packed[-1] not in (0, 255):
            yield str(address)


class _Pool:
    """Lowest-free allocation from one block, with an owner per address."""

    def __init__(self, network: ipaddress.IPv4Network) -> None:
        self.network = network
        self.owners: dict[str, str] = {}

    def take(self, owner: str, wanted: str | None = None) -> str:
        for address, holder in self.owners.items():
            if holder == owner:
                return address
        if wanted and self.contains(wanted) and wanted not in self.owners:
            self.owners[wanted] = owner
            return wanted
        for address in _usable(self.network):
            if address not in self.owners:
                self.owners[address] = owner
                return address
        raise PermanentError(f"no free address left in {self.network}")

    def contains(self, address: str) -> bool:
        try:
            return ipaddress.IPv4Address(address) in self.network
        except ValueError:
            return False

    def release(self, address: str) -> None:
        self.owners.pop(address, None)


def block_for(state_root: Path) -> int:
    """A /24 block number (1-254) that a state dir keeps across restarts."""
    return zlib.crc32(str(state_root).encode()) % 254 + 1


def _subnet(network: ipaddress.IPv4Network, block: int | None) -> ipaddress.IPv4Network:
    if block is None:
        return network
    return list(network.subnets(new_prefix=24))[block]


# ---- Service VIPs ----------------------------------------------------------------------------


class ServiceAddresses:
    """Gives each Service a VIP from 127.96.0.0/16 (or one /24 of it) and keeps it for the
    Service's life."""

    def __init__(self, network: ipaddress.IPv4Network = SERVICE_NETWORK) -> None:
        self._pool = _Pool(network)

    def admit(self, obj: Object, current: Object | None) -> None:
        """Store admission hook: fill in `spec.clusterIP` on create, keep it on update."""
        if obj.get("kind") != "Service" or obj.get("apiVersion") != "v1":
            return
        spec = obj.setdefault("spec", {})
        kept = ((current or {}).get("spec") or {}).get("clusterIP")
        if spec.get("clusterIP") == "None" or (kept == "None" and "clusterIP" not in spec):
            spec["clusterIP"] = "None"  # headless: no VIP, as in Kubernetes
            return
        owner = _owner(obj)
        spec["clusterIP"] = self._pool.take(owner, kept or spec.get("clusterIP"))

    def sync(self, services: Iterable[Object]) -> None:
        """Forget the VIPs of Services that no longer exist; remember those of stored ones."""
        present = {_owner(service): _cluster_ip(service) for service in services}
        for address, owner in list(self._pool.owners.items()):
            if present.get(owner) != address:
                self._pool.release(address)
        for owner, vip in present.items():
            if vip and self._pool.contains(vip):
                self._pool.take(owner, vip)


def _owner(obj: Object) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace') or 'default'}/{metadata.get('name', '')}"


def _cluster_ip(service: Object) -> str | None:
    address = (service.get("spec") or {}).get("clusterIP")
    return str(address) if address and address != "None" else None


# ---- pod IPs ---------------------------------------------------------------------------------


class PodAddresses:
    """Loopback addresses for replicas, from 127.128.0.0/16.

    `take("test/podinfo-abc12")` gives the replica its address (the same one again if it asks
    twice); `release` returns it when the replica is gone. After a control plane restart,
    `take(owner, wanted=old_ip)` re-claims the address of a replica that kept running.
    """

    def __init__(self, network: ipaddress.IPv4Network = POD_NETWORK) -> None:
        self._pool = _Pool(network)

    def take(self, owner: str, wanted: str | None = None) -> str:
        return self._pool.take(owner, wanted)

    def release(self, address: str) -> None:
        self._pool.release(address)

    def owned(self) -> dict[str, str]:
        return dict(self._pool.owners)


# ---- names -----------------------------------------------------------------------------------


class NameTable:
    """Service names → VIPs, rebuilt from the stored Services whenever they change."""

    def __init__(self) -> None:
        self._vips: dict[tuple[str, str], str] = {}

    def update(self, services: Iterable[Object]) -> bool:
        """Take the Services' VIPs; True when something changed."""
        table = {}
        for service in services:
            metadata = service.get("metadata") or {}
            address = _cluster_ip(service)
            if address:
                table[(str(metadata.get("namespace") or "default"), str(metadata["name"]))] = (
                    address
                )
        changed = table != self._vips
        self._vips = table
        return changed

    def services(self) -> dict[tuple[str, str], str]:
        """(namespace, name) → VIP."""
        return dict(self._vips)

    def lookup(self, host: str, namespace: str | None = None) -> str | None:
        """The VIP of a Service name as a pod in `namespace` would resolve it.

        A bare name is looked up in `namespace`; without one, in the only namespace that has
        a Service of that name.
        """
        parts = host.lower().rstrip(".").split(".")
        if parts[2:] in (["svc"], CLUSTER_DOMAIN.split(".")):
            parts = parts[:2]
        if len(parts) == 2:
            return self._vips.get((parts[1], parts[0]))
        if len(parts) != 1:
            return None
        if namespace is not None:
            return self._vips.get((namespace, parts[0]))
        found = [vip for (_, name), vip in self._vips.items() if name == parts[0]]
        return found[0] if len(found) == 1 else None

    def hosts_text(self, namespace: str | None) -> str:
        """A hosts file: localhost, every Service's qualified names, and the bare names of
        `namespace`'s Services."""
        lines = list(_LOCALHOST_LINES)
        for (service_namespace, name), vip in sorted(self._vips.items()):
            names = [f"{name}.{service_namespace}.{CLUSTER_DOMAIN}"]
            names += [f"{name}.{service_namespace}.svc", f"{name}.{service_namespace}"]
            if service_namespace == namespace:
                names.append(name)
            lines.append(f"{vip}\t{' '.join(names)}")
        return "\n".join(lines) + "\n"


class ServiceResolver(AbstractResolver):
    """aiohttp name resolution through the platform's Services, loopback only.

    `aiohttp.TCPConnector(resolver=network.resolver("test"))` lets kanaria's own clients call
    `http://flagger-loadtester.test/` or `http://podinfo-canary:9898/` as a pod in namespace
    `test` would. IP literals and `localhost` resolve to themselves; other names fail with
    `OSError`, which aiohttp reports as a connection error naming the host.
    """

    def __init__(self, table: NameTable, namespace: str | None = None) -> None:
        self.table = table
        self.namespace = namespace

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.address_of(host)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    def address_of(self, host: str) -> str:
        if host.lower() in ("localhost", "localhost."):
            return "127.0.0.1"
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if not literal.is_loopback:
                raise OSError(f"{host}: the local platform only reaches loopback addresses")
            return str(literal)
        address = self.table.lookup(host, self.namespace)
        if address is None:
            raise OSError(f"{host}: no such Service on the local platform")
        return address

    async def close(self) -> None:
        return None


class HostsFiles:
    """One hosts file per namespace under the state dir, rewritten (atomically) on change."""

    def __init__(self, folder: Path, table: NameTable) -> None:
        self.folder = folder
        self.table = table
        self._namespaces: set[str] = set()

    def path(self, namespace: str) -> Path:
        """The hosts file for commands run in `namespace`; created if it does not exist yet."""
        path = self.folder / namespace
        if namespace not in self._namespaces or not path.exists():
            self._namespaces.add(namespace)
            self._write(namespace)
        return path

    def refresh(self, namespaces: Iterable[str] = ()) -> None:
        self._namespaces.update(namespaces)
        for namespace in sorted(self._namespaces):
            self._write(namespace)

    def refresh_missing(self, namespaces: Iterable[str]) -> None:
        """Write the files of namespaces that have none yet."""
        for namespace in namespaces:
            self.path(namespace)

    def _write(self, namespace: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.folder / namespace, self.table.hosts_text(namespace))


# ---- replicas --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaPort:
    name: str
    port: int


@dataclass(frozen=True)
class Replica:
    """One running replica of a Deployment, as the workload runtime reports it.

    `workload` is the Deployment's name (Istio's `destination_workload`); `name` is the
    replica's own ("podinfo-5d8f-x7k2p"); `ip` is the address from `PodAddresses`; `ports` are
    the container's ports as it listens on `ip`; `labels` and `annotations` are the pod
    template's (Service selectors, DestinationRule subsets and `prometheus.io/*` read them).
    """

    namespace: str
    name: str
    workload: str
    ip: str
    ports: tuple[ReplicaPort, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    ready: bool = False
    pid: int | None = None
    log_path: Path | None = None


class ReplicaRegistry(Protocol):
    """What the control plane needs from the workload runtime about running replicas."""

    def replicas(self) -> Sequence[Replica]:
        """Every replica that runs now, ready or not."""

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on the event loop, without awaiting) after every change."""


class ReplicaTable:
    """A `ReplicaRegistry` the workload runtime fills: `put` on start and readiness changes,
    `remove` when a replica is gone. Listeners run synchronously and must only schedule work."""

    def __init__(self) -> None:
        self._replicas: dict[tuple[str, str], Replica] = {}
        self._listeners: list[Callable[[], None]] = []

    def replicas(self) -> Sequence[Replica]:
        return [self._replicas[key] for key in sorted(self._replicas)]

    def on_change(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def put(self, replica: Replica) -> None:
        key = (replica.namespace, replica.name)
        if self._replicas.get(key) != replica:
            self._replicas[key] = replica
            self._notify()

    def remove(self, namespace: str, name: str) -> None:
        if self._replicas.pop((namespace, name), None) is not None:
            self._notify()

    def of_workload(self, namespace: str, workload: str) -> list[Replica]:
        return [r for r in self.replicas() if (r.namespace, r.workload) == (namespace, workload)]

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()


def selected(
    replicas: Iterable[Replica], namespace: str, selector: Mapping[str, Any]
) -> list[Replica]:
    """The replicas a Service selector picks (an empty selector picks none, as in Kubernetes)."""
    if not selector:
        return []
    return [
        replica
        for replica in replicas
        if replica.namespace == namespace
        and all(replica.labels.get(key) == str(value) for key, value in selector.items())
    ]


class Network:
    """The platform's network in one handle, as the control plane gives it to components.

    With a `block` (1-254), the platform takes only 127.96.<block>.0/24 for VIPs and
    127.128.<block>.0/24 for pods, so that platforms on different state dirs running at the same
    time (tests, a demo beside a platform) do not bind the same address and port.
    """

    def __init__(self, hosts_folder: Path, block: int | None = None) -> None:
        self.services = ServiceAddresses(_subnet(SERVICE_NETWORK, block))
        self.pods = PodAddresses(_subnet(POD_NETWORK, block))
        self.names = NameTable()
        self.hosts = HostsFiles(hosts_folder, self.names)

    def resolver(self, namespace: str | None = None) -> ServiceResolver:
        """An aiohttp resolver that sees Service names as a pod in `namespace` does."""
        return ServiceResolver(self.names, namespace)

    def hosts_file(self, namespace: str) -> Path:
        """The hosts file for commands run in `namespace` (the load tester's `--hosts-file`)."""
        return self.hosts.path(namespace)

    def update_services(self, services: Sequence[Object], namespaces: Iterable[str]) -> bool:
        """Take the stored Services' VIPs into the names and hosts files; True on a change."""
        self.services.sync(services)
        changed = self.names.update(services)
        if changed:
            self.hosts.refresh(namespaces)
        else:
            self.hosts.refresh_missing(namespaces)
        return changed
