"""The patch types of the Kubernetes API, chosen by Content-Type as the API server does.

Stock kmock ignores Content-Type: it merges every dict body and applies every list body as a JSON
patch. Then a strategic merge patch drops sidecar containers, and a client that sends a merge
patch as a JSON patch (kubernetes-asyncio's CustomObjectsApi does, by default) passes tests that a
real cluster fails with 400. Here each type has its own rules, and the wrong one is refused.
Strategic merge is approximated: lists whose items all have a `name` are merged by name.
"""

import copy
from typing import Any

import jsonpatch
import jsonpointer

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class PatchError(Exception):
    """A patch the API server refuses; carries the status code it would answer with."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def apply_patch(
    target: dict[str, Any], patch: Any, content_type: str, *, custom: bool
) -> dict[str, Any]:
    """Return `target` patched by `patch`; raise PatchError as the API server would."""
    if content_type == JSON_PATCH:
        return _json_patch(target, patch)
    if content_type not in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH):
        raise PatchError(415, "UnsupportedMediaType", f"unknown patch type {content_type!r}")
    if not isinstance(patch, dict):
        raise PatchError(400, "BadRequest", f"{content_type} needs a JSON object as its body")
    if content_type == MERGE_PATCH:
        return dict(merge_patch(target, patch))
    if content_type == STRATEGIC_MERGE_PATCH and custom:
        raise PatchError(
            415,
            "UnsupportedMediaType",
            "strategic merge patch is not supported for custom resources; use a merge patch",
        )
    return dict(strategic_merge_patch(target, patch))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, `null` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A merge patch in which lists of named items merge by `name` (`$patch: delete` removes)."""
    if isinstance(patch, list) and isinstance(target, list) and _named(target) and _named(patch):
        return _merge_named_lists(target, patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):  # directives such as $setElementOrder: ordering is not emulated
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _merge_named_lists(target: list[Any], patch: list[Any]) -> list[Any]:
    merged = {item["name"]: item for item in target}
    for item in patch:
        if item.get("$patch") == "delete":
            merged.pop(item["name"], None)
        else:
            merged[item["name"]] = strategic_merge_patch(merged.get(item["name"]), item)
    return list(merged.values())


def _json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise PatchError(
            400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    try:
        result = jsonpatch.apply_patch(target, operations, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchError(422, "Invalid", f"the server rejected our request: {exc}") from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(422, "Invalid", f"the JSON patch cannot be applied: {exc}") from exc
    if not isinstance(result, dict):
        raise PatchError(422, "Invalid", "the JSON patch replaced the whole object")
    return result
