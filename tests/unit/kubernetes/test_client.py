"""The ObjectClient over the Kubernetes API: paths, content types, answers and errors, against
a stand-in for kubernetes-asyncio's ApiClient (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from kanaria.errors import ConfigError, ConflictError, NotFoundError, PermanentError, TemporaryError
from kanaria.platforms.kubernetes.client import (
    MERGE_PATCH,
    KubernetesObjects,
    converted,
    label_selector,
    path_of,
)
from kanaria.spec.objects import (
    CANARY,
    DEPLOYMENT,
    EVENT,
    HPA,
    NAMESPACE,
    SERVICE,
    VIRTUAL_SERVICE,
    Kind,
)


@pytest.mark.parametrize(
    ("kind", "namespace", "name", "sub", "expected"),
    [
        (DEPLOYMENT, "test", "podinfo", "", "/apis/apps/v1/namespaces/test/deployments/podinfo"),
        (SERVICE, "test", None, "", "/api/v1/namespaces/test/services"),
        (EVENT, "test", "e1", "", "/api/v1/namespaces/test/events/e1"),
        (HPA, "test", "p", "", "/apis/autoscaling/v2/namespaces/test/horizontalpodautoscalers/p"),
        (CANARY, "test", "podinfo", "status",
         "/apis/flagger.app/v1beta1/namespaces/test/canaries/podinfo/status"),
        (VIRTUAL_SERVICE, None, None, "", "/apis/networking.istio.io/v1beta1/virtualservices"),
        (NAMESPACE, "ignored", "test", "", "/api/v1/namespaces/test"),
    ],
)  # fmt: skip
def test_paths(
    kind: Kind, namespace: str | None, name: str | None, sub: str, expected: str
) -> None:
    assert path_of(kind, namespace, name, sub) == expected


def test_an_unknown_kind_is_a_configuration_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"StatefulSet.*known: .*Deployment\.apps"):
        path_of(Kind("apps/v1", "StatefulSet"), "test", "x")


def test_label_selectors_are_sorted_equalities() -> None:
    assert label_selector({"b": "2", "a": "1"}) == "a=1,b=2"
    assert label_selector(None) == ""


def _api_error(status: int, message: str = "") -> ApiException:
    error = ApiException(status=status, reason="Reason")
    body = json.dumps({"kind": "Status", "message": message}) if message else None
    error.body = body  # type: ignore[assignment]  # call_api decodes the body to str
    return error


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, NotFoundError),
        (409, ConflictError),
        (429, TemporaryError),
        (500, TemporaryError),
        (503, TemporaryError),
        (400, PermanentError),
        (403, PermanentError),
        (422, PermanentError),
    ],
)
def test_answers_become_kanarias_errors(status: int, error: type[Exception]) -> None:
    found = converted(_api_error(status, "the server's words"), "get Deployment x")
    assert type(found) is error
    assert str(found) == f"get Deployment x: {status} the server's words"


class FakeApi:
    """Answers call_api from a script: a dict, an exception, or a callable of the request."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    async def call_api(self, path: str, method: str, **options: Any) -> Any:
        self.calls.append({"path": path, "method": method, **options})
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


async def test_patches_are_merge_patches_and_status_goes_to_the_subresource() -> None:
    api = FakeApi({"metadata": {"name": "podinfo"}}, {"metadata": {"name": "podinfo"}})
    objects = KubernetesObjects(api)  # type: ignore[arg-type]
    await objects.patch(CANARY, "test", "podinfo", {"spec": {"suspend": True}, "status": {}})
    await objects.patch_status(CANARY, "test", "podinfo", {"phase": "Progressing"})
    spec_patch, status_patch = api.calls
    assert spec_patch["method"] == "PATCH"
    assert spec_patch["header_params"]["Content-Type"] == MERGE_PATCH
    assert spec_patch["body"] == {"spec": {"suspend": True}}  # status only through /status
    assert status_patch["path"].endswith("/canaries/podinfo/status")
    assert status_patch["header_params"]["Content-Type"] == MERGE_PATCH
    assert status_patch["body"] == {"status": {"phase": "Progressing"}}
    assert objects.requests == {("patch", "canaries"): 2}


async def test_get_is_none_when_missing_and_list_items_get_their_kind() -> None:
    items = {"items": [{"metadata": {"name": "a"}}], "kind": "ServiceList"}
    api = FakeApi(_api_error(404), items)
    objects = KubernetesObjects(api)  # type: ignore[arg-type]
    assert await objects.get(SERVICE, "test", "missing") is None
    listed = await objects.list(SERVICE, "test", {"app": "podinfo"})
    assert listed == [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}]
    assert api.calls[1]["query_params"] == [("labelSelector", "app=podinfo")]


async def test_reads_are_retried_writes_are_not() -> None:
    deployment = {"metadata": {"name": "podinfo"}}
    api = FakeApi(_api_error(503), aiohttp.ClientConnectionError("reset"), deployment)
    objects = KubernetesObjects(api, retry_pause=0)  # type: ignore[arg-type]
    assert (await objects.get(DEPLOYMENT, "test", "podinfo") or {})["kind"] == "Deployment"

    api = FakeApi(_api_error(500))
    objects = KubernetesObjects(api)  # type: ignore[arg-type]
    with pytest.raises(TemporaryError, match="create Deployment"):
        await objects.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}})
    assert len(api.calls) == 1


async def test_a_lost_connection_is_temporary_and_delete_of_nothing_is_false() -> None:
    api = FakeApi(TimeoutError(), _api_error(404))
    objects = KubernetesObjects(api)  # type: ignore[arg-type]
    replace = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "t"}}
    with pytest.raises(TemporaryError, match="API unreachable"):
        await objects.replace(replace)
    assert await objects.delete(SERVICE, "t", "s") is False
    assert [call["method"] for call in api.calls] == ["PUT", "DELETE"]
