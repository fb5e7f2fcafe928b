"""The parts of Kubernetes objects that kanaria reads: Deployment, HPA, Service, ConfigMap,
Secret, Namespace and Istio's Gateway, VirtualService and DestinationRule.

Only what the engine and the platforms use is modelled; everything else in a manifest is kept
as written (the store holds the whole document), so nothing is lost on a round trip.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from kanaria.spec.base import Model, Resource


class ContainerPort(Model):
    container_port: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: str = "TCP"


class EnvVar(Model):
    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


class Probe(Model):
    http_get: dict[str, Any] | None = None
    exec: dict[str, Any] | None = None
    tcp_socket: dict[str, Any] | None = None
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3


class Container(Model):
    name: str
    image: str
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    env_from: list[dict[str, Any]] = Field(default_factory=list)
    ports: list[ContainerPort] = Field(default_factory=list)
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    resources: dict[str, Any] = Field(default_factory=dict)
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list)


class PodSpec(Model):
    containers: list[Container] = Field(min_length=1)
    init_containers: list[Container] = Field(default_factory=list)
    volumes: list[dict[str, Any]] = Field(default_factory=list)


class PodTemplate(Model):
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: PodSpec


class LabelSelector(Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[dict[str, Any]] = Field(default_factory=list)


class RollingUpdate(Model):
    max_unavailable: int | str | None = None
    max_surge: int | str | None = None


class DeploymentStrategy(Model):
    type: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    rolling_update: RollingUpdate | None = None


class DeploymentSpec(Model):
    replicas: int | None = Field(default=None, ge=0)
    selector: LabelSelector
    template: PodTemplate
    strategy: DeploymentStrategy = Field(default_factory=DeploymentStrategy)
    min_ready_seconds: int = Field(default=0, ge=0)
    progress_deadline_seconds: int = Field(default=600, ge=1)
    revision_history_limit: int | None = None
    paused: bool = False

    @model_validator(mode="after")
    def _selector_matches_template(self) -> DeploymentSpec:
        labels = self.template.metadata.get("labels")
        labels = labels if isinstance(labels, dict) else {}
        missing = {
            key: value
            for key, value in self.selector.match_labels.items()
            if labels.get(key) != value
        }
        if missing:
            raise PydanticCustomError(
                "selector",
                "selector {missing} does not match the pod template's labels {labels}",
                {"missing": missing, "labels": labels},
            )
        return self


class Deployment(Resource):
    kind: Literal["Deployment"] = "Deployment"
    spec: DeploymentSpec
    status: dict[str, Any] = Field(default_factory=dict)


class ScaleTargetRef(Model):
    api_version: str = "apps/v1"
    kind: str = "Deployment"
    name: str


class HorizontalPodAutoscalerSpec(Model):
    scale_target_ref: ScaleTargetRef
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(ge=1)
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    behavior: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> HorizontalPodAutoscalerSpec:
        if self.min_replicas > self.max_replicas:
            raise PydanticCustomError(
                "replicas",
                "minReplicas {low} is greater than maxReplicas {high}",
                {"low": self.min_replicas, "high": self.max_replicas},
            )
        return self

    def cpu_target_utilization(self) -> int | None:
        """The CPU averageUtilization target, in v2 or v2beta2 form (both nest it the same way)."""
        for metric in self.metrics:
            resource = metric.get("resource") or {}
            if metric.get("type") == "Resource" and resource.get("name") == "cpu":
                target = resource.get("target") or {}
                if "averageUtilization" in target:
                    return int(target["averageUtilization"])
        return None


class HorizontalPodAutoscaler(Resource):
    kind: Literal["HorizontalPodAutoscaler"] = "HorizontalPodAutoscaler"
    spec: HorizontalPodAutoscalerSpec
    status: dict[str, Any] = Field(default_factory=dict)


class ServicePort(Model):
    port: int = Field(ge=1, le=65535)
    name: str | None = None
    target_port: int | str | None = None
    protocol: str = "TCP"
    app_protocol: str | None = None


class ServiceSpec(Model):
    selector: dict[str, str] = Field(default_factory=dict)
    ports: list[ServicePort] = Field(default_factory=list)
    type: str = "ClusterIP"
    cluster_ip: str | None = Field(default=None, alias="clusterIP")


class Service(Resource):
    kind: Literal["Service"] = "Service"
    spec: ServiceSpec


class ConfigMap(Resource):
    kind: Literal["ConfigMap"] = "ConfigMap"
    data: dict[str, str] = Field(default_factory=dict)
    binary_data: dict[str, str] = Field(default_factory=dict)


class Secret(Resource):
    kind: Literal["Secret"] = "Secret"
    type: str = "Opaque"
    data: dict[str, str] = Field(default_factory=dict)
    string_data: dict[str, str] = Field(default_factory=dict)


class Namespace(Resource):
    kind: Literal["Namespace"] = "Namespace"


class GatewayPort(Model):
    number: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: str | None = None


class GatewayServer(Model):
    port: GatewayPort
    hosts: list[str] = Field(default_factory=list)


class GatewaySpec(Model):
    selector: dict[str, str] = Field(default_factory=dict)
    servers: list[GatewayServer] = Field(min_length=1)


class Gateway(Resource):
    kind: Literal["Gateway"] = "Gateway"
    spec: GatewaySpec


class VirtualService(Resource):
    kind: Literal["VirtualService"] = "VirtualService"
    spec: dict[str, Any]


class DestinationRule(Resource):
    kind: Literal["DestinationRule"] = "DestinationRule"
    spec: dict[str, Any]
