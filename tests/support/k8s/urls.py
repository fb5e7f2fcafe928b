"""Fixes to how kmock 0.8 reads a request's URL, applied once when the emulator is imported.

kmock parses the URL before any handler runs, so these cannot live in a subclass:
- `/api/v1/namespaces[/NAME[/status|finalize]]` is read as "objects in the namespace called
  'namespaces'" and fails with 500, so namespaces can be neither listed nor created;
- only `watch=true` starts a watch, while kubernetes-asyncio sends `watch=True`;
- PUT maps to no action and falls through to 404.
Every other URL keeps kmock's own reading.
"""

from typing import Any

from kmock._internal import enums, parsing

_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_original_parse_path = parsing.parse_path
_original_guess_k8s = parsing.guess_k8s


def parse_path(path: str) -> parsing.ParsedPath:
    """Read `/api/v1/namespaces...` as the namespaces resource itself, else as kmock does."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and _is_namespace_path(parts[3:]):
        name = parts[3] if len(parts) > 3 else None
        subresource = parts[4] if len(parts) > 4 else None
        return parsing.ParsedPath("", "v1", "namespaces", None, name, subresource)
    return _original_parse_path(path)


def guess_k8s(
    k8s: parsing.ParsedPath, method: enums.method, query: dict[str, str]
) -> enums.action | None:
    """Accept any capitalisation of `watch=true`; treat PUT on an object as an update."""
    watching = query.get("watch", "").lower() in ("true", "1")
    if k8s.group is not None and method == enums.method.GET and watching:
        return enums.action.WATCH
    if k8s.group is not None and k8s.name is not None and method == enums.method.PUT:
        return enums.action.UPDATE
    return _original_guess_k8s(k8s, method, query)


def _is_namespace_path(rest: list[str]) -> bool:
    return len(rest) <= 1 or (len(rest) == 2 and rest[1] in _NAMESPACE_SUBRESOURCES)


def install() -> None:
    """Route kmock's URL reading through the fixes above (idempotent)."""
    module: Any = parsing
    module.parse_path = parse_path
    module.guess_k8s = guess_k8s
