"""A real S3-compatible server on 127.0.0.1 for the object-storage tests: moto's server mode (from PyPI,
``moto[server]``), started by the tests, with IAM authentication on, so that a wrong access key is
refused as AWS or MinIO would refuse it.

Its first three requests (``BOOTSTRAP_ACTIONS``) go unauthenticated: they create the user ``pipeline``,
allow it everything and give it an access key; every later request must carry that key. The pipeline
then gets only the standard AWS environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL``, ``AWS_REGION``), as it would in production.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from support import free_port

MOTO_SERVER = str(Path(sys.executable).with_name("moto_server"))
BOOTSTRAP_ACTIONS = 3
REGION = "us-east-1"


@dataclass
class S3Server:
    port: int
    process: subprocess.Popen
    key_id: str = ""
    secret: str = ""
    buckets: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **overrides: str) -> dict[str, str]:
        """The standard AWS environment of a client of this server (the pipeline's, or a test's)."""
        return {
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # No ~/.aws of the machine's user leaks into a test.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **overrides,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
        )

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every object of ``bucket`` under ``prefix``, with its size."""
        found = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.update({o["Key"]: o["Size"] for o in page.get("Contents", ())})
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_s3_server(log: Path) -> S3Server:
    """Start moto's server on a free port with authentication on, and create the pipeline's key."""
    import boto3

    port = free_port()
    env = os.environ | {"INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_ACTIONS)}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    server = S3Server(port, process)
    deadline = time.monotonic() + 30
    while True:
        try:
            # moto's own dashboard page: not an S3 or IAM action, so it spends none of the bootstrap.
            urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=1)
            break
        except OSError as err:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                why = log.read_text()[-2000:]
                raise RuntimeError(f"moto_server did not start on port {port}: {why}") from err
            time.sleep(0.1)
    iam = boto3.client(
        "iam",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="pipeline")
    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="pipeline", PolicyName="everything", PolicyDocument=json.dumps(allow_all))
    key = iam.create_access_key(UserName="pipeline")["AccessKey"]
    server.key_id, server.secret = key["AccessKeyId"], key["SecretAccessKey"]
    return server
