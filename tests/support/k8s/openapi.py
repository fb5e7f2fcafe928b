"""The OpenAPI documents an API server publishes, for the kinds the emulator serves.

kubectl reads them before it writes: `kubectl apply` looks in `/openapi/v3` for the PATCH
operation of the kind it applies, and only if that operation takes `fieldValidation` does it
leave validation to the server (else it wants `/openapi/v2` and, without one, asks for
`--validate=false`). It also builds strategic merge patches from the `x-kubernetes-patch-*`
extensions there, and `kubectl explain` prints the schemas. Built-in kinds are described by
Kubernetes' own definitions (`schemas.builtin_definitions`), custom ones by their CRD's schema.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import kmock

from tests.support.k8s import definitions, schemas

Body = dict[str, Any]
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)
_STRATEGIC = "application/strategic-merge-patch+json"
_WRITE_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation")
]


class OpenApi:
    """OpenAPI v3 (per group-version) and v2 documents, built once and kept until a CRD changes."""

    def __init__(
        self,
        resources: Mapping[kmock.resource, kmock.ResourceInfo],
        custom: Mapping[kmock.resource, definitions.ServedVersion],
    ) -> None:
        self._resources = resources
        self._custom = custom
        self._documents: dict[str, Body] = {}

    def forget(self) -> None:
        """Build the documents again on the next request (a CRD came or went)."""
        self._documents.clear()

    def index(self) -> Body:
        """`/openapi/v3`: where each group-version's document is, with a hash for caching."""
        paths = {}
        for path in sorted({_path(resource) for resource in self._resources}):
            document = self.v3(path)
            digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest[:32].upper()}"}
        return {"paths": paths}

    def v3(self, path: str) -> Body | None:
        """The OpenAPI 3.0 document of one group-version (`api/v1`, `apis/apps/v1`)."""
        if path not in self._documents:
            served = [r for r in self._resources if _path(r) == path]
            if not served:
                return None
            self._documents[path] = self._document(served)
        return self._documents[path]

    def v2(self) -> Body:
        """`/openapi/v2` as JSON: every kind in one Swagger 2.0 document."""
        paths: Body = {}
        components: Body = {}
        for path in sorted({_path(resource) for resource in self._resources}):
            document = self.v3(path) or {}
            paths |= _swagger_paths(document.get("paths", {}))
            components |= document.get("components", {}).get("schemas", {})
        text = json.dumps(components).replace("#/components/schemas/", "#/definitions/")
        return {
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": f"v{schemas.KUBERNETES_VERSION}"},
            "paths": paths,
            "definitions": json.loads(text),
        }

    def _document(self, served: Iterable[kmock.resource]) -> Body:
        components: Body = {}
        paths: Body = {}
        for resource in sorted(served, key=lambda r: str(r.plural)):
            info = self._resources[resource]
            name = self._describe(resource, info, components)
            if name is not None:
                paths |= _operations(resource, info, name, custom=resource in self._custom)
        components.setdefault(_PATCH, {"type": "object", "description": "A patch."})
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": f"v{schemas.KUBERNETES_VERSION}"},
            "paths": paths,
            "components": {"schemas": components},
        }

    def _describe(
        self, resource: kmock.resource, info: kmock.ResourceInfo, components: Body
    ) -> str | None:
        """Put the kind's schema (and what it refers to) in `components`; return its name."""
        gvk = {"group": resource.group or "", "version": resource.version, "kind": info.kind}
        served = self._custom.get(resource)
        if served is None:
            name = schemas.builtin_definition_name(
                gvk["group"], str(gvk["version"]), str(info.kind)
            )
            if name is None:
                return None
            _add_builtin(name, components)
            return name
        group = ".".join(reversed(str(resource.group).split(".")))
        name = f"{group}.{resource.version}.{info.kind}"
        schema = _converted(dict(served.schema))
        properties = {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            **schema.get("properties", {}),
            "metadata": {"$ref": f"#/components/schemas/{_OBJECT_META}"},
        }
        components[name] = {
            **schema,
            "properties": properties,
            "x-kubernetes-group-version-kind": [gvk],
        }
        _add_builtin(_OBJECT_META, components)
        return name


def _path(resource: kmock.resource) -> str:
    if not resource.group:
        return f"api/{resource.version}"
    return f"apis/{resource.group}/{resource.version}"


def _add_builtin(name: str, components: Body) -> None:
    """Add a Kubernetes definition and every definition it refers to."""
    pending = [name]
    while pending:
        current = pending.pop()
        if current in components:
            continue
        converted = _converted(schemas.builtin_definitions()[current])
        components[current] = converted
        pending.extend(_references(converted))


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"].rsplit("/", 1)[-1]] if isinstance(node.get("$ref"), str) else []
        values = [*node.get("properties", {}).values()] + [
            v for k, v in node.items() if k != "properties"
        ]
        return found + [ref for value in values for ref in _references(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _references(item)]
    return []


def _converted(node: Any) -> Any:
    """JSON Schema (as kubernetes-validate ships it) into OpenAPI 3.0, as kube-apiserver has it."""
    if isinstance(node, list):
        return [_converted(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: Body = {}
    for key, value in node.items():
        if key == "properties":  # names of fields, not keywords (JSONSchemaProps has a `$ref`)
            result[key] = {name: _converted(field) for name, field in value.items()}
        elif key == "$ref":
            result[key] = "#/components/schemas/" + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            result[key] = types[0] if len(types) == 1 else types
        elif key == "oneOf":  # IntOrString, Quantity: kube-apiserver says string with a format
            result |= {"type": "string", "format": "int-or-string"}
        elif key == "additionalProperties" and value is False:
            continue
        else:
            result[key] = _converted(value)
    return result


def _operations(
    resource: kmock.resource, info: kmock.ResourceInfo, schema: str, *, custom: bool
) -> Body:
    base = f"/{_path(resource)}"
    if info.namespaced:
        base += "/namespaces/{namespace}"
    collection = f"{base}/{resource.plural}"
    item = collection + "/{name}"
    gvk = {"group": resource.group or "", "version": resource.version, "kind": info.kind}
    patch_types = _PATCH_TYPES if custom else (*_PATCH_TYPES, _STRATEGIC)

    def operation(action: str, body: Iterable[str] = (), ref: str = schema) -> Body:
        op: Body = {
            "operationId": f"{action}{info.kind}",
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "responses": {"200": {"description": "OK", "content": _content([_JSON], schema)}},
        }
        if body:
            op["parameters"] = _WRITE_PARAMETERS
            op["requestBody"] = {"content": _content(body, ref), "required": True}
        return op

    writes = {
        "get": operation("get"),
        "put": operation("put", [_JSON]),
        "patch": operation("patch", patch_types, _PATCH),
    }
    paths: Body = {
        collection: {"get": operation("list"), "post": operation("post", [_JSON])},
        item: {**writes, "delete": operation("delete")},
    }
    for sub in sorted(info.subresources - {"scale"}):
        paths[f"{item}/{sub}"] = writes
    return paths


_JSON = "application/json"


def _content(types: Iterable[str], ref: str) -> Body:
    return {kind: {"schema": {"$ref": f"#/components/schemas/{ref}"}} for kind in types}


def _swagger_paths(paths: Mapping[str, Any]) -> Body:
    """OpenAPI 3 operations as Swagger 2.0 ones: the request body becomes a `body` parameter."""
    converted: Body = {}
    for path, operations in paths.items():
        converted[path] = {}
        for method, operation in operations.items():
            op = {k: v for k, v in operation.items() if k not in ("requestBody", "responses")}
            body = operation.get("requestBody", {}).get("content", {})
            if body:
                schema = next(iter(body.values()))["schema"]
                op["consumes"] = list(body)
                op["parameters"] = [
                    *(p | {"type": "string"} for p in operation.get("parameters", [])),
                    {"name": "body", "in": "body", "required": True, "schema": schema},
                ]
            op["responses"] = {"200": {"description": "OK"}}
            converted[path][method] = json.loads(
                json.dumps(op).replace("#/components/schemas/", "#/definitions/")
            )
    return converted


# -- OpenAPI v2 in protobuf ------------------------------------------------------------------
# kubectl asks `/openapi/v2` for protobuf only (gnostic's `openapi.v2.Document`) and validates
# on the client with it whenever the server's OpenAPI v3 does not vouch for a kind (e.g. the
# seed's autoscaling/v2beta2 HPA, which it then refuses for having no REST mapping). No protobuf
# library is needed for the few messages involved: the wire format is written by hand below,
# with the field numbers of gnostic's OpenAPIv2.proto.

PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"  # asked
PROTOBUF_V2_ANSWER = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # answered


def protobuf_v2(document: Mapping[str, Any]) -> bytes:
    """The definitions of a Swagger 2.0 document as an `openapi.v2.Document` message."""
    info = _text(1, document["info"]["title"]) + _text(2, document["info"]["version"])
    named = [
        _message(1, _text(1, name) + _message(2, _schema(schema)))
        for name, schema in sorted(document["definitions"].items())
    ]
    return _text(1, "2.0") + _message(2, info) + _message(9, b"".join(named))


def _schema(schema: Mapping[str, Any]) -> bytes:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        # v2 has no word for "keep unknown fields": like kube-apiserver, publish no type
        # there, so that kubectl's client-side validation accepts anything
        return _text(4, schema["description"]) if "description" in schema else b""
    encoded = _text(1, schema["$ref"]) if "$ref" in schema else b""
    encoded += _text(2, schema["format"]) if "format" in schema else b""
    encoded += _text(4, schema["description"]) if "description" in schema else b""
    encoded += b"".join(_text(19, name) for name in schema.get("required", ()))
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        encoded += _message(21, _message(1, _schema(extra)))
    types = schema.get("type")
    if types:
        values = [types] if isinstance(types, str) else types
        encoded += _message(22, b"".join(_text(1, value) for value in values))
    if isinstance(schema.get("items"), Mapping):
        encoded += _message(23, _message(1, _schema(schema["items"])))
    properties = schema.get("properties") or {}
    if properties:
        named = [
            _message(1, _text(1, name) + _message(2, _schema(field)))
            for name, field in properties.items()
        ]
        encoded += _message(25, b"".join(named))
    for name, value in schema.items():
        if name.startswith("x-"):
            yaml_text = json.dumps(value)  # JSON is YAML, which is what gnostic's Any holds
            encoded += _message(31, _text(1, name) + _message(2, _text(2, yaml_text)))
    return encoded


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _message(field_number: int, payload: bytes) -> bytes:
    return _varint(field_number << 3 | 2) + _varint(len(payload)) + payload


def _text(field_number: int, value: str) -> bytes:
    return _message(field_number, value.encode())
