"""Secrets at rest and on screen: a private state dir, Secrets described by size only."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from kanaria.cli.describe import describe, describe_secret
from kanaria.platforms.local.state import StateDir, ensure_token, write_atomically

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _others_can_reach(path: Path) -> bool:
    return bool(stat.S_IMODE(path.lstat().st_mode) & 0o077)


def test_a_new_state_dir_is_private(tmp_path: Path) -> None:
    state = StateDir.at(tmp_path / "state")
    state.create()
    write_atomically(state.config, "{}")
    ensure_token(state)
    paths = [state.root, *state.root.rglob("*")]
    assert len(paths) > 5
    assert [path for path in paths if _others_can_reach(path)] == []


def test_a_state_dir_left_readable_is_repaired(tmp_path: Path) -> None:
    root = tmp_path / "state"
    (root / "logs" / "replicas").mkdir(parents=True, mode=0o755)
    store = root / "objects.sqlite"
    store.write_text("secret values")
    log = root / "logs" / "replicas" / "app.log"
    log.write_text("env dump")
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n")
    for path, mode in ((root, 0o755), (store, 0o644), (log, 0o666), (script, 0o755)):
        path.chmod(mode)
    StateDir.at(root).create()
    assert [path for path in [root, *root.rglob("*")] if _others_can_reach(path)] == []
    assert stat.S_IMODE(script.stat().st_mode) == 0o700  # the user keeps what was theirs


def test_an_atomic_write_replaces_a_readable_file_with_a_private_one(tmp_path: Path) -> None:
    target = tmp_path / "api.json"
    target.write_text("old")
    target.chmod(0o644)
    old_umask = os.umask(0o000)
    try:
        write_atomically(target, "new")
    finally:
        os.umask(old_umask)
    assert (target.read_text(), stat.S_IMODE(target.stat().st_mode)) == ("new", 0o600)


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "creds",
        "namespace": "test",
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"czNjcmV0"}}'
        },
    },
    "type": "Opaque",
    "data": {
        "password": base64.b64encode(b"s3cret-password").decode(),
        "ca.crt": base64.b64encode(bytes(range(256)) * 4).decode(),
    },
    "stringData": {"username": "admin-ü"},
}


def test_describe_secret_shows_keys_and_sizes_as_kubectl_does() -> None:
    text = describe_secret(SECRET, [], NOW)
    assert text.splitlines()[:2] == ["Name:         creds", "Namespace:    test"]
    assert text.endswith(
        "\n\nType:  Opaque\n\nData\n====\n"
        "ca.crt:    1024 bytes\n"
        "password:  15 bytes\n"
        "username:  8 bytes\n"
    )
    assert "s3cret" not in text
    assert "czNjcmV0" not in text
    assert "admin" not in text


def test_the_generic_describe_redacts_urls() -> None:
    canary = {
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"analysis": {"webhooks": [{"name": "n", "url": "http://u:pw@h.test/?token=t"}]}},
    }
    text = describe(canary, [], NOW)
    assert "http://u:xxxxx@h.test/?token=xxxxx" in text
    assert "pw@" not in text
