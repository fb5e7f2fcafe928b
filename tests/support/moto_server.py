"""moto's server mode as the CloudWatch endpoint of integration tests, with AWS's own checks.

moto runs as its own process on a loopback port and answers CloudWatch's API (PutMetricData,
GetMetricData) and IAM's. Authentication is on, as on AWS: requests must be signed (SigV4) by
an IAM user's access key with a policy that allows CloudWatch, so a wrong secret key is refused
with AWS's SignatureDoesNotMatch. The first three requests — creating that user, its key and
its policy — are the only ones moto accepts unsigned (`INITIAL_NO_AUTH_ACTION_COUNT`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from kanaria.platforms.local.binaries import free_port

REGION = "eu-west-1"
_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["cloudwatch:*", "monitoring:*"], "Resource": "*"}],
}


@dataclass
class MotoCloudWatch:
    url: str
    access_key_id: str
    secret_access_key: str

    def client(self) -> Any:
        return boto3.client(
            "cloudwatch",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def put(self, namespace: str, name: str, points: list[tuple[float, datetime]],
            **dimensions: str) -> None:  # fmt: skip
        self.client().put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Value": value,
                    "Timestamp": stamp,
                }
                for value, stamp in points
            ],
        )


@contextlib.contextmanager
def run_moto() -> Iterator[MotoCloudWatch]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    with tempfile.TemporaryDirectory(prefix="kanaria-moto-") as directory:
        log_path = Path(directory) / "moto.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log, stderr=subprocess.STDOUT, env=environment,
            )  # fmt: skip
        try:
            _wait_until_answering(url, process, log_path)
            yield _with_user(url)
        finally:
            process.terminate()
            process.wait(timeout=10)


def _with_user(url: str) -> MotoCloudWatch:
    iam = boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
    )  # fmt: skip
    iam.create_user(UserName="kanaria")
    key = iam.create_access_key(UserName="kanaria")["AccessKey"]
    iam.put_user_policy(
        UserName="kanaria", PolicyName="cloudwatch", PolicyDocument=json.dumps(_POLICY)
    )
    return MotoCloudWatch(url, key["AccessKeyId"], key["SecretAccessKey"])


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto exited: {log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"moto did not answer within 30 s: {log.read_text(errors='replace')}")


def now() -> datetime:
    return datetime.now(UTC)
