"""A real S3-compatible HTTP endpoint on loopback for the tests of the object-storage adapter store.

moto's server (`moto_server`, a separate process) speaks the S3 API over HTTP as MinIO would; no
MinIO is installable here. Processes reach it the standard way, through `AWS_ENDPOINT_URL` and
credentials in the environment (`env()`), exactly as a replica in a cluster reaches its bucket.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid

from tests.tools import free_port, tool


class ObjectStore:
    """One running endpoint; `bucket()` makes a fresh bucket and returns its s3:// location."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [tool("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.endpoint, timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "tuneserve-test",
            "AWS_SECRET_ACCESS_KEY": "tuneserve-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )

    def bucket(self, prefix: str = "adapters") -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return f"s3://{name}/{prefix}"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def use(store: ObjectStore) -> None:
    """Points this process's boto3 at `store` (tests in the test process itself)."""
    os.environ.update(store.env())
