"""kubectl's output rules: ages, table alignment, describe's fields and its Events table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanaria.cli.describe import (
    align_blocks,
    describe,
    describe_deployment,
    event_interval,
    events_about,
    events_table,
    human_duration,
    table,
    words,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (130, "2m10s"),
        (180, "3m"),
        (599, "9m59s"),
        (39 * 60 + 59, "39m"),
        (179 * 60, "179m"),
        (3 * 3600 + 4 * 60, "3h4m"),
        (5 * 3600, "5h"),
        (30 * 3600, "30h"),
        (53 * 3600, "2d5h"),
        (72 * 3600, "3d"),
        (30 * 86400, "30d"),
        (800 * 86400, "2y70d"),
        (3650 * 86400, "10y"),
    ],
)
def test_ages_read_as_kubectl_prints_them(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_get_tables_pad_columns_by_three() -> None:
    text = table(["NAME", "READY", "AGE"], [["podinfo-primary", "2/2", "5m"], ["x", "0/1", "5s"]])
    assert text.splitlines() == [
        "NAME              READY   AGE",
        "podinfo-primary   2/2     5m",
        "x                 0/1     5s",
    ]


def test_a_line_without_a_tab_ends_an_aligned_block() -> None:
    rows = [["Name:", "podinfo"], ["Namespace:", "test"], ["Spec:"], ["  Long Field Name:", "1"]]
    assert align_blocks(rows, 2) == [
        "Name:       podinfo",
        "Namespace:  test",
        "Spec:",
        "  Long Field Name:  1",
    ]


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("lastTransitionTime", "Last Transition Time"),
        ("apiVersion", "API Version"),
        ("uid", "UID"),
        ("canaryWeight", "Canary Weight"),
        ("httpGet", "Http Get"),
        ("targetRef", "Target Ref"),
        ("prometheus.io/port", "prometheus.io/port"),
        ("p99", "p99"),
    ],
)
def test_field_names_become_words_as_in_kubectl(key: str, label: str) -> None:
    assert words(key) == label


def event(
    message: str, first: str, last: str, count: int = 1, kind: str = "Canary", **extra: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"podinfo.{message[:5]}", "namespace": "test"},
        "involvedObject": {"kind": kind, "name": "podinfo", "namespace": "test"},
        "type": extra.get("type", "Normal"),
        "reason": "Synced",
        "message": message,
        "source": {"component": "flagger"},
        "firstTimestamp": first,
        "lastTimestamp": last,
        "count": count,
    }


def test_repeated_events_fold_with_count_and_span() -> None:
    assert event_interval(event("once", ago(minutes=39), ago(minutes=39)), NOW) == "39m"
    repeated = event("twice", ago(minutes=39), ago(minutes=38), count=2)
    assert event_interval(repeated, NOW) == "38m (x2 over 39m)"
    series = event("series", ago(minutes=32), ago(minutes=32)) | {
        "series": {"count": 4, "lastObservedTime": ago(minutes=29)}
    }
    assert event_interval(series, NOW) == "29m (x4 over 32m)"


def test_events_table_matches_the_seed_s_layout() -> None:
    events = [
        event("all the metrics providers are available!", ago(minutes=39), ago(minutes=38), 2),
        event(
            "podinfo-primary.test not ready",
            ago(minutes=39),
            ago(minutes=39),
            type="Warning",
        ),
        event("Initialization done! podinfo.test", ago(minutes=38), ago(minutes=38)),
    ]
    canary = {"kind": "Canary", "metadata": {"name": "podinfo", "namespace": "test"}}
    lines = events_table(events_about(events, canary), NOW)
    assert lines == [
        "Events:",
        "  Type     Reason  Age                From     Message",
        "  ----     ------  ----               ----     -------",
        "  Warning  Synced  39m                flagger  podinfo-primary.test not ready",
        "  Normal   Synced  38m (x2 over 39m)  flagger  all the metrics providers are available!",
        "  Normal   Synced  38m                flagger  Initialization done! podinfo.test",
    ]


def test_events_of_other_objects_and_older_uids_are_left_out() -> None:
    canary = {"kind": "Canary", "metadata": {"name": "podinfo", "uid": "new"}}
    mine = event("mine", ago(minutes=1), ago(minutes=1))
    other_kind = event("deployment", ago(minutes=1), ago(minutes=1), kind="Deployment")
    old = event("old", ago(minutes=1), ago(minutes=1))
    old["involvedObject"]["uid"] = "old"
    assert events_about([mine, other_kind, old], canary) == [mine]


def test_no_events_reads_none() -> None:
    assert events_table([], NOW) == ["Events:  <none>"]


def test_describe_prints_fields_sorted_and_nested_like_kubectl() -> None:
    canary = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {
            "name": "podinfo",
            "namespace": "test",
            "generation": 1,
            "uid": "abc",
            "labels": {"team": "a", "app": "podinfo"},
        },
        "spec": {"analysis": {"interval": "1m", "threshold": 5}, "service": {"hosts": ["*"]}},
        "status": {
            "canaryWeight": 0,
            "conditions": [{"type": "Promoted", "status": "True"}],
            "phase": "Succeeded",
        },
    }
    text = describe(canary, [], NOW)
    assert text.splitlines() == [
        "Name:         podinfo",
        "Namespace:    test",
        "Labels:       app=podinfo",
        "              team=a",
        "Annotations:  <none>",
        "API Version:  flagger.app/v1beta1",
        "Kind:         Canary",
        "Metadata:",
        "  Generation:  1",
        "  UID:         abc",
        "Spec:",
        "  Analysis:",
        "    Interval:   1m",
        "    Threshold:  5",
        "  Service:",
        "    Hosts:",
        "      *",
        "Status:",
        "  Canary Weight:  0",
        "  Conditions:",
        "    Status:  True",
        "    Type:    Promoted",
        "  Phase:     Succeeded",
        "Events:  <none>",
    ]


def test_deployments_are_described_with_replicas_strategy_template_and_conditions() -> None:
    seed = Path(__file__).parents[3] / "examples" / "seed" / "podinfo.yaml"
    deployment = yaml.safe_load(seed.read_text())
    deployment["spec"]["replicas"] = 2
    deployment["status"] = {
        "replicas": 3,
        "updatedReplicas": 1,
        "availableReplicas": 2,
        "unavailableReplicas": 1,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
        ],
    }
    lines = describe_deployment(deployment, [], NOW).splitlines()
    assert (
        "Replicas:               2 desired | 1 updated | 3 total | 2 available | 1 unavailable"
        in lines
    )
    assert "RollingUpdateStrategy:  1 max unavailable, 25% max surge" in lines
    assert "  Annotations:  prometheus.io/port: 9797" in lines
    assert "    Image:  stefanprodan/podinfo:3.1.0" in lines
    assert (
        "    Readiness:    exec [podcli check http localhost:9898/readyz] delay=5s timeout=5s "
        "period=10s #success=1 #failure=3"
    ) in lines
    assert lines[-4:] == [
        "  Type       Status  Reason",
        "  ----       ------  ------",
        "  Available  True    MinimumReplicasAvailable",
        "Events:  <none>",
    ]
