"""Config tracking: the ConfigMaps and Secrets a pod uses are part of its revision.

A change to a tracked ConfigMap starts a release just like a new image, and the primary runs on
copies (`<name>-primary`) so the canary's new config never reaches the primary before
promotion. Optional references may be missing; a ConfigMap annotated
`flagger.app/config-tracking: disabled` is left alone, as in Flagger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kanaria.spec.naming import primary_name
from kanaria.spec.objects import CONFIGMAP, SECRET, Kind, Object, ObjectClient

TRACKING_ANNOTATION = "flagger.app/config-tracking"
TRACKED_SECRET_TYPES = frozenset(
    {
        "Opaque",
        "kubernetes.io/basic-auth",
        "kubernetes.io/ssh-auth",
        "kubernetes.io/tls",
    }
)


@dataclass(frozen=True)
class ConfigRef:
    kind: Kind
    name: str
    optional: bool

    @property
    def key(self) -> str:
        return f"{self.kind.kind.lower()}/{self.name}"


def references(pod_spec: dict[str, Any]) -> list[ConfigRef]:
    """Every ConfigMap and Secret the pod spec refers to, once each."""
    found: dict[str, ConfigRef] = {}
    for ref in _volume_refs(pod_spec) + _env_refs(pod_spec):
        found.setdefault(ref.key, ref)
    return list(found.values())


def _volume_refs(pod_spec: dict[str, Any]) -> list[ConfigRef]:
    refs = []
    for volume in pod_spec.get("volumes") or []:
        sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
        for source in sources:
            refs += _source_ref(source)
    return refs


def _source_ref(source: dict[str, Any]) -> list[ConfigRef]:
    refs = []
    if "configMap" in source:
        config = source["configMap"]
        refs.append(ConfigRef(CONFIGMAP, config["name"], bool(config.get("optional"))))
    if "secret" in source:
        secret = source["secret"]
        name = secret.get("secretName") or secret.get("name")
        refs.append(ConfigRef(SECRET, name, bool(secret.get("optional"))))
    return refs


def _env_refs(pod_spec: dict[str, Any]) -> list[ConfigRef]:
    refs = []
    for container in _containers(pod_spec):
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            refs += _key_ref(value_from.get("configMapKeyRef"), CONFIGMAP)
            refs += _key_ref(value_from.get("secretKeyRef"), SECRET)
        for source in container.get("envFrom") or []:
            refs += _key_ref(source.get("configMapRef"), CONFIGMAP)
            refs += _key_ref(source.get("secretRef"), SECRET)
    return refs


def _key_ref(ref: dict[str, Any] | None, kind: Kind) -> list[ConfigRef]:
    return [ConfigRef(kind, ref["name"], bool(ref.get("optional")))] if ref else []


def _containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod_spec.get("containers") or []
    yield from pod_spec.get("initContainers") or []


async def tracked(objects: ObjectClient, namespace: str, pod_spec: dict[str, Any]) -> list[Object]:
    """The configs that exist, may be tracked, and are tracked."""
    configs = []
    for ref in references(pod_spec):
        obj = await objects.get(ref.kind, namespace, ref.name)
        if obj is None or not _trackable(obj):
            continue
        configs.append(obj)
    return configs


def _trackable(obj: Object) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get(TRACKING_ANNOTATION) == "disabled":
        return False
    return obj.get("kind") != "Secret" or obj.get("type", "Opaque") in TRACKED_SECRET_TYPES


def checksum(obj: Object) -> str:
    data = {"data": obj.get("data") or {}, "binaryData": obj.get("binaryData") or {}}
    if obj.get("stringData"):
        data["stringData"] = obj["stringData"]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def checksums(configs: list[Object]) -> dict[str, str]:
    return {
        f"{str(obj['kind']).lower()}/{obj['metadata']['name']}": checksum(obj) for obj in configs
    }


def rename_in_pod_spec(pod_spec: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """The pod spec with every reference to a tracked config pointing at its primary copy."""

    def rename(value: Any, parent_key: str = "") -> Any:
        if isinstance(value, dict):
            renamed = {key: rename(item, key) for key, item in value.items()}
            for field in ("name", "secretName"):
                if parent_key in _REF_KEYS and renamed.get(field) in names:
                    renamed[field] = primary_name(renamed[field])
            return renamed
        if isinstance(value, list):
            return [rename(item, parent_key) for item in value]
        return value

    result: dict[str, Any] = rename(pod_spec)
    return result


_REF_KEYS = frozenset(
    {"configMap", "secret", "configMapKeyRef", "secretKeyRef", "configMapRef", "secretRef"}
)


def primary_copy(obj: Object, owner: dict[str, Any]) -> Object:
    metadata = obj.get("metadata") or {}
    copied: Object = {
        "apiVersion": "v1",
        "kind": obj["kind"],
        "metadata": {
            "name": primary_name(metadata["name"]),
            "namespace": metadata.get("namespace"),
            "labels": dict(metadata.get("labels") or {}),
            "annotations": dict(metadata.get("annotations") or {}),
            "ownerReferences": [owner],
        },
    }
    for field in ("data", "binaryData", "stringData", "type", "immutable"):
        if field in obj:
            copied[field] = obj[field]
    return copied
