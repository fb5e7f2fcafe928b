"""Service VIPs, pod IPs, and how names resolve for kanaria's clients and in hosts files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kanaria.platforms.local.network import (
    HostsFiles,
    NameTable,
    Network,
    PodAddresses,
    Replica,
    ReplicaTable,
    ServiceAddresses,
    ServiceResolver,
    block_for,
    selected,
)
from kanaria.platforms.local.store import SqliteObjects
from kanaria.spec.objects import SERVICE


def service(name: str, namespace: str = "test", **spec: Any) -> dict[str, Any]:
    return SERVICE.new(namespace, name, spec={"ports": [{"port": 80}], **spec})


async def test_services_get_a_vip_that_survives_updates(tmp_path: Path) -> None:
    addresses = ServiceAddresses()
    store = SqliteObjects(tmp_path / "objects.sqlite", admissions=[addresses.admit])
    first = await store.create(service("podinfo"))
    second = await store.create(service("podinfo-canary"))
    assert first["spec"]["clusterIP"] == "127.96.0.1"
    assert second["spec"]["clusterIP"] == "127.96.0.2"
    replaced = await store.replace(service("podinfo", selector={"app": "podinfo"}))
    assert replaced["spec"]["clusterIP"] == "127.96.0.1"
    patched = await store.patch(SERVICE, "test", "podinfo", {"spec": {"clusterIP": "127.96.0.9"}})
    assert patched["spec"]["clusterIP"] == "127.96.0.1"


async def test_vips_are_released_on_sync_and_reclaimed_after_restart(tmp_path: Path) -> None:
    addresses = ServiceAddresses()
    store = SqliteObjects(tmp_path / "objects.sqlite", admissions=[addresses.admit])
    await store.create(service("a"))
    await store.create(service("b"))
    await store.delete(SERVICE, "test", "a")
    addresses.sync(await store.list(SERVICE, None))
    assert (await store.create(service("c")))["spec"]["clusterIP"] == "127.96.0.1"
    restarted = ServiceAddresses()
    restarted.sync(await store.list(SERVICE, None))
    fresh = SqliteObjects(tmp_path / "objects.sqlite", admissions=[restarted.admit])
    assert (await fresh.create(service("d")))["spec"]["clusterIP"] == "127.96.0.3"


def test_headless_services_keep_no_vip() -> None:
    addresses = ServiceAddresses()
    obj = service("db", clusterIP="None")
    addresses.admit(obj, None)
    assert obj["spec"]["clusterIP"] == "None"


def test_foreign_cluster_ips_are_replaced_by_loopback_ones() -> None:
    addresses = ServiceAddresses()
    obj = service("db", clusterIP="10.96.0.10")
    addresses.admit(obj, None)
    assert obj["spec"]["clusterIP"] == "127.96.0.1"


def test_pod_addresses_skip_network_and_broadcast_looking_ones() -> None:
    pods = PodAddresses()
    taken = [pods.take(f"test/p{index}") for index in range(300)]
    assert taken[0] == "127.128.0.1"
    assert "127.128.0.255" not in taken
    assert "127.128.1.0" not in taken
    assert pods.take("test/p0") == taken[0]
    pods.release(taken[0])
    assert pods.take("test/new") == taken[0]
    assert pods.take("test/old", wanted="127.128.9.9") == "127.128.9.9"


def table() -> NameTable:
    names = NameTable()
    names.update(
        [
            service("podinfo-canary", clusterIP="127.96.0.2"),
            service("flagger-loadtester", clusterIP="127.96.0.3"),
            service("podinfo-canary", "prod", clusterIP="127.96.0.4"),
            service("headless", clusterIP="None"),
        ]
    )
    return names


@pytest.mark.parametrize(
    ("host", "namespace", "expected"),
    [
        ("podinfo-canary", "test", "127.96.0.2"),
        ("podinfo-canary", "prod", "127.96.0.4"),
        ("podinfo-canary", None, None),  # ambiguous without a namespace
        ("flagger-loadtester", None, "127.96.0.3"),
        ("flagger-loadtester.test", "prod", "127.96.0.3"),
        ("flagger-loadtester.test.svc", None, "127.96.0.3"),
        ("Flagger-Loadtester.test.svc.cluster.local.", None, "127.96.0.3"),
        ("flagger-loadtester.prod", None, None),
        ("headless.test", None, None),
        ("example.com", None, None),
    ],
)
def test_names_resolve_as_in_a_cluster(host: str, namespace: str | None, expected: str) -> None:
    assert table().lookup(host, namespace) == expected


async def test_resolver_answers_for_services_and_refuses_the_rest() -> None:
    resolver = ServiceResolver(table(), "test")
    (answer,) = await resolver.resolve("podinfo-canary", 9898)
    assert (answer["host"], answer["port"], answer["hostname"]) == (
        "127.96.0.2",
        9898,
        "podinfo-canary",
    )
    assert (await resolver.resolve("localhost", 80))[0]["host"] == "127.0.0.1"
    assert (await resolver.resolve("127.0.0.5", 80))[0]["host"] == "127.0.0.5"
    with pytest.raises(OSError, match="no such Service"):
        await resolver.resolve("example.com", 80)
    with pytest.raises(OSError, match="only reaches loopback"):
        await resolver.resolve("10.0.0.1", 80)


def test_hosts_file_names_every_service_and_the_namespace_s_bare_names(tmp_path: Path) -> None:
    files = HostsFiles(tmp_path / "hosts", table())
    text = files.path("test").read_text()
    assert text.startswith("127.0.0.1\tlocalhost\n")
    assert (
        "127.96.0.2\tpodinfo-canary.test.svc.cluster.local podinfo-canary.test.svc "
        "podinfo-canary.test podinfo-canary\n" in text
    )
    assert "127.96.0.4\tpodinfo-canary.prod.svc.cluster.local podinfo-canary.prod.svc " in text
    assert "podinfo-canary.prod\n" in text
    files.table.update([service("late", clusterIP="127.96.0.7")])
    files.refresh()
    assert "127.96.0.7\tlate.test.svc.cluster.local late.test.svc late.test late\n" in (
        files.path("test").read_text()
    )


def test_replica_table_notifies_on_real_changes_only() -> None:
    replicas = ReplicaTable()
    calls: list[int] = []
    replicas.on_change(lambda: calls.append(1))
    replica = Replica("test", "podinfo-a", "podinfo", "127.128.0.1", labels={"app": "podinfo"})
    replicas.put(replica)
    replicas.put(replica)
    replicas.put(Replica("test", "podinfo-a", "podinfo", "127.128.0.1", ready=True))
    replicas.remove("test", "podinfo-a")
    replicas.remove("test", "podinfo-a")
    assert len(calls) == 3


def test_selectors_pick_replicas_by_labels_in_their_namespace() -> None:
    replicas = [
        Replica("test", "a", "podinfo", "127.128.0.1", labels={"app": "podinfo"}),
        Replica("test", "b", "podinfo-primary", "127.128.0.2", labels={"app": "podinfo-primary"}),
        Replica("prod", "c", "podinfo", "127.128.0.3", labels={"app": "podinfo"}),
    ]
    assert [r.name for r in selected(replicas, "test", {"app": "podinfo"})] == ["a"]
    assert selected(replicas, "test", {}) == []


def test_each_state_dir_takes_its_own_block_of_addresses(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    blocks = {block_for(first), block_for(second)}
    assert len(blocks) == 2, "two state dirs, two blocks (for these names)"
    assert block_for(first) == block_for(first)
    network = Network(tmp_path / "hosts", block_for(first))
    pod = network.pods.take("test/podinfo-1")
    assert pod.startswith(f"127.128.{block_for(first)}.")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo"}}
    network.services.admit(service, None)
    assert service["spec"]["clusterIP"].startswith(f"127.96.{block_for(first)}.")
