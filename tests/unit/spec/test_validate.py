"""`kanaria validate`: each class of error, by the message a user reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanaria.cli.main import main
from kanaria.spec.duration import format_duration, parse_duration

SEED = Path(__file__).parents[3] / "examples" / "seed"
CANARY = (SEED / "podinfo-canary.yaml").read_text()


def test_seed_manifests_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    shared = Path(__file__).parents[4] / "shared" / "seed"
    files = [shared / "podinfo-canary.yaml", shared / "public-gateway.yaml"]
    files = [f if f.exists() else SEED / f.name for f in files]
    assert main(["validate", *[arg for f in files for arg in ("-f", str(f))]]) == 0
    out = capsys.readouterr()
    assert "Canary/podinfo: valid" in out.out
    assert "Gateway/public-gateway: valid" in out.out
    assert out.err == ""


def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    manifest = tmp_path / "canary.yaml"
    manifest.write_text(text)
    code = main(["validate", "-f", str(manifest)])
    return code, capsys.readouterr().err


CASES = [
    (
        "wrong type",
        CANARY.replace("threshold: 5", "threshold: five"),
        "spec.analysis.threshold: found 'five', expected a valid integer",
    ),
    (
        "bad duration",
        CANARY.replace("interval: 1m\n    # max", "interval: abc\n    # max"),
        "spec.analysis.interval: expected a duration like 30s, 1m or 1m30s, found 'abc'",
    ),
    (
        "no strategy",
        CANARY.replace("stepWeight: 10", "stepWeight: 0"),
        "spec.analysis: no strategy: set stepWeight or stepWeights",
    ),
    (
        "weight above 100",
        CANARY.replace("maxWeight: 50", "maxWeight: 150"),
        "spec.analysis.maxWeight: found 150, expected less than or equal to 100",
    ),
    (
        "weight below 0",
        CANARY.replace("stepWeight: 10", "stepWeight: -10"),
        "spec.analysis.stepWeight: found -10, expected greater than or equal to 0",
    ),
    (
        "step weights not increasing",
        CANARY.replace("stepWeight: 10", "stepWeights: [10, 5, 20]"),
        "spec.analysis.stepWeights: stepWeights must increase, found [10, 5, 20]",
    ),
    (
        "unknown webhook type",
        CANARY.replace("type: pre-rollout", "type: pre-rolout"),
        "spec.analysis.webhooks[0].type: found 'pre-rolout', expected 'rollout', 'pre-rollout'",
    ),
    (
        "duplicate metric",
        CANARY.replace("name: request-duration", "name: request-success-rate"),
        "spec.analysis.metrics: metric names must be unique, found request-success-rate",
    ),
    (
        "duplicate webhook",
        CANARY.replace("name: load-test", "name: acceptance-test"),
        "spec.analysis.webhooks: webhook names must be unique, found acceptance-test",
    ),
    (
        "min above max",
        CANARY.replace("min: 99", "min: 99\n        max: 50"),
        "spec.analysis.metrics[0].thresholdRange: min 99.0 is greater than max 50.0",
    ),
    (
        "metric without source",
        CANARY.replace("name: request-duration", "name: error-budget"),
        "spec.analysis.metrics[1]: metric 'error-budget' is not a builtin",
    ),
    (
        "template without interval",
        CANARY.replace(
            "name: request-duration\n", "name: custom\n      templateRef: {name: latency}\n"
        ).replace("interval: 30s\n", ""),
        "metric 'custom' uses templateRef but has no interval",
    ),
    (
        "missing required field",
        CANARY.replace("    port: 9898\n", ""),
        "spec.service.port: a value is required",
    ),
    (
        "broken yaml",
        CANARY.replace("maxWeight: 50", "maxWeight: [50"),
        "broken YAML at line",
    ),
    (
        "wrong api version",
        CANARY.replace("flagger.app/v1beta1", "flagger.app/v1"),
        "apiVersion: found apiVersion 'flagger.app/v1', expected one of flagger.app/v1beta1",
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), CASES, ids=[case[0] for case in CASES])
def test_each_error_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, text: str, expected: str
) -> None:
    code, err = validate(tmp_path, capsys, text)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err
    if case != "broken yaml":
        assert "canary.yaml[0] Canary/podinfo:" in err


def test_every_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        CANARY.replace("interval: 1m\n    # max", "interval: abc\n    # max")
        .replace("stepWeight: 10", "stepWeight: 0")
        .replace("type: pre-rollout", "type: nope")
        .replace("min: 99", "min: 99\n        max: 5")
    )
    code, err = validate(tmp_path, capsys, text)
    assert code == 2
    assert "4 errors" in err
    for fragment in ("interval", "no strategy", "webhooks[0].type", "thresholdRange"):
        assert fragment in err


def test_broken_yaml_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = validate(tmp_path, capsys, "apiVersion: v1\nkind: Service\nmetadata: {name: [x\n")
    assert code == 2
    assert "line 4" in err or "line 3" in err


def test_unknown_fields_are_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = validate(
        tmp_path, capsys, CANARY.replace("maxWeight: 50", "maxWeight: 50\n    maxWieght: 60")
    )
    assert code == 0
    assert "warning:" in err
    assert "spec.analysis.maxWieght: unknown field" in err


def test_second_document_is_checked_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: podinfo}\nspec: {ports: [{port: x}]}\n"
    )
    text = CANARY + "\n---\n" + service
    code, err = validate(tmp_path, capsys, text)
    assert code == 2
    assert "canary.yaml[1] Service/podinfo: spec.ports[0].port: found 'x'" in err


@given(st.floats(min_value=0, max_value=10**6, allow_nan=False).map(lambda s: round(s, 3)))
def test_duration_formatting_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-3)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60), ("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("45", 45)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
