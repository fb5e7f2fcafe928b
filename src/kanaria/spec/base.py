"""The base of every resource model: camelCase field names as in YAML, unknown fields kept.

Flagger's CRD prunes unknown fields; kanaria keeps them in `model_extra` so `validate` can warn
about them (a typo like `stepWieght` should not pass silently) instead of failing.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kanaria.spec.duration import parse_duration


class Model(BaseModel):
    """A part of a manifest: read by camelCase alias, unknown keys kept for warnings."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=False,
    )


def _duration(value: Any) -> float:
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration)]
"""Seconds, read from `30s`, `1m`, `1m30s` or a bare number of seconds."""

Percent = Annotated[int, Field(ge=0, le=100)]


class ObjectMeta(Model):
    name: str = ""
    namespace: str = ""
    generate_name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    owner_references: list[dict[str, Any]] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)


class Resource(Model):
    """A whole object: apiVersion, kind, metadata."""

    api_version: str
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"


class CrossNamespaceRef(Model):
    name: str
    namespace: str | None = None
