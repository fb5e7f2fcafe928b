"""The custom resources the emulator serves, as CustomResourceDefinitions.

A cluster learns a custom resource from its CRD: names (plural, singular, short names,
categories), scope, subresources, printer columns and the structural schema. The emulator reads
the same manifests: kanaria's own from `deploy/crd/` (so the tests see the schema and columns
users install), and minimal ones for the other kinds kanaria acts on. A CRD created through the
API (`kubectl apply -k deploy/crd`) is served the same way.

To serve another kind, add a manifest: `CUSTOM_RESOURCE_DEFINITIONS.append(minimal_crd(...))` from
a module of your own, imported before the emulator starts (or POST a CRD to a running one);
kinds named in `emulator.CUSTOM_RESOURCES` (e.g. `router_crds.py`) are served the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml

Body = dict[str, Any]
DEPLOY_CRDS = Path(__file__).parents[3] / "deploy" / "crd"
_VERBS = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)
_PERMISSIVE: Body = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


@dataclass(frozen=True)
class ServedVersion:
    """One version of a custom resource, as the emulator serves it."""

    resource: kmock.resource
    info: kmock.ResourceInfo
    schema: Mapping[str, Any]  # openAPIV3Schema
    columns: tuple[Mapping[str, Any], ...] = field(default=())  # additionalPrinterColumns


def minimal_crd(
    group: str,
    kind: str,
    *,
    versions: Iterable[str] = ("v1",),
    plural: str | None = None,
    short_names: Iterable[str] = (),
    status: bool = True,
    namespaced: bool = True,
    columns: Iterable[Mapping[str, Any]] = (),
) -> Body:
    """A CRD manifest whose schema keeps every field, for kinds whose schema tests do not need."""
    plural = plural or kind.lower() + "s"
    subresources = {"status": {}} if status else {}
    served = [
        {
            "name": version,
            "served": True,
            "storage": index == 0,
            "subresources": subresources,
            "additionalPrinterColumns": list(columns),
            "schema": {"openAPIV3Schema": _PERMISSIVE},
        }
        for index, version in enumerate(versions)
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": list(short_names),
            },
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": served,
        },
    }


def crd_from_info(resource: kmock.resource, info: kmock.ResourceInfo) -> Body:
    """A CRD for a kind declared as kmock declares resources (no schema, no columns)."""
    kind = info.kind or str(resource.plural).capitalize()
    return minimal_crd(
        str(resource.group),
        kind,
        versions=(str(resource.version),),
        plural=str(resource.plural),
        short_names=info.shortnames,
        status="status" in info.subresources,
        namespaced=info.namespaced is not False,
    )


def served_versions(crd: Mapping[str, Any]) -> Iterator[ServedVersion]:
    """What a CRD makes the API server serve: each version marked `served`."""
    spec = crd["spec"]
    names = spec["names"]
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = set(version.get("subresources") or {})
        info = kmock.ResourceInfo(
            kind=names["kind"],
            singular=names.get("singular") or names["kind"].lower(),
            shortnames=set(names.get("shortNames") or ()),
            categories=set(names.get("categories") or ()),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            verbs=set(_VERBS),
            subresources=subresources,
        )
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or _PERMISSIVE
        columns = tuple(version.get("additionalPrinterColumns") or ())
        resource = kmock.resource(spec["group"], version["name"], names["plural"])
        yield ServedVersion(resource, info, schema, columns)


def _istio(kind: str, short: str, columns: Iterable[Mapping[str, Any]] = ()) -> Body:
    return minimal_crd(
        "networking.istio.io",
        kind,
        versions=("v1beta1", "v1alpha3"),
        short_names=(short,),
        columns=[
            *columns,
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def _project_crds() -> list[Body]:
    return [
        doc
        for path in sorted(DEPLOY_CRDS.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]


CUSTOM_RESOURCE_DEFINITIONS: list[Body] = [
    *_project_crds(),
    _istio(
        "VirtualService",
        "vs",
        [
            {"name": "Gateways", "type": "string", "jsonPath": ".spec.gateways"},
            {"name": "Hosts", "type": "string", "jsonPath": ".spec.hosts"},
        ],
    ),
    _istio("DestinationRule", "dr", [{"name": "Host", "type": "string", "jsonPath": ".spec.host"}]),
    _istio("Gateway", "gw"),
]
