"""The Canary resource (`flagger.app/v1beta1`), with Flagger's defaults, clamps and checks.

Fields and defaults follow Flagger's API so that a Canary written for Flagger reads the same here.
Defaults that Flagger applies when it *reads* a field (interval at least 10 s, threshold at least
1, maxWeight 100 when unset) are the accessors on `Analysis`; the stored values stay as written.
kanaria's own additions are optional fields (`metrics[].onNoData`, `analysis.judge`) documented in
docs/differences-from-flagger.md.
"""

from __future__ import annotations

import itertools
from collections import Counter
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kanaria.spec.base import CrossNamespaceRef, Duration, Model, Percent, Resource

API_VERSION = "flagger.app/v1beta1"
MIN_INTERVAL_SECONDS = 10.0
DEFAULT_INTERVAL_SECONDS = 60.0
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0
DEFAULT_METRIC_INTERVAL_SECONDS = 60.0
BUILTIN_METRICS = ("request-success-rate", "request-duration")
KNATIVE_PROVIDER = "knative"
KNATIVE_API_VERSION = "serving.knative.dev/v1"
KNATIVE_SERVICE_PORT = 80  # Knative's own default; a Knative Canary's `service` is not read


class Phase(StrEnum):
    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class HookType(StrEnum):
    ROLLOUT = "rollout"
    PRE_ROLLOUT = "pre-rollout"
    POST_ROLLOUT = "post-rollout"
    CONFIRM_ROLLOUT = "confirm-rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    ROLLBACK = "rollback"
    EVENT = "event"


class NoDataPolicy(StrEnum):
    """What a metric check does when the query returns no values (kanaria's addition)."""

    FAIL = "fail"  # Flagger's behaviour: count a failed check
    HOLD = "hold"  # do not advance, do not count
    PASS = "pass"  # treat as passing


class Strategy(StrEnum):
    CANARY = "canary"
    BLUE_GREEN = "blue-green"
    AB_TESTING = "ab-testing"


class TargetRef(Model):
    api_version: str = "apps/v1"
    kind: str = "Deployment"
    name: str

    @property
    def is_knative_service(self) -> bool:
        return self.kind == "Service" and self.api_version == KNATIVE_API_VERSION


def _is_knative(target_ref: Any) -> bool:
    return (
        isinstance(target_ref, dict)
        and target_ref.get("kind") == "Service"
        and target_ref.get("apiVersion") == KNATIVE_API_VERSION
    )


class LocalObjectReference(Model):
    """A reference to an object beside the Canary (`spec.ingressRef`, `spec.routeRef`); only
    the name is used, the kind is implied by the provider."""

    api_version: str | None = None
    kind: str | None = None
    name: str


class ParentReference(Model):
    """A Gateway API parent (`spec.service.gatewayRefs[]`): the Gateway an HTTPRoute attaches to."""

    group: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str
    section_name: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)


class ScalerReplicas(Model):
    min_replicas: int | None = Field(default=None, ge=1)
    max_replicas: int | None = Field(default=None, ge=1)


class AutoscalerRef(TargetRef):
    kind: str = "HorizontalPodAutoscaler"
    primary_scaler_queries: dict[str, str] = Field(default_factory=dict)
    primary_scaler_replicas: ScalerReplicas | None = None


class Retries(Model):
    attempts: int = Field(default=0, ge=0)
    per_try_timeout: str | None = None
    retry_on: str | None = None


class ServiceMetadata(Model):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class CanaryService(Model):
    name: str | None = None
    port: int = Field(ge=1, le=65535)
    port_name: str = "http"
    target_port: int | str | None = None
    app_protocol: str | None = None
    traffic_distribution: str | None = None
    port_discovery: bool = False
    headless: bool = False
    timeout: str | None = None
    backend_timeout: str | None = None
    gateways: list[str] = Field(default_factory=list)
    gateway_refs: list[ParentReference] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    delegation: bool = False
    traffic_policy: dict[str, Any] | None = None
    match: list[dict[str, Any]] = Field(default_factory=list)
    rewrite: dict[str, Any] | None = None
    retries: Retries | None = None
    headers: dict[str, Any] | None = None
    cors_policy: dict[str, Any] | None = None
    mirror: list[dict[str, Any]] = Field(default_factory=list)
    mesh_name: str | None = None
    backends: list[str] = Field(default_factory=list)
    apex: ServiceMetadata | None = None
    primary: ServiceMetadata | None = None
    canary: ServiceMetadata | None = None
    unmanaged_metadata: dict[str, list[str]] | None = None


class ThresholdRange(Model):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ThresholdRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError(
                "threshold_range",
                "min {min} is greater than max {max}: no value could pass",
                {"min": self.min, "max": self.max},
            )
        return self

    def describe(self) -> str:
        parts = [f">= {self.min:g}" if self.min is not None else "", ""]
        parts[1] = f"<= {self.max:g}" if self.max is not None else ""
        return " and ".join(part for part in parts if part) or "any value"


class Metric(Model):
    name: str
    interval: Duration | None = None
    threshold_range: ThresholdRange | None = None
    template_ref: CrossNamespaceRef | None = None
    template_variables: dict[str, str] = Field(default_factory=dict)
    threshold: float | None = None  # deprecated in Flagger, still honoured
    query: str | None = None  # deprecated in Flagger, still honoured
    on_no_data: NoDataPolicy = NoDataPolicy.FAIL

    @model_validator(mode="after")
    def _has_a_source(self) -> Metric:
        if self.name not in BUILTIN_METRICS and not self.query and self.template_ref is None:
            builtins = ", ".join(BUILTIN_METRICS)
            raise PydanticCustomError(
                "metric_source",
                f"metric '{self.name}' is not a builtin ({builtins}) and has neither query "
                "nor templateRef",
            )
        if self.template_ref is not None and self.interval is None:
            raise PydanticCustomError(
                "metric_interval",
                f"metric '{self.name}' uses templateRef but has no interval: the template's "
                "'interval' variable would be empty",
            )
        return self

    @property
    def interval_seconds(self) -> float:
        return self.interval if self.interval is not None else DEFAULT_METRIC_INTERVAL_SECONDS


class Webhook(Model):
    name: str
    type: HookType = HookType.ROLLOUT
    url: str
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0)
    metadata: dict[str, str] = Field(default_factory=dict)
    mute_alert: bool = False
    disable_tls: bool = Field(default=False, alias="disableTLS")

    @model_validator(mode="before")
    @classmethod
    def _empty_type_is_rollout(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "":
            return {**data, "type": HookType.ROLLOUT.value}
        return data

    @property
    def timeout_seconds(self) -> float:
        return self.timeout if self.timeout else DEFAULT_WEBHOOK_TIMEOUT_SECONDS


class ProviderRef(Model):
    name: str
    namespace: str | None = None


class Alert(Model):
    name: str
    severity: Literal["info", "warn", "error"] = "info"
    provider_ref: ProviderRef


DEFAULT_COOKIE_MAX_AGE_SECONDS = 86400


class SessionAffinity(Model):
    """Sticky canary sessions: a cookie per release sends its holders back to the canary."""

    cookie_name: str
    primary_cookie_name: str | None = None
    domain: str | None = None
    http_only: bool = False
    max_age: int = 0
    partitioned: bool = False
    path: str | None = None
    same_site: str | None = None
    secure: bool = False

    @model_validator(mode="after")
    def _distinct_cookies(self) -> SessionAffinity:
        if self.primary_cookie_name and self.primary_cookie_name == self.cookie_name:
            raise PydanticCustomError(
                "cookie_names", "cookieName and primaryCookieName must differ", {}
            )
        return self

    @property
    def effective_max_age(self) -> int:
        """Seconds the canary cookie lives: `maxAge`, or a day when unset (0), as in Flagger."""
        return self.max_age or DEFAULT_COOKIE_MAX_AGE_SECONDS


class ToleranceSpec(Model):
    """How much worse than the primary the canary may be: its rate may reach
    max((1 + relative) × primary's rate, absolute)."""

    relative: float = Field(ge=0)
    absolute: float = Field(ge=0, lt=1)


class EarlyPromotion(Model):
    """Promote before the weight schedule ends, once the judge has shown the canary to be within
    these (wider) tolerances of the primary and it has served traffic for `minExposure`."""

    min_exposure: Duration = 60.0
    error_tolerance: ToleranceSpec = Field(
        default_factory=lambda: ToleranceSpec(relative=1.0, absolute=0.005)
    )
    latency_tolerance: ToleranceSpec = Field(
        default_factory=lambda: ToleranceSpec(relative=1.0, absolute=0.02)
    )


class Judge(Model):
    """kanaria's sequential judge (docs/analysis.md); off unless present."""

    type: Literal["sequential"] = "sequential"
    alpha: float = Field(default=0.01, gt=0, lt=1)
    error_tolerance: ToleranceSpec = Field(
        default_factory=lambda: ToleranceSpec(relative=0.2, absolute=0.001)
    )
    latency_tolerance: ToleranceSpec = Field(
        default_factory=lambda: ToleranceSpec(relative=0.2, absolute=0.01)
    )
    latency_bound: Duration | None = 0.5
    min_canary_requests: int = Field(default=1000, ge=0)
    # `true` takes the defaults, `false` (or nothing) keeps promotion on the weight schedule.
    early_promotion: EarlyPromotion | None = None
    look_interval: Duration = 10.0

    @field_validator("early_promotion", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        return value


class Analysis(Model):
    interval: Duration | None = None
    threshold: int | None = None
    max_weight: Percent | None = None
    step_weight: Percent | None = None
    step_weights: list[Percent] = Field(default_factory=list)
    step_weight_promotion: Percent | None = None
    iterations: int | None = Field(default=None, ge=0)
    match: list[dict[str, Any]] = Field(default_factory=list)
    mirror: bool = False
    mirror_weight: Percent | None = None
    primary_ready_threshold: Percent | None = None
    canary_ready_threshold: Percent | None = None
    session_affinity: SessionAffinity | None = None
    alerts: list[Alert] = Field(default_factory=list)
    metrics: list[Metric] = Field(default_factory=list)
    webhooks: list[Webhook] = Field(default_factory=list)
    judge: Judge | None = None

    @field_validator("step_weights")
    @classmethod
    def _steps_increase(cls, steps: list[int]) -> list[int]:
        if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
            raise PydanticCustomError(
                "step_weights", "stepWeights must increase, found {steps}", {"steps": steps}
            )
        return steps

    @field_validator("metrics", "webhooks")
    @classmethod
    def _unique_names(cls, items: list[Metric] | list[Webhook], info: ValidationInfo) -> Any:
        what = "metric" if info.field_name == "metrics" else "webhook"
        _reject_duplicates(what, [item.name for item in items])
        return items

    @model_validator(mode="after")
    def _has_strategy(self) -> Analysis:
        if not (self.step_weight or self.step_weights or self.iterations):
            raise PydanticCustomError(
                "no_strategy",
                "no strategy: set stepWeight or stepWeights (canary), or iterations "
                "(blue/green, or A/B testing with match)",
                {},
            )
        return self

    @property
    def interval_seconds(self) -> float:
        seconds = self.interval if self.interval is not None else DEFAULT_INTERVAL_SECONDS
        return max(seconds, MIN_INTERVAL_SECONDS)

    @property
    def failed_checks_threshold(self) -> int:
        return self.threshold if self.threshold and self.threshold > 0 else 1

    @property
    def max_canary_weight(self) -> int:
        if self.step_weights:
            return min(100, self.step_weights[-1])
        return self.max_weight or 100

    @property
    def strategy(self) -> Strategy:
        if self.iterations and self.match:
            return Strategy.AB_TESTING
        if self.iterations:
            return Strategy.BLUE_GREEN
        return Strategy.CANARY

    def hooks(self, hook_type: HookType) -> list[Webhook]:
        return [hook for hook in self.webhooks if hook.type == hook_type]


def _reject_duplicates(what: str, names: list[str]) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise PydanticCustomError(
            "duplicate_names",
            "{what} names must be unique, found {names} more than once",
            {"what": what, "names": ", ".join(duplicates)},
        )


class RouteRef(TargetRef):
    """The APISIX route whose traffic a Canary splits (`spec.routeRef`)."""

    api_version: str = "apisix.apache.org/v2"
    kind: str = "ApisixRoute"


class UpstreamRef(CrossNamespaceRef):
    """The Gloo Upstream whose settings the canary and primary Upstreams copy
    (`spec.upstreamRef`); without a namespace, the Canary's."""

    api_version: str = "gloo.solo.io/v1"
    kind: str = "Upstream"


class CanarySpec(Model):
    provider: str | None = None
    metrics_server: str | None = None
    target_ref: TargetRef
    autoscaler_ref: AutoscalerRef | None = None
    ingress_ref: LocalObjectReference | None = None
    route_ref: RouteRef | None = None
    upstream_ref: UpstreamRef | None = None
    service: CanaryService
    analysis: Analysis
    progress_deadline_seconds: int = Field(default=DEFAULT_PROGRESS_DEADLINE_SECONDS, ge=1)
    skip_analysis: bool = False
    revert_on_deletion: bool = False
    suspend: bool = False

    @model_validator(mode="before")
    @classmethod
    def _canary_analysis_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "analysis" not in data and "canaryAnalysis" in data:
            data = {**data, "analysis": data["canaryAnalysis"]}
            del data["canaryAnalysis"]
        return data

    @model_validator(mode="before")
    @classmethod
    def _knative_routes_itself(cls, data: Any) -> Any:
        """A Knative Canary has no `service` (Flagger's CRD does not require one): the Knative
        Service is the target and its own router. The placeholder port is never used."""
        if isinstance(data, dict) and "service" not in data and _is_knative(data.get("targetRef")):
            data = {**data, "service": {"port": KNATIVE_SERVICE_PORT}}
        return data

    @model_validator(mode="after")
    def _knative_pairs(self) -> CanarySpec:
        """Flagger's pairing rule: a Knative Service target needs provider `knative`, and
        `knative` needs a Knative Service target; a Knative target takes no autoscaler."""
        knative_target = self.target_ref.is_knative_service
        if knative_target != (self.provider == KNATIVE_PROVIDER):
            if knative_target:
                raise PydanticCustomError(
                    "knative_provider",
                    "can't use {provider} provider with Knative Service as target",
                    {"provider": self.provider or "the default"},
                )
            raise PydanticCustomError(
                "knative_target",
                "can't use {target} as target if provider is set to knative",
                {"target": f"{self.target_ref.api_version}/{self.target_ref.kind}"},
            )
        if knative_target and self.autoscaler_ref is not None:
            raise PydanticCustomError(
                "knative_autoscaler", "can't use autoscaler with Knative Service", {}
            )
        return self

    @property
    def service_name(self) -> str:
        return self.service.name or self.target_ref.name


class Condition(Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    last_update_time: str | None = None
    last_transition_time: str | None = None
    reason: str = ""
    message: str = ""


class CheckResult(Model):
    """The last measurement of one check, kept in the status (kanaria's addition)."""

    name: str
    value: float | None = None
    threshold: str = ""
    verdict: Literal["pass", "fail", "no-data", "error"] = "pass"
    message: str = ""
    time: str | None = None


ACTION_ANNOTATION = "kanaria.dev/action"
ACTION_ID_ANNOTATION = "kanaria.dev/action-id"
ACTIONS = ("promote", "abort", "retry", "pause", "resume")


class ActionRecord(Model):
    """The answer to the last action requested on a Canary (kanaria's addition)."""

    id: str
    action: str
    result: Literal["done", "rejected"]
    message: str = ""
    time: str | None = None


class CanaryStatus(Model):
    phase: Phase = Phase.INITIALIZING
    failed_checks: int = 0
    canary_weight: int = 0
    iterations: int = 0
    tracked_configs: dict[str, str] = Field(default_factory=dict)
    last_applied_spec: str = ""
    last_promoted_spec: str = ""
    last_transition_time: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    session_affinity_cookie: str | None = None
    previous_session_affinity_cookie: str | None = None
    primary_session_affinity_cookie: str | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    judge: dict[str, Any] | None = None
    observed_generation: int | None = None
    message: str | None = None
    paused: bool = False
    action: ActionRecord | None = None


class Canary(Resource):
    api_version: str = API_VERSION
    kind: Literal["Canary"] = "Canary"
    spec: CanarySpec
    status: CanaryStatus = Field(default_factory=CanaryStatus)

    @property
    def key(self) -> str:
        """`name.namespace`, as Flagger's event texts write a canary."""
        return f"{self.name}.{self.namespace}"

    def requested_action(self) -> tuple[str, str] | None:
        """The (id, action) asked for through annotations and not answered yet."""
        annotations = self.metadata.annotations
        action, action_id = (
            annotations.get(ACTION_ANNOTATION),
            annotations.get(ACTION_ID_ANNOTATION),
        )
        if not action or not action_id:
            return None
        if self.status.action is not None and self.status.action.id == action_id:
            return None
        return action_id, action
