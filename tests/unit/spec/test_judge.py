"""`analysis.judge.earlyPromotion`: a switch with defaults, or the promotion's own settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kanaria.cli.main import main
from kanaria.spec.canary import Canary

SEED = Path(__file__).parents[3] / "examples" / "seed" / "podinfo-canary.yaml"


def with_judge(judge: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SEED.read_text())
    document["spec"]["analysis"]["judge"] = judge
    return document


def judge_of(judge: dict[str, Any]) -> Any:
    return Canary.model_validate(with_judge(judge)).spec.analysis.judge


def test_early_promotion_is_off_unless_asked_for() -> None:
    assert judge_of({}).early_promotion is None
    assert judge_of({"earlyPromotion": False}).early_promotion is None


def test_true_takes_the_documented_defaults() -> None:
    early = judge_of({"earlyPromotion": True}).early_promotion
    assert early.min_exposure == 60.0
    assert (early.error_tolerance.relative, early.error_tolerance.absolute) == (1.0, 0.005)
    assert (early.latency_tolerance.relative, early.latency_tolerance.absolute) == (1.0, 0.02)


def test_its_own_settings_are_read() -> None:
    early = judge_of(
        {
            "earlyPromotion": {
                "minExposure": "2m",
                "errorTolerance": {"relative": 0.5, "absolute": 0.01},
            }
        }
    ).early_promotion
    assert early.min_exposure == 120.0
    assert early.error_tolerance.absolute == 0.01
    assert early.latency_tolerance.absolute == 0.02


def test_a_bad_minimum_exposure_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "canary.yaml"
    manifest.write_text(yaml.safe_dump(with_judge({"earlyPromotion": {"minExposure": "soon"}})))
    assert main(["validate", "-f", str(manifest)]) == 2
    assert "spec.analysis.judge.earlyPromotion.minExposure" in capsys.readouterr().err
