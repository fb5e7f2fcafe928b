"""Fill a query template with a canary's names, as Flagger's MetricTemplate does.

Templates use Go text/template's action syntax, restricted to what MetricTemplates use:
`{{ name }}`, `{{ namespace }}`, `{{ target }}`, `{{ service }}`, `{{ ingress }}`, `{{ route }}`,
`{{ interval }}` and `{{ variables.<key> }}`, with optional spaces and Go's `{{-`/`-}}` trim
markers. Anything else (`{{ .Foo }}`, `{{ if … }}`) is refused rather than passed to Prometheus
half-rendered, and a variable without a value is a ConfigError naming it (Flagger renders with
`missingkey=error`). Unlike Flagger, an unset `interval` is an error, not an empty window.

After rendering, every run of whitespace becomes one space, as Flagger's provider does before
sending a query; a query can therefore be written over many indented lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from kanaria import errors
from kanaria.spec.duration import format_duration

_ACTION = re.compile(r"\{\{(?P<ltrim>-(?=\s))?(?P<body>.*?)(?P<rtrim>(?<=\s)-)?\}\}", re.DOTALL)
_VARIABLE = re.compile(r"variables\.(?P<key>[A-Za-z_][A-Za-z0-9_]*)")
_GO_WHITESPACE = re.compile(r"[\t\n\f\r ]+")
_PROMETHEUS_DURATION = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
_BUILTIN_NAMES = ("name", "namespace", "target", "service", "ingress", "route", "interval")

Interval = float | timedelta | str
"""Seconds, a timedelta, or Prometheus duration text such as `1m30s`."""


@dataclass(frozen=True, slots=True)
class TemplateModel:
    """The values a query template may use (Flagger's MetricTemplateModel).

    `service`, `ingress` and `route` default to `target`, as Flagger fills them in.
    `variables` are the metric's `templateVariables`.
    """

    name: str
    namespace: str
    target: str
    service: str | None = None
    ingress: str | None = None
    route: str | None = None
    interval: Interval | None = None
    variables: Mapping[str, str] = field(default_factory=dict)

    def builtin_values(self) -> dict[str, str]:
        """Every builtin variable that has a value, as text."""
        values = {
            "name": self.name,
            "namespace": self.namespace,
            "target": self.target,
            "service": self.service or self.target,
            "ingress": self.ingress or self.target,
            "route": self.route or self.target,
        }
        if self.interval is not None:
            values["interval"] = _interval_text(self.interval)
        return values


def render_query(template: str, model: TemplateModel) -> str:
    """The query with every action replaced and whitespace collapsed."""
    values = model.builtin_values()
    pieces: list[str] = []
    position, trim_next = 0, False
    for action in _ACTION.finditer(template):
        text = template[position : action.start()]
        text = text.lstrip() if trim_next else text
        pieces.append(text.rstrip() if action["ltrim"] else text)
        pieces.append(_value_of(action["body"].strip(), values, model))
        position, trim_next = action.end(), bool(action["rtrim"])
    tail = template[position:]
    if "{{" in tail:
        raise errors.ConfigError(f"query template has an unclosed action: {tail.strip()[:80]!r}")
    pieces.append(tail.lstrip() if trim_next else tail)
    return collapse_whitespace("".join(pieces))


def collapse_whitespace(query: str) -> str:
    """One space for every run of whitespace (Go's `\\s+`), trimmed at both ends."""
    return _GO_WHITESPACE.sub(" ", query).strip()


def _interval_text(interval: Interval) -> str:
    if isinstance(interval, str):
        text = interval.strip()
        if not text or not _PROMETHEUS_DURATION.fullmatch(text):
            raise errors.ConfigError(
                f"interval {interval!r} is not a Prometheus duration such as 30s, 1m or 1m30s"
            )
        return text
    text = format_duration(interval)
    if text == "0s":
        raise errors.ConfigError("a metric interval must be longer than zero")
    return text


def _value_of(expression: str, values: Mapping[str, str], model: TemplateModel) -> str:
    """The text for one action, or a ConfigError that names what is missing or unsupported."""
    if expression in values:
        return values[expression]
    if expression == "interval":
        raise errors.ConfigError("query template uses {{ interval }}, but the metric has none")
    variable = _VARIABLE.fullmatch(expression)
    if variable is None:
        raise errors.ConfigError(
            f"query template action {{{{ {expression} }}}} is not supported; use one of "
            + ", ".join(f"{{{{ {name} }}}}" for name in _BUILTIN_NAMES)
            + " or {{ variables.<key> }}"
        )
    key = variable["key"]
    if key not in model.variables:
        known = ", ".join(sorted(model.variables)) or "none"
        raise errors.ConfigError(
            f"query template uses {{{{ variables.{key} }}}} but templateVariables has no "
            f"`{key}` (it has: {known})"
        )
    return model.variables[key]
