"""The API server's own rules, which no schema carries: names, labels, ports, quantities.

Kubernetes' OpenAPI schema (`kubeschema.py`) says a name is a string and a port an int32; the
API server then applies rules written in Go (apimachinery's `validation` package): a namespace
is a DNS-1123 label of at most 63 characters, a port lies in 1–65535, a resource request is a
quantity such as `100m` or `64Mi`. A manifest that breaks one is refused by a cluster, so
kanaria refuses it too, before it reaches a controller: a 254-character namespace once stopped
the local platform's mesh for good, and a Gateway port of 2^63 made Envoy refuse every route.

`rule_problems(document)` returns (path, message) pairs for every object; the messages quote the
API server's where it has one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

Path = tuple[str | int, ...]
Found = Iterator[tuple[Path, str]]

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
ANNOTATIONS_MAX_BYTES = 256 * 1024
PORT_NAME_MAX = 15

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL.pattern}(\.{_DNS1123_LABEL.pattern})*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_PORT_NAME = re.compile(r"[-a-z0-9]+")
# resource.Quantity: a decimal number, then a binary or decimal SI suffix or an exponent.
_QUANTITY = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")

# Kinds whose names are DNS-1123 labels (or DNS-1035 for Services); every other kind's name is
# a DNS-1123 subdomain.
_LABEL_NAMED = {"Namespace": "dns1123", "Service": "dns1035"}
_ISTIO_GROUP = "networking.istio.io/"
# Istio's protocol names (matched without regard to case, as Istio matches them).
ISTIO_PROTOCOLS = frozenset(
    {"HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "MYSQL", "REDIS", "TCP", "TLS", "UDP"}
)


def rule_problems(document: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """The API server's rules that `document` breaks, each with its field path."""
    kind = str(document.get("kind", ""))
    found = list(_metadata(document.get("metadata"), kind))
    spec = document.get("spec")
    if kind == "Deployment" and isinstance(spec, dict):
        found += _pod_template(spec.get("template"), ("spec", "template"))
    if kind == "Service" and isinstance(spec, dict):
        found += _service_ports(spec.get("ports"))
    if str(document.get("apiVersion", "")).startswith(_ISTIO_GROUP) and isinstance(spec, dict):
        found += _istio_ports(spec, ("spec",))
    if kind == "Canary" and isinstance(spec, dict):
        found += _canary_names(spec)
    return found


def _canary_names(spec: Mapping[str, Any]) -> Found:
    """The objects a Canary makes must get names the API server accepts: `<target>-primary`
    (a Deployment) and the Services `<service>`, `<service>-primary`, `<service>-canary`."""
    target_name, service_name = _field(spec, "targetRef", "name"), _field(spec, "service", "name")
    if isinstance(target_name, str) and (reason := dns1123_subdomain(f"{target_name}-primary")):
        yield ("spec", "targetRef", "name"), f"the primary Deployment's name {reason}"
    name, path = (service_name, "service") if service_name else (target_name, "targetRef")
    if isinstance(name, str) and name and (reason := dns1035_label(f"{name}-primary")):
        yield ("spec", path, "name"), f"the Service {name}-primary's name {reason}"


# ---- names and metadata --------------------------------------------------------------------


def dns1123_label(text: str) -> str | None:
    """Why `text` is not a DNS-1123 label (a namespace), or None when it is one."""
    return _checked(text, _DNS1123_LABEL, DNS1123_LABEL_MAX, "a lowercase RFC 1123 label")


def dns1123_subdomain(text: str) -> str | None:
    return _checked(
        text, _DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MAX, "a lowercase RFC 1123 subdomain"
    )


def dns1035_label(text: str) -> str | None:
    return _checked(text, _DNS1035_LABEL, DNS1123_LABEL_MAX, "an RFC 1035 label")


def _checked(text: str, pattern: re.Pattern[str], limit: int, what: str) -> str | None:
    if len(text) > limit:
        return f"must be no more than {limit} characters (found {len(text)})"
    if not pattern.fullmatch(text):
        shown = text if len(text) <= 70 else text[:67] + "..."
        return f"{shown!r} is not {what} ({_RULES[what]})"
    return None


_RULES = {
    "a lowercase RFC 1123 label": "lowercase letters, digits and '-', starting and ending "
    "with a letter or digit",
    "a lowercase RFC 1123 subdomain": "lowercase letters, digits, '-' and '.', starting and "
    "ending with a letter or digit",
    "an RFC 1035 label": "lowercase letters, digits and '-', starting with a letter and "
    "ending with a letter or digit",
}
_NAME_CHECKS = {"dns1123": dns1123_label, "dns1035": dns1035_label}


def _metadata(metadata: Any, kind: str) -> Found:
    if not isinstance(metadata, dict):
        return
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if isinstance(name, str) and name:
        reason = _NAME_CHECKS.get(_LABEL_NAMED.get(kind, ""), dns1123_subdomain)(name)
        if reason:
            yield ("metadata", "name"), reason
    if isinstance(namespace, str) and namespace and (reason := dns1123_label(namespace)):
        yield ("metadata", "namespace"), reason
    yield from _labels(metadata.get("labels"), ("metadata", "labels"))
    yield from _annotations(metadata.get("annotations"))


def _labels(labels: Any, path: Path) -> Found:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        if reason := qualified_name(str(key)):
            yield (*path, str(key)), f"invalid label key: {reason}"
        if isinstance(value, str) and (reason := label_value(value)):
            yield (*path, str(key)), f"invalid label value: {reason}"


def qualified_name(key: str) -> str | None:
    """Why `key` is not a label or annotation key (`[prefix/]name`), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or dns1123_subdomain(prefix)):
        return f"the prefix of {key!r} must be a DNS subdomain"
    if len(name) > LABEL_VALUE_MAX:
        return f"the name part must be no more than {LABEL_VALUE_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            f"{key!r} must consist of alphanumerics, '-', '_' or '.', starting and ending "
            "alphanumeric"
        )
    return None


def label_value(value: str) -> str | None:
    if len(value) > LABEL_VALUE_MAX:
        return f"must be no more than {LABEL_VALUE_MAX} characters (found {len(value)})"
    if value and not _QUALIFIED_NAME.fullmatch(value):
        return "must consist of alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
    return None


def _annotations(annotations: Any) -> Found:
    if not isinstance(annotations, dict):
        return
    size = 0
    for key, value in annotations.items():
        size += len(str(key)) + len(str(value).encode())
        if reason := qualified_name(str(key)):
            yield ("metadata", "annotations", str(key)), f"invalid annotation key: {reason}"
    if size > ANNOTATIONS_MAX_BYTES:
        yield (
            ("metadata", "annotations"),
            f"may not be more than {ANNOTATIONS_MAX_BYTES} bytes in total (found {size})",
        )


# ---- pods ------------------------------------------------------------------------------------


def _pod_template(template: Any, path: Path) -> Found:
    if not isinstance(template, dict):
        return
    metadata = template.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    yield from _labels(labels, (*path, "metadata", "labels"))
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return
    names: set[str] = set()
    for field in ("initContainers", "containers"):
        for index, container in enumerate(_list(spec.get(field))):
            where = (*path, "spec", field, index)
            yield from _container(container, where, names)


def _container(container: Any, path: Path, names: set[str]) -> Found:
    if not isinstance(container, dict):
        return
    name = container.get("name")
    if isinstance(name, str):
        if reason := dns1123_label(name):
            yield (*path, "name"), reason
        elif name in names:
            yield (*path, "name"), f"duplicate container name {name!r}"
        names.add(name)
    for index, port in enumerate(_list(container.get("ports"))):
        yield from _container_port(port, (*path, "ports", index))
    resources = container.get("resources")
    if isinstance(resources, dict):
        for field in ("limits", "requests"):
            yield from _quantities(resources.get(field), (*path, "resources", field))


def _container_port(port: Any, path: Path) -> Found:
    if not isinstance(port, dict):
        return
    if (reason := port_number(port.get("containerPort"))) is not None:
        yield (*path, "containerPort"), reason
    host_port = port.get("hostPort")
    if host_port not in (None, 0) and (reason := port_number(host_port)):
        yield (*path, "hostPort"), reason
    if isinstance(port.get("name"), str) and (reason := port_name(port["name"])):
        yield (*path, "name"), reason


def _quantities(values: Any, path: Path) -> Found:
    if not isinstance(values, dict):
        return
    for resource, quantity in values.items():
        if reason := quantity_problem(quantity):
            yield (*path, str(resource)), reason


def quantity_problem(value: Any) -> str | None:
    """Why `value` is not a non-negative resource quantity (`100m`, `64Mi`, `0.5`), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None  # a wrong type is the schema's to report
    text = str(value).strip()
    if not _QUANTITY.fullmatch(text):
        return f"found {text!r}, expected a quantity such as 100m, 0.5, 64Mi or 1G"
    if text.startswith("-"):
        return f"found {text!r}, must be greater than or equal to 0"
    return None


# ---- ports -----------------------------------------------------------------------------------


def port_number(value: Any) -> str | None:
    """Why `value` is not a port number (1–65535), or None; a non-integer is the schema's."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not 1 <= value <= 65535:
        return f"found {value}, must be between 1 and 65535, inclusive"
    return None


def port_name(name: str) -> str | None:
    """Why `name` is not an IANA service name (a port's name), or None."""
    if len(name) > PORT_NAME_MAX:
        return f"port name {name!r} must be no more than {PORT_NAME_MAX} characters"
    if not _PORT_NAME.fullmatch(name) or not re.search("[a-z]", name):
        return (
            f"port name {name!r} must contain only lowercase letters, digits and '-', and a letter"
        )
    if name.startswith("-") or name.endswith("-") or "--" in name:
        return f"port name {name!r} must not begin or end with '-' nor hold '--'"
    return None


def _service_ports(ports: Any) -> Found:
    for index, port in enumerate(_list(ports)):
        if not isinstance(port, dict):
            continue
        path: Path = ("spec", "ports", index)
        if (reason := port_number(port.get("port"))) is not None:
            yield (*path, "port"), reason
        if reason := target_port(port.get("targetPort")):
            yield (*path, "targetPort"), reason
        node_port = port.get("nodePort")
        if node_port not in (None, 0) and (reason := port_number(node_port)):
            yield (*path, "nodePort"), reason


def target_port(value: Any) -> str | None:
    """Why a Service's targetPort (a number, or a container port's name) is wrong, or None."""
    if isinstance(value, str) and not value.isdigit():
        return port_name(value)
    return port_number(value)


def _istio_ports(value: Any, path: Path) -> Found:
    """Every `port: {number: N}` (servers, destinations, port-level settings) of an Istio spec."""
    if isinstance(value, dict):
        port = value.get("port")
        if isinstance(port, dict) and "number" in port:
            number = port["number"]
            if isinstance(number, bool) or not isinstance(number, int):
                yield (*path, "port", "number"), f"found {number!r}, expected a port number"
            elif reason := port_number(number):
                yield (*path, "port", "number"), reason
        if isinstance(port, dict) and "protocol" in port and not _istio_protocol(port["protocol"]):
            known = ", ".join(sorted(ISTIO_PROTOCOLS))
            yield (
                (*path, "port", "protocol"),
                f"found {port['protocol']!r}, expected one of {known}",
            )
        for key, item in value.items():
            yield from _istio_ports(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _istio_ports(item, (*path, index))


def _field(spec: Mapping[str, Any], part: str, name: str) -> Any:
    section = spec.get(part)
    return section.get(name) if isinstance(section, dict) else None


def _istio_protocol(value: Any) -> bool:
    return isinstance(value, str) and value.upper() in ISTIO_PROTOCOLS


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
