"""The control plane's pure parts: gateway ports, scrape targets, kept logs."""

from __future__ import annotations

import os
from pathlib import Path

from kanaria.platforms.local.controlplane import gateway_ports, kept_logs, scrape_targets
from kanaria.platforms.local.network import Replica, ReplicaPort
from kanaria.spec.objects import GATEWAY


def gateway(*ports: int) -> dict[str, object]:
    servers = [
        {"port": {"number": port, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}
        for port in ports
    ]
    return GATEWAY.new("istio-system", "public-gateway", spec={"servers": servers})


def test_gateway_port_80_goes_to_the_configured_port_and_others_stay_unprivileged() -> None:
    assert gateway_ports([gateway(80, 443, 8443)], 18080) == {80: 18080, 443: 8443, 8443: 8443}
    assert gateway_ports([], 18080) == {}


def replica(name: str, ready: bool = True, **annotations: str) -> Replica:
    return Replica(
        "test",
        name,
        "podinfo",
        "127.128.0.9",
        ports=(ReplicaPort("http", 9898), ReplicaPort("http-metrics", 9797)),
        labels={"app": "podinfo", "pod-template-hash": "abc"},
        annotations=annotations,
        ready=ready,
    )


def test_scrape_targets_follow_kubernetes_pod_annotations() -> None:
    targets = scrape_targets(
        [
            replica(
                "by-annotation", **{"prometheus.io/scrape": "true", "prometheus.io/port": "9898"}
            ),
            replica("by-port-name", **{"prometheus.io/scrape": "true"}),
            replica("unready", ready=False, **{"prometheus.io/scrape": "true"}),
            replica("not-asked"),
        ]
    )
    assert [target.address for target in targets] == ["127.128.0.9:9898", "127.128.0.9:9797"]
    assert targets[0].labels == {
        "app": "podinfo",
        "pod_template_hash": "abc",
        "kubernetes_namespace": "test",
        "kubernetes_pod_name": "by-annotation",
    }


def test_kept_logs_are_the_deployment_s_own_newest_first(tmp_path: Path) -> None:
    for index, name in enumerate(
        [
            "podinfo-7569595dbc-aaaaa.log",
            "podinfo-7569595dbc-bbbbb.log",
            "podinfo-7569595dbc-bbbbb.previous.log",
            "podinfo-primary-5d8f-ccccc.log",
        ]
    ):
        path = tmp_path / name
        path.write_text(name)
        os.utime(path, (1000 + index, 1000 + index))
    assert kept_logs(tmp_path, "podinfo") == [
        ("podinfo-7569595dbc-bbbbb", tmp_path / "podinfo-7569595dbc-bbbbb.log"),
        ("podinfo-7569595dbc-aaaaa", tmp_path / "podinfo-7569595dbc-aaaaa.log"),
    ]
    assert [name for name, _ in kept_logs(tmp_path, "podinfo-primary")] == [
        "podinfo-primary-5d8f-ccccc"
    ]
    assert kept_logs(tmp_path / "absent", "podinfo") == []
