"""Every input of issue 13's "Why" list: `validate` exits 2 naming the problem, fast, never with
a traceback; and real Deployment fields are not called unknown."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from kanaria.cli.main import main
from kanaria.spec.documents import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

SEED = Path(__file__).parents[3] / "examples" / "seed"


def _deployment(**container_fields: object) -> dict[str, object]:
    document = yaml.safe_load((SEED / "podinfo.yaml").read_text())
    document["spec"]["template"]["spec"]["containers"][0].update(container_fields)
    return dict(document)


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    # CPU time, not wall time: the bound is on the work done, whatever else the machine runs.
    started = time.process_time()
    code = main(["validate", "-f", str(path)])
    elapsed = time.process_time() - started
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err, elapsed


def _write(tmp_path: Path, content: str | bytes | dict[str, object]) -> Path:
    path = tmp_path / "manifest.yaml"
    if isinstance(content, dict):
        content = yaml.safe_dump(content)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def _with_metadata(metadata: object) -> dict[str, object]:
    return {**_deployment(), "metadata": metadata}


def _namespaced(namespace: str) -> dict[str, object]:
    document = _deployment()
    document["metadata"] = {"name": "podinfo", "namespace": namespace}
    return document


def _gateway(port: int) -> str:
    return (
        "apiVersion: networking.istio.io/v1alpha3\nkind: Gateway\n"
        "metadata: {name: public-gateway, namespace: istio-system}\n"
        f"spec:\n  servers:\n    - port: {{number: {port}, name: http, protocol: HTTP}}\n"
        "      hosts: ['*']\n"
    )


def _alias_bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


CASES = [
    ("metadata: 7", _with_metadata(7), "metadata: found int 7, expected a mapping"),
    (
        "requests as a list",
        _deployment(resources={"requests": ["cpu", "100m"]}),
        "containers[0].resources.requests: found a list, expected a mapping",
    ),
    (
        "254-character namespace",
        _namespaced("n" * 254),
        "metadata.namespace: must be no more than 63 characters (found 254)",
    ),
    (
        "100,000-character namespace",
        _namespaced("n" * 100_000),
        "metadata.namespace: must be no more than 63 characters (found 100000)",
    ),
    ("uppercase namespace", _namespaced("Test"), "'Test' is not a lowercase RFC 1123 label"),
    (
        "container port out of range",
        _deployment(ports=[{"containerPort": 70000}]),
        "ports[0].containerPort: found 70000, must be between 1 and 65535, inclusive",
    ),
    (
        "bad quantity",
        _deployment(resources={"limits": {"cpu": "lots"}}),
        "resources.limits.cpu: found 'lots', expected a quantity such as 100m",
    ),
    (
        "Gateway port 2^63",
        _gateway(2**63),
        "spec.servers[0].port.number: found 9223372036854775808, must be between 1 and 65535",
    ),
    ("alias bomb", _alias_bomb(), f"aliases expand to more than {MAX_NODES} values (the limit)"),
    (
        "10,000-deep nesting",
        "a: " + "[" * 10_000 + "]" * 10_000,
        f"nested deeper than {MAX_DEPTH} levels (the limit)",
    ),
    ("binary garbage", bytes(range(256)) * 8, "not UTF-8 text: byte 0x80 at offset 128"),
    ("empty file", "", "no objects in the file"),
    ("only comments", "# nothing here\n---\n", "no objects in the file"),
]


@pytest.mark.parametrize(
    ("content", "message"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_input_is_refused_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: object, message: str
) -> None:
    code, err, elapsed = _validate(_write(tmp_path, content), capsys)  # type: ignore[arg-type]
    assert code == 2
    assert message in err
    assert elapsed < 1.0


def test_a_file_over_the_size_limit_names_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    code, err, elapsed = _validate(path, capsys)
    assert code == 2
    assert f"too large: more than {MAX_FILE_BYTES} bytes (the limit)" in err
    assert elapsed < 1.0


def test_real_deployment_fields_are_not_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _deployment(
        imagePullPolicy="IfNotPresent",
        securityContext={"runAsNonRoot": True, "readOnlyRootFilesystem": True},
        terminationMessagePolicy="FallbackToLogsOnError",
    )
    document["spec"]["template"]["spec"]["serviceAccountName"] = "podinfo"  # type: ignore[index]
    code, err, _ = _validate(_write(tmp_path, document), capsys)
    assert (code, err) == (0, "")


def test_a_field_kubernetes_does_not_know_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, _ = _validate(_write(tmp_path, _deployment(imagePullPolicyy="Always")), capsys)
    assert code == 0
    assert "containers[0].imagePullPolicyy: unknown field (Kubernetes drops it)" in err


def test_the_seeds_hpa_is_checked_against_the_last_v2beta2_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = yaml.safe_load((SEED / "hpa.yaml").read_text())
    assert hpa["apiVersion"] == "autoscaling/v2beta2"
    hpa["spec"]["maxReplicas"] = "four"
    code, err, _ = _validate(_write(tmp_path, hpa), capsys)
    assert code == 2
    assert "spec.maxReplicas: found 'four', expected an integer" in err


def test_a_canary_whose_services_could_not_be_named_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = yaml.safe_load((SEED / "podinfo-canary.yaml").read_text())
    canary["spec"]["targetRef"]["name"] = "p" * 60
    code, err, _ = _validate(_write(tmp_path, canary), capsys)
    assert code == 2
    assert f"spec.targetRef.name: the Service {'p' * 60}-primary's name must be no more" in err
