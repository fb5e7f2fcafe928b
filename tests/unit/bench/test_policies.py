"""The policies are the seed Canary with one change each, as a user would write them."""

from __future__ import annotations

from pathlib import Path

import yaml

from kanaria.analysis.simulation import ISTIO_BUCKETS_MS
from kanaria.platforms.simulated.policies import POLICIES, seed_canary
from kanaria.spec.canary import Canary

SEED = Path(__file__).parents[3] / "examples" / "seed" / "podinfo-canary.yaml"


def test_the_embedded_seed_is_the_seed_canary() -> None:
    assert seed_canary() == yaml.safe_load(SEED.read_text())


def test_flagger_is_the_seed_exactly() -> None:
    flagger = next(policy for policy in POLICIES if policy.name == "flagger")
    assert flagger.document() == yaml.safe_load(SEED.read_text())


def test_every_policy_is_a_valid_canary_on_the_seed_schedule() -> None:
    for policy in POLICIES:
        analysis = Canary.model_validate(policy.document()).spec.analysis
        assert (analysis.interval_seconds, analysis.step_weight, analysis.max_weight) == (
            60,
            10,
            50,
        )


def test_the_judge_bound_is_a_bucket_edge_near_the_primary_p99() -> None:
    judged = [p for p in POLICIES if p.name.startswith("sequential")]
    assert len(judged) == 2
    for policy in judged:
        judge = Canary.model_validate(policy.document()).spec.analysis.judge
        assert judge is not None
        assert judge.latency_bound is not None
        assert judge.latency_bound * 1000 in ISTIO_BUCKETS_MS
        assert judge.latency_bound * 1000 == 250
        assert judge.alpha == 0.01  # the documented default, not tuned for the benchmark
    assert [p.analysis["judge"]["earlyPromotion"] for p in judged] == [False, True]


def test_documents_are_independent_copies() -> None:
    first = POLICIES[0].document()
    first["spec"]["analysis"]["threshold"] = 99
    assert POLICIES[0].document()["spec"]["analysis"]["threshold"] == 5
