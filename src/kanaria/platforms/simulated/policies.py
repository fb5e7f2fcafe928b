"""The analysis policies the benchmark compares, each as the Canary a user would write.

Every policy is the seed's Canary (`examples/seed/podinfo-canary.yaml`, copied here so the
benchmark runs from an installed package; a test keeps the two equal) with one change, so the
real engine decides exactly as it would in a cluster:

- **flagger**: the seed as it is: success rate >= 99 % over 1 m, P99 <= 500 ms over 30 s,
  `threshold: 5`. Like Flagger, the engine rolls back at the tick *after* the 5th failed
  interval.
- **kayenta**: Kayenta-style Mann-Whitney over the interval's per-second samples (error rate and
  mean latency) as the only metric (a score >= 75 passes), `threshold: 1`: rolled back at the
  tick after the first failed interval, which is how a Kayenta score plugged into Flagger acts.
- **sequential**: the seed plus `analysis.judge` (its thresholds still apply), looking every
  10 s, latency bound 250 ms, the documented defaults otherwise; it promotes on the seed's
  schedule.
- **sequential-early**: the same judge with `earlyPromotion: true`.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import yaml

# The seed Canary, comments left out.
SEED_CANARY_YAML = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
  autoscalerRef:
    apiVersion: autoscaling/v2beta2
    kind: HorizontalPodAutoscaler
    name: podinfo
  service:
    port: 9898
    targetPort: 9898
    gateways:
    - public-gateway.istio-system.svc.cluster.local
    hosts:
    - '*'
    trafficPolicy:
      tls:
        mode: DISABLE
    retries:
      attempts: 3
      perTryTimeout: 1s
      retryOn: "gateway-error,connect-failure,refused-stream"
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    - name: request-duration
      thresholdRange:
        max: 500
      interval: 30s
    webhooks:
      - name: acceptance-test
        type: pre-rollout
        url: http://flagger-loadtester.test/
        timeout: 30s
        metadata:
          type: bash
          cmd: "curl -sd 'test' http://podinfo-canary:9898/token | grep token"
      - name: load-test
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"
"""

KAYENTA_METRIC = "kayenta-score"
# The judge's settings in the benchmark. 250 ms is the Istio bucket edge just above the
# primary's P99 (about 240 ms): a +100 ms shift moves ~6 % of requests past it, where a 500 ms
# bound would see almost nothing. Everything else is the documented default.
JUDGE = {"latencyBound": "250ms", "lookInterval": "10s"}


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    analysis: dict[str, Any]  # merged into the seed's spec.analysis

    def document(self) -> dict[str, Any]:
        document = seed_canary()
        document["spec"]["analysis"].update(copy.deepcopy(self.analysis))
        return document


def seed_canary() -> dict[str, Any]:
    """A fresh copy of the seed Canary document."""
    return copy.deepcopy(_parsed_seed())


@functools.cache
def _parsed_seed() -> dict[str, Any]:
    # Parsed once per process: PyYAML takes longer than a simulated release's engine work.
    document: dict[str, Any] = yaml.safe_load(SEED_CANARY_YAML)
    return document


def _kayenta_metric() -> dict[str, Any]:
    return {
        "name": KAYENTA_METRIC,
        # Never sent anywhere: the simulated observer answers this metric itself.
        "query": "Mann-Whitney score of canary vs primary per-second samples",
        "thresholdRange": {"min": 75},
        "interval": "1m",
    }


POLICIES: tuple[Policy, ...] = (
    Policy(
        "flagger",
        "the seed Canary exactly: success rate >= 99 %, P99 <= 500 ms, threshold 5",
        {},
    ),
    Policy(
        "kayenta",
        "Mann-Whitney score of each 1m interval (per-second samples) as the check, threshold 1",
        {"metrics": [_kayenta_metric()], "threshold": 1},
    ),
    Policy(
        "sequential",
        "seed + judge: alpha 0.01, latencyBound 250ms, lookInterval 10s, defaults otherwise",
        {"judge": {**JUDGE, "earlyPromotion": False}},
    ),
    Policy(
        "sequential-early",
        "the same with earlyPromotion: true",
        {"judge": {**JUDGE, "earlyPromotion": True}},
    ),
)

POLICY_NAMES = tuple(policy.name for policy in POLICIES)
