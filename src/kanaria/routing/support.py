"""What a router can do with a Canary's strategy, and a clear refusal of the rest.

Flagger's routers silently ignore what they cannot express (flagger-routers.md §17): an SMI
TrafficSplit has no header match, so an A/B Canary on Linkerd sends *every* request to the
canary during its iterations; `mirror: true` on Kuma simply never mirrors. kanaria refuses such
a Canary with a ConfigError that names the provider and the field, before any traffic moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kanaria.errors import ConfigError
from kanaria.spec.canary import Canary

HEADER_MATCH_KINDS = ("exact", "prefix", "suffix", "regex")


@dataclass(frozen=True)
class Supports:
    """The strategies a router can carry out beyond weights and blue/green switches.

    `header_matches`: the header match kinds it routes on for A/B testing (none: no A/B);
    `method_match`: whether `match[].method.exact` is routed too.
    """

    provider: str
    header_matches: tuple[str, ...] = ()
    method_match: bool = False
    mirroring: bool = False
    session_affinity: bool = False
    a_b_hint: str = ""  # where to go for A/B testing instead


def refuse_unsupported(canary: Canary, supports: Supports) -> None:
    """ConfigError for the first strategy field this router would have to ignore."""
    analysis = canary.spec.analysis
    name = supports.provider
    if analysis.match:
        _check_matches(analysis.match, supports)
    if analysis.mirror and not supports.mirroring:
        raise ConfigError(
            f"provider {name} cannot mirror traffic: remove spec.analysis.mirror "
            "(Flagger ignores it on this provider, so nothing would be mirrored)"
        )
    if analysis.session_affinity is not None and not supports.session_affinity:
        raise ConfigError(
            f"provider {name} cannot pin sessions to the canary: remove "
            "spec.analysis.sessionAffinity (Flagger ignores it on this provider)"
        )


def _check_matches(matches: list[dict[str, Any]], supports: Supports) -> None:
    if not supports.header_matches:
        raise ConfigError(
            f"provider {supports.provider} cannot route by request (A/B testing): remove "
            "spec.analysis.match; Flagger ignores it on this provider and would send every "
            f"request to the canary during the iterations{supports.a_b_hint}"
        )
    for index, match in enumerate(matches):
        for key, value in match.items():
            _check_match_field(f"spec.analysis.match[{index}].{key}", key, value, supports)


def _check_match_field(path: str, key: str, value: Any, supports: Supports) -> None:
    if key == "name":
        return
    if key == "method" and supports.method_match:
        _check_string_match(path, value, ("exact",), supports.provider)
        return
    if key != "headers":
        routed = "headers and method" if supports.method_match else "headers"
        raise ConfigError(
            f"provider {supports.provider} cannot route on {path}: it matches {routed} only"
        )
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a map of header name to string match")
    for header, string_match in value.items():
        _check_string_match(
            f"{path}.{header}", string_match, supports.header_matches, supports.provider
        )


def _check_string_match(path: str, value: Any, kinds: tuple[str, ...], provider: str) -> None:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{path}: expected a string match ({', '.join(kinds)})")
    unsupported = sorted(kind for kind in value if kind not in kinds)
    if unsupported:
        raise ConfigError(
            f"provider {provider} cannot match {path}.{unsupported[0]}; "
            f"it supports {', '.join(kinds)}"
        )
