"""The small parts of the operator: Flagger's metrics, --connect-to, peering priorities and
objects, the daemon's cadence, and the `kanaria operator` command line."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kanaria.cli.main import main
from kanaria.engine.metrics import PrometheusRecorder, exposition
from kanaria.errors import ConfigError
from kanaria.platforms.kubernetes.controller import interval_of
from kanaria.platforms.kubernetes.network import ConnectToResolver, parse_connect_to
from kanaria.platforms.kubernetes.peering import (
    CLUSTER_KOPF_PEERING,
    KOPF_PEERING,
    ensure_peering_objects,
    priority_by_age,
)
from kanaria.routing.base import Routes
from kanaria.spec.canary import Canary, Phase
from kanaria.spec.memory import MemoryObjects
from kanaria.workloads.canaries import parse_canary

SEED_CANARY = Path(__file__).parents[3] / "examples" / "seed" / "podinfo-canary.yaml"


def seed_canary(**analysis: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(SEED_CANARY.read_text())
    raw["spec"]["analysis"].update(analysis)
    return raw


def samples(recorder: PrometheusRecorder) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = exposition(recorder.registry)[0].decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_flaggers_metric_names_and_labels() -> None:
    recorder = PrometheusRecorder(mesh_provider="istio")
    canary: Canary = parse_canary(seed_canary())
    canary.status.phase = Phase.PROGRESSING
    recorder.canary_status(canary)
    recorder.canary_weights(canary, Routes(70, 30))
    recorder.metric_value(canary, "request-success-rate", 99.5)
    recorder.metric_value(canary, "request-duration", 250)
    recorder.release_finished(canary, succeeded=True, skipped=False)
    recorder.tick_duration(canary, 0.2)
    recorder.canary_totals({"test": 1})
    found = samples(recorder)
    names = (("name", "podinfo"), ("namespace", "test"))
    assert found[("flagger_canary_status", names)] == 0
    assert found[("flagger_canary_weight", (("namespace", "test"), ("workload", "podinfo")))] == 30
    primary = (("namespace", "test"), ("workload", "podinfo-primary"))
    assert found[("flagger_canary_weight", primary)] == 70
    metric = (("metric", "request-duration"), *names)
    assert found[("flagger_canary_metric_analysis", metric)] == 0.25  # seconds, as Flagger
    success = (("analysis_status", "completed"), ("deployment_strategy", "canary"), *names)
    assert found[("flagger_canary_successes_total", success)] == 1
    assert found[("flagger_canary_duration_seconds_count", names)] == 1
    assert found[("flagger_canary_total", (("namespace", "test"),))] == 1
    info = (("mesh_provider", "istio"), ("version", "0.1.0"))
    assert found[("flagger_info", info)] == 1
    canary.status.phase = Phase.FAILED
    recorder.canary_status(canary)
    assert samples(recorder)[("flagger_canary_status", names)] == 2


def test_a_deleted_canary_leaves_no_series() -> None:
    recorder = PrometheusRecorder()
    canary = parse_canary(seed_canary())
    recorder.canary_status(canary)
    recorder.canary_weights(canary, Routes(100, 0))
    recorder.forget(canary)
    recorder.forget(canary)  # twice is fine
    assert not [key for key in samples(recorder) if key[0].startswith("flagger_canary_")]


def test_connect_to_is_parsed_like_curls() -> None:
    table = parse_connect_to(["flagger-loadtester.test:80:127.0.0.1:8080"])
    assert table == {("flagger-loadtester.test", 80): ("127.0.0.1", 8080)}
    for bad in ("flagger-loadtester.test:80", "a:b:c:d", "a:80::90"):
        with pytest.raises(ConfigError, match="HOST:PORT:ADDRESS:PORT"):
            parse_connect_to([bad])


async def test_the_resolver_answers_listed_names_only_from_its_table() -> None:
    resolver = ConnectToResolver({("flagger-loadtester.test", 80): ("127.0.0.1", 8080)})
    found = await resolver.resolve("flagger-loadtester.test", 80, socket.AF_INET)
    assert [(a["host"], a["port"]) for a in found] == [("127.0.0.1", 8080)]
    await resolver.close()


def test_older_replicas_have_higher_priority() -> None:
    assert priority_by_age(1_700_000_000.0) > priority_by_age(1_700_000_000.001) > 0


async def test_peering_objects_are_made_once() -> None:
    objects = MemoryObjects()
    await ensure_peering_objects(objects, ["test", "prod"])
    await ensure_peering_objects(objects, ["test"])  # already there: fine
    assert [p["metadata"]["namespace"] for p in await objects.list(KOPF_PEERING, None)] == [
        "prod",
        "test",
    ]
    await ensure_peering_objects(objects, [])
    assert len(await objects.list(CLUSTER_KOPF_PEERING, None)) == 1


@pytest.mark.parametrize(
    ("interval", "seconds"), [("1m", 60.0), ("5s", 10.0), ("90s", 90.0), (None, 60.0)]
)
def test_the_daemon_ticks_at_the_clamped_interval(interval: str | None, seconds: float) -> None:
    raw = seed_canary()
    if interval is None:
        del raw["spec"]["analysis"]["interval"]
    else:
        raw["spec"]["analysis"]["interval"] = interval
    assert interval_of(raw) == seconds


def test_an_invalid_canary_is_looked_at_again_after_the_default_interval() -> None:
    raw = seed_canary()
    del raw["spec"]["analysis"]["stepWeight"]
    assert interval_of(raw) == 60.0


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--time-scale", "0"], "--time-scale must be positive"),
        (["--kubeconfig", "/nonexistent/kubeconfig"], "no such file"),
        (["--connect-to", "nonsense"], "HOST:PORT:ADDRESS:PORT"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    arguments: list[str], complaint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if "--kubeconfig" not in arguments:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text("{}")
        arguments = [*arguments, "--kubeconfig", str(kubeconfig)]
    assert main(["operator", *arguments]) == 2
    error = capsys.readouterr().err
    assert complaint in error
    assert error.count("\n") == 1


def test_the_operator_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["operator", "--help"])
    usage = capsys.readouterr().out
    for flag in ("--kubeconfig", "--namespace", "--metrics-server", "--mesh-provider",
                 "--leader-election", "--port", "--time-scale"):  # fmt: skip
        assert flag in usage
