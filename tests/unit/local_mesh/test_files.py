"""The files Envoy and Prometheus read: their layout, versions, and Istio relabelling."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from kanaria.platforms.local.envoy import (
    ISTIO_DURATION_BUCKETS,
    file_version,
    rds_file,
    render_bootstrap,
    render_files,
)
from kanaria.platforms.local.mesh import Endpoint, MeshSnapshot, Service, ServicePort, translate
from kanaria.platforms.local.prometheus import (
    ScrapeTarget,
    istio_relabel_rules,
    render_config,
    render_targets,
)

STATE = Path("/state")


def resources(canary_weight: int) -> Any:
    services = tuple(
        Service("test", name, vip, (ServicePort(9898, 9898),), (Endpoint(workload, ip, 9898),))
        for name, vip, workload, ip in (
            ("podinfo-primary", "127.10.0.2", "podinfo-primary", "127.1.0.1"),
            ("podinfo-canary", "127.10.0.3", "podinfo", "127.1.0.2"),
        )
    )
    vs = {
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "hosts": ["podinfo-primary"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "podinfo-primary"}, "weight": 100 - canary_weight},
                        {"destination": {"host": "podinfo-canary"}, "weight": canary_weight},
                    ]
                }
            ],
        },
    }
    return translate(MeshSnapshot(services=services, virtual_services=(vs,)))


class TestEnvoyFiles:
    def test_one_rds_file_per_route_config_and_listeners_point_at_them(self) -> None:
        files = render_files(resources(10), STATE)
        assert sorted(files) == [
            "cds.json",
            "lds.json",
            "rds/mesh_test_podinfo-canary_9898.json",
            "rds/mesh_test_podinfo-primary_9898.json",
        ]
        listener = json.loads(files["lds.json"])["resources"][0]
        manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
        source = manager["rds"]["config_source"]["path_config_source"]["path"]
        assert source == str(STATE / rds_file(manager["rds"]["route_config_name"]))

    def test_a_weight_change_touches_one_route_file_only(self) -> None:
        before, after = render_files(resources(10), STATE), render_files(resources(20), STATE)
        changed = sorted(name for name in before if before[name] != after[name])
        assert changed == ["rds/mesh_test_podinfo-primary_9898.json"]

    def test_versions_follow_content(self) -> None:
        first, again = render_files(resources(10), STATE), render_files(resources(10), STATE)
        other = render_files(resources(20), STATE)
        name = "rds/mesh_test_podinfo-primary_9898.json"
        assert file_version(first[name]) == file_version(again[name])
        assert file_version(first[name]) != file_version(other[name])

    def test_translation_is_not_mutated_by_rendering(self) -> None:
        translated = resources(10)
        render_files(translated, STATE)
        manager = translated.listeners[0]["filter_chains"][0]["filters"][0]["typed_config"]
        assert "config_source" not in manager["rds"]

    def test_bootstrap_flushes_every_second_with_istio_buckets(self) -> None:
        bootstrap = json.loads(render_bootstrap(STATE))
        assert bootstrap["stats_flush_interval"] == "1s"
        assert bootstrap["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
        buckets = bootstrap["stats_config"]["histogram_bucket_settings"][0]["buckets"]
        assert buckets[:9] == [0.5, 1, 5, 10, 25, 50, 100, 250, 500]
        assert tuple(buckets) == ISTIO_DURATION_BUCKETS


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str]:
    """Prometheus's `replace` action, enough to check our rules without running Prometheus."""
    labels = dict(labels)
    for rule in rules:
        value = ";".join(labels.get(name, "") for name in rule["source_labels"])
        match = re.fullmatch(rule["regex"], value)
        if match is None:
            continue
        result = match.expand(re.sub(r"\$(\d+)", r"\\g<\1>", rule["replacement"]))
        if result:
            labels[rule["target_label"]] = result
        else:
            labels.pop(rule["target_label"], None)
    return labels


class TestIstioRelabelling:
    def test_request_counter_becomes_istio_requests_total(self) -> None:
        series = {
            "__name__": "envoy_cluster_upstream_rq",
            "envoy_cluster_name": "test|podinfo-canary|9898||podinfo",
            "envoy_response_code": "503",
        }
        assert relabel(series, istio_relabel_rules()) == {
            "__name__": "istio_requests_total",
            "destination_workload": "podinfo",
            "destination_workload_namespace": "test",
            "destination_service_name": "podinfo-canary",
            "destination_service_namespace": "test",
            "destination_service": "podinfo-canary.test.svc.cluster.local",
            "reporter": "destination",
            "request_protocol": "http",
            "response_code": "503",
        }

    def test_duration_histogram_keeps_le(self) -> None:
        series = {
            "__name__": "envoy_cluster_upstream_rq_time_bucket",
            "envoy_cluster_name": "test|podinfo-primary|9898||podinfo-primary",
            "le": "500",
        }
        relabelled = relabel(series, istio_relabel_rules())
        assert relabelled["__name__"] == "istio_request_duration_milliseconds_bucket"
        assert relabelled["le"] == "500"
        assert relabelled["destination_workload"] == "podinfo-primary"
        assert "response_code" not in relabelled

    def test_other_envoy_series_pass_unchanged(self) -> None:
        series = {"__name__": "envoy_cluster_upstream_rq_total", "envoy_cluster_name": "x|y|1||z"}
        assert relabel(series, istio_relabel_rules()) == series


class TestPrometheusFiles:
    def test_config_scrapes_envoy_and_apps_every_second(self) -> None:
        config = yaml.safe_load(render_config(STATE))
        assert config["global"]["scrape_interval"] == "1s"
        envoy, apps = config["scrape_configs"]
        assert envoy["metrics_path"] == "/stats/prometheus"
        assert envoy["file_sd_configs"][0]["files"] == ["/state/envoy-targets.json"]
        assert envoy["metric_relabel_configs"] == istio_relabel_rules()
        assert apps["file_sd_configs"][0]["files"] == ["/state/app-targets.json"]

    def test_targets_carry_labels_and_metrics_path(self) -> None:
        targets = [
            ScrapeTarget("127.1.0.1:9797", {"kubernetes_namespace": "test"}),
            ScrapeTarget("127.1.0.2:8080", {}, "/stats"),
        ]
        assert json.loads(render_targets(targets)) == [
            {"targets": ["127.1.0.1:9797"], "labels": {"kubernetes_namespace": "test"}},
            {"targets": ["127.1.0.2:8080"], "labels": {"__metrics_path__": "/stats"}},
        ]
