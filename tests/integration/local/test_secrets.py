"""Secrets on a running local platform: the state dir is the user's alone, and neither a
Secret's value nor a URL's credentials appear in `describe`, Events or logs."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.local.conftest import Platform

pytestmark = pytest.mark.integration

SECRET_VALUE = "pw-at-rest-42"
URL_PASSWORD = "pw-in-url"
URL_TOKEN = "tok-in-query"
HOOK_URL = f"http://hooks:{URL_PASSWORD}@127.0.0.1:9/events?token={URL_TOKEN}"

MANIFESTS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: vault}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: vault}}
stringData: {{password: {SECRET_VALUE}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: vault}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
        - name: app
          image: stefanprodan/podinfo:3.1.0
          ports: [{{name: http, containerPort: 9898}}]
          env:
            - name: DB_PASSWORD
              valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: app, namespace: vault}}
spec:
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app}}
  service: {{port: 9898}}
  skipAnalysis: true
  analysis:
    interval: 10s
    threshold: 1
    maxWeight: 50
    stepWeight: 50
    webhooks:
      - name: notify
        type: event
        url: "{HOOK_URL}"
"""


def wait_for(check: Callable[[], bool], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s")
        time.sleep(0.2)


def _readable_by_others(root: Path) -> list[str]:
    return [
        f"{path} {stat.filemode(path.lstat().st_mode)}"
        for path in [root, *root.rglob("*")]
        if not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) & 0o077
    ]


def _logs_text(root: Path) -> str:
    return "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in (root / "logs").rglob("*")
        if path.is_file()
    )


def test_secrets_stay_private_and_off_screen(shared_platform: Platform, tmp_path: Path) -> None:
    manifest = tmp_path / "vault.yaml"
    manifest.write_text(MANIFESTS)
    applied = shared_platform.run("apply", "-f", str(manifest))
    assert applied.code == 0, applied.err
    root = shared_platform.state.root

    def events() -> list[dict[str, object]]:
        listed = shared_platform.run("get", "events", "-n", "vault", "-o", "json")
        return list(json.loads(listed.out)["items"]) if listed.code == 0 else []

    # Every Event goes to the event webhook, which fails: its URL is then in a log line.
    wait_for(lambda: bool(events()) and "event webhook notify failed" in _logs_text(root))

    assert _readable_by_others(root) == []
    described = shared_platform.run("describe", "secret/creds", "-n", "vault")
    assert described.code == 0, described.err
    assert f"password:  {len(SECRET_VALUE)} bytes" in described.out
    canary = shared_platform.run("describe", "canary/app", "-n", "vault").out
    on_screen = "\n".join([described.out, canary, json.dumps(events()), _logs_text(root)])
    for secret in (SECRET_VALUE, URL_PASSWORD, URL_TOKEN):
        assert secret not in on_screen
    assert "http://hooks:xxxxx@127.0.0.1:9/events?token=xxxxx" in canary
    assert "http://hooks:xxxxx@127.0.0.1:9/events?token=xxxxx" in _logs_text(root)
