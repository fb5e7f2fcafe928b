"""deploy/ builds with kustomize, validates against Kubernetes' schemas, and its Canary CRD
keeps every status field kanaria writes (the API server prunes fields a schema does not name,
and a pruned phase or weight would make a restarted operator start over)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from kanaria.spec.canary import CanaryStatus, CheckResult, Condition
from tests.support.tools import required_tool

DEPLOY = Path(__file__).parents[3] / "deploy"
SEED_CANARY = Path(__file__).parents[3] / "examples" / "seed" / "podinfo-canary.yaml"


def kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = required_tool("kubectl", "Debian's kubernetes-client: scripts/install.sh --dev")
    built = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def canary_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load((DEPLOY / "crd" / "canaries.yaml").read_text())
    return crd


def test_deploy_builds_and_validates() -> None:
    documents = kustomize(DEPLOY) + kustomize(DEPLOY / "loadtester")
    kinds = sorted(f"{doc['kind']}/{doc['metadata']['name']}" for doc in documents)
    assert kinds == [
        "ClusterRole/kanaria",
        "ClusterRoleBinding/kanaria",
        "CustomResourceDefinition/alertproviders.flagger.app",
        "CustomResourceDefinition/canaries.flagger.app",
        "CustomResourceDefinition/clusterkopfpeerings.kopf.dev",
        "CustomResourceDefinition/kopfpeerings.kopf.dev",
        "CustomResourceDefinition/metrictemplates.flagger.app",
        "Deployment/flagger-loadtester",
        "Deployment/kanaria",
        "Namespace/kanaria-system",
        "Service/flagger-loadtester",
        "Service/kanaria",
        "ServiceAccount/kanaria",
    ]
    for document in documents:
        kubernetes_validate.validate(document, "1.31.0", strict=True)


def test_the_printer_columns_of_kubectl_get_canaries() -> None:
    version = canary_crd()["spec"]["versions"][0]
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Status", "Weight", "LastTransitionTime"]  # as Flagger's CRD
    assert version["subresources"] == {"status": {}}


def _aliases(model: Any) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def test_every_status_field_kanaria_writes_is_in_the_schema() -> None:
    status = canary_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "status"
    ]
    assert _aliases(CanaryStatus) <= set(status["properties"])
    condition = status["properties"]["conditions"]["items"]["properties"]
    assert _aliases(Condition) <= set(condition)
    checks = status["properties"]["checks"]["items"]
    assert checks.get("x-kubernetes-preserve-unknown-fields") or _aliases(CheckResult) <= set(
        checks.get("properties", {})
    )


def test_the_seed_canary_is_valid_under_the_crd_schema() -> None:
    schema = canary_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(yaml.safe_load(SEED_CANARY.read_text()), schema)
    broken = yaml.safe_load(SEED_CANARY.read_text())
    broken["spec"]["analysis"]["interval"] = "one minute"
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(broken, schema)
