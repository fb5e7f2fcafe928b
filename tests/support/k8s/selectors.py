"""Label and field selectors for the emulator's lists and watches.

Stock kmock ignores `labelSelector` and `fieldSelector`, so every query returns everything and a
client that sends a wrong selector still passes its tests. These matchers follow the API server's
grammar: equality (`a=b`, `a==b`, `a!=b`) and set-based (`a in (x,y)`, `a notin (x)`, `a`, `!a`)
label requirements; field requirements as `path=value` or `path!=value` on any dotted field
(the real server allows only a few fields per kind, e.g. `metadata.name`).
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, Any]], bool]

_TERMS = re.compile(r",(?![^()]*\))")  # commas outside of "in (a,b)"
_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_LABEL_TERM = re.compile(
    rf"^(?P<neg>!)?\s*(?P<key>{_KEY})\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[-A-Za-z0-9_.]*)"
    r"|\s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\))?$"
)
_FIELD_TERM = re.compile(r"^(?P<path>[A-Za-z0-9_.]+)\s*(?P<op>==|=|!=)\s*(?P<value>.*)$")


class SelectorError(ValueError):
    """A selector that the API server would reject with 400 Bad Request."""


def label_matcher(selector: str) -> Matcher:
    """Compile a label selector into a predicate over an object's labels."""
    requirements = [_label_requirement(term.strip()) for term in _split(selector)]
    return lambda labels: all(requirement(labels) for requirement in requirements)


def field_matcher(selector: str) -> Matcher:
    """Compile a field selector into a predicate over a whole object."""
    requirements = [_field_requirement(term.strip()) for term in _split(selector)]
    return lambda obj: all(requirement(obj) for requirement in requirements)


def _split(selector: str) -> list[str]:
    return [term for term in _TERMS.split(selector) if term.strip()]


def _label_requirement(term: str) -> Matcher:
    match = _LABEL_TERM.match(term)
    if match is None or (match["neg"] and (match["op"] or match["setop"])):
        raise SelectorError(f"unable to parse requirement: {term!r}")
    key, value = match["key"], match["value"]
    if match["neg"]:
        return lambda labels: key not in labels
    if match["op"] in ("=", "=="):
        return lambda labels: labels.get(key) == value
    if match["op"] == "!=":
        return lambda labels: labels.get(key) != value
    if match["setop"]:
        values = {item.strip() for item in match["values"].split(",")}
        wanted = match["setop"] == "in"
        return lambda labels: (key in labels and labels[key] in values) == wanted
    return lambda labels: key in labels


def _field_requirement(term: str) -> Matcher:
    match = _FIELD_TERM.match(term)
    if match is None:
        raise SelectorError(f"invalid field selector: {term!r}")
    path, value, negated = match["path"].split("."), match["value"].strip(), match["op"] == "!="
    return lambda obj: (_field_value(obj, path) == value) != negated


def _field_value(obj: Mapping[str, Any], path: list[str]) -> str:
    value: Any = obj
    for step in path:
        value = value.get(step) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)
