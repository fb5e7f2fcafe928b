"""Which `Target` releases a Canary's workload: one explicit choice, made where the world is built.

A Knative Service is its own primary and router (`knative.py`); everything else Flagger
releases here is a Deployment with a `-primary` copy (`deployment.py`). `spec/` pairs the
`knative` provider with Knative Service targets, so the provider decides.
"""

from __future__ import annotations

from kanaria.clock import Clock
from kanaria.spec.canary import KNATIVE_PROVIDER
from kanaria.spec.objects import ObjectClient
from kanaria.workloads.base import Target
from kanaria.workloads.deployment import DeploymentTarget
from kanaria.workloads.knative import KnativeServiceTarget


def target_for(provider: str, objects: ObjectClient, clock: Clock) -> Target:
    if provider == KNATIVE_PROVIDER:
        return KnativeServiceTarget(objects)
    return DeploymentTarget(objects, clock)
