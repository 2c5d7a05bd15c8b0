"""maga.deploy.bucket: airflow-init's bucket creation, against a real SeaweedFS server."""

from __future__ import annotations

import uuid

import pytest

from maga.deploy.bucket import BucketError, bucket_from_root, ensure_bucket, main
from tests.s3server import free_ports
from tests.test_storage import use_s3_env

pytestmark = pytest.mark.timeout(120)


def test_creates_the_bucket_once_then_finds_it(s3_server, monkeypatch, capsys):
    use_s3_env(monkeypatch, s3_server)
    bucket = f"deploy-{uuid.uuid4().hex[:8]}"
    client = s3_server.client()
    names = {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert bucket not in names
    assert main(["--root", f"s3://{bucket}/maga"]) == 0
    assert bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}
    # A re-run of airflow-init finds it and is content.
    assert ensure_bucket(client, bucket, timeout_s=5) is False


def test_wrong_keys_stop_at_once_with_the_servers_answer(s3_server, monkeypatch):
    use_s3_env(monkeypatch, s3_server, secret="not-the-secret")
    from maga.storage.s3 import s3_client

    with pytest.raises(
        BucketError, match=r"cannot create bucket 'deploy-x'.*SignatureDoesNotMatch"
    ):
        ensure_bucket(s3_client(), "deploy-x", timeout_s=60)


def test_unreachable_server_gives_up_after_the_timeout(monkeypatch):
    import boto3
    from botocore.config import Config

    (port,) = free_ports(1)
    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )  # fmt: skip
    with pytest.raises(BucketError, match="not ready within 2 s"):
        ensure_bucket(client, "maga", timeout_s=2, poll_s=0.2)


def test_root_must_name_an_s3_bucket(capsys):
    assert bucket_from_root("s3://maga/maga") == "maga"
    with pytest.raises(BucketError, match="must be an s3:// URI"):
        bucket_from_root("var")
    assert main(["--root", "/data/runs"]) == 1
    assert "ERROR: MAGA_STORAGE_ROOT must be an s3:// URI" in capsys.readouterr().err
