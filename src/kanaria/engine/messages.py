"""Flagger's event texts, word for word, in one place.

Dashboards, alerts and people grep these strings (and the seed scenario prints them), so they
are part of kanaria's contract: change one only on purpose.
"""

from __future__ import annotations


def providers_available() -> str:
    return "all the metrics providers are available!"


def providers_error(error: object) -> str:
    return f"Error checking metric providers: {error}"


def initialized(key: str) -> str:
    return f"Initialization done! {key}"


def new_revision(key: str) -> str:
    return f"New revision detected! Scaling up {key}"


def revision_restart(key: str) -> str:
    return f"New revision detected! Restarting analysis for {key}"


def starting_analysis(key: str) -> str:
    return f"Starting canary analysis for {key}"


def hook_passed(kind: str, hook: str) -> str:
    return f"{kind} check {hook} passed"


def pre_rollout_failed(key: str, hook: str, error: object) -> str:
    return f"Halt {key} advancement pre-rollout check {hook} failed {error}"


def rollout_hook_failed(key: str, hook: str, error: object) -> str:
    return f"Halt {key} advancement external check {hook} failed {error}"


def post_rollout_failed(hook: str, error: object) -> str:
    return f"Post-rollout check {hook} failed {error}"


def waiting_approval(key: str, hook: str) -> str:
    return f"Halt {key} advancement waiting for approval {hook}"


def waiting_traffic_increase(key: str, hook: str) -> str:
    return f"Halt {key} advancement waiting for traffic increase approval {hook}"


def waiting_promotion(key: str, hook: str) -> str:
    return f"Halt {key} advancement waiting for promotion approval {hook}"


def advance_weight(key: str, weight: int) -> str:
    return f"Advance {key} canary weight {weight}"


def advance_iteration(key: str, iteration: int, total: int) -> str:
    return f"Advance {key} canary iteration {iteration}/{total}"


def advance_primary_weight(key: str, weight: int) -> str:
    return f"Advance {key} primary weight {weight}"


def copying_spec(target_key: str, primary_key: str) -> str:
    return f"Copying {target_key} template spec to {primary_key}"


def routing_all_to_primary() -> str:
    return "Routing all traffic to primary"


def routing_all_to_canary(mirrored: bool) -> str:
    if mirrored:
        return "Stop traffic mirroring and route all traffic to canary"
    return "Routing all traffic to canary"


def promotion_completed(key: str) -> str:
    return f"Promotion completed! Scaling down {key}"


def promotion_skipped(key: str) -> str:
    return f"Promotion completed! Canary analysis was skipped for {key}"


def promotion_failed(key: str, error: object) -> str:
    return f"Promotion of {key} failed, primary not ready: {error}"


def threshold_reached(key: str, failed_checks: int) -> str:
    return f"Rolling back {key} failed checks threshold reached {failed_checks}"


def deadline_exceeded(key: str, error: object) -> str:
    return f"Rolling back {key} progress deadline exceeded {error}"


def manual_rollback(key: str) -> str:
    return f"Rolling back {key} manual webhook invoked"


def judge_rollback(key: str, explanation: str) -> str:
    return f"Rolling back {key} sequential judge: {explanation}"


def aborted(key: str) -> str:
    return f"Rolling back {key} abort requested"


def canary_failed(key: str) -> str:
    return f"Canary failed! Scaling down {key}"


def suspended() -> str:
    return "skipping canary run as object is suspended"


def no_values(provider: str, metric: str, key: str, error: object) -> str:
    return (
        f"Halt advancement no values found for {provider} metric {metric} "
        f"probably {key} is not receiving traffic: {error}"
    )


def query_failed(metric: str, error: object) -> str:
    return f"Metric query failed for {metric}: {error}"


def provider_unavailable(error: object) -> str:
    return f"Prometheus query failed: metrics provider unavailable: {error}"


def metric_below(key: str, metric: str, value: float, bound: float, unit: str = "") -> str:
    return f"Halt {key} advancement {metric} {value:.2f}{unit} < {bound:g}{unit}"


def metric_above(key: str, metric: str, value: float, bound: float, unit: str = "") -> str:
    return f"Halt {key} advancement {metric} {value:.2f}{unit} > {bound:g}{unit}"


def paused(key: str) -> str:
    return f"Analysis of {key} paused on request"


def resumed(key: str) -> str:
    return f"Analysis of {key} resumed on request"


def promotion_requested(key: str) -> str:
    return f"Promotion of {key} requested: skipping the remaining analysis"


def retrying(key: str) -> str:
    return f"Retrying the release of {key} on request"


def judge_passed(key: str, explanation: str) -> str:
    return f"Sequential judge passed {key}, promoting early: {explanation}"


def ab_testing_unsupported(provider: str) -> str:
    return f"A/B testing is not supported when using the {provider} provider"


def progressive_traffic_unsupported(provider: str) -> str:
    return f"Progressive traffic is not supported when using the {provider} provider"


def setting_iterations(iterations: int) -> str:
    return f"Setting canaryAnalysis.iterations: {iterations}"


def terminating(key: str) -> str:
    return f"Terminating canary {key}"


def terminated(key: str) -> str:
    return f"Terminated canary {key}"
