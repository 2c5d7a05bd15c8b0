"""Create the bucket the deployment stores runs in (``python -m maga.deploy.bucket``).

The compose stack's ``airflow-init`` service runs this before any Airflow component
starts. The bucket is the one in ``MAGA_STORAGE_ROOT`` (``s3://<bucket>/<prefix>``);
endpoint and keys come from the Airflow connection ``maga_s3`` like everywhere else
(:func:`maga.storage.s3.s3_client`), so the same keys the pipeline uses must be allowed
to create it (the compose file's SeaweedFS identity may administer that one bucket only).

Safe to re-run: a bucket that already exists and is ours counts as done. The S3 server
may still be starting (SeaweedFS answers health checks before its filer is ready), so
connection failures and 5xx answers are retried until ``timeout_s``; any other refusal
(wrong keys, bucket owned by someone else, no right to create it) stops at once with
the server's error code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from maga.config import StorageConfig
from maga.log import get_logger
from maga.storage.base import StorageError
from maga.storage.s3 import s3_client, split_s3

log = get_logger("deploy.bucket")

# Answers that mean "not ready yet, ask again".
_TRANSIENT_CODES = {"ServiceUnavailable", "SlowDown", "InternalError", "503", "500", "502"}


class BucketError(RuntimeError):
    """The bucket could not be created; the message names the bucket and the reason."""


def bucket_from_root(root: str) -> str:
    """The bucket of an ``s3://bucket/prefix`` storage root."""
    if not root.startswith("s3://"):
        raise BucketError(
            f"MAGA_STORAGE_ROOT must be an s3:// URI to create a bucket, got {root!r}"
        )
    try:
        return split_s3(root)[0]
    except StorageError as exc:
        raise BucketError(str(exc)) from exc


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    return str(response.get("Error", {}).get("Code") or status)


def ensure_bucket(client: Any, bucket: str, timeout_s: float = 120.0, poll_s: float = 1.0) -> bool:
    """Create ``bucket`` unless it is already ours; True when this call created it."""
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        try:
            client.create_bucket(Bucket=bucket)
            log.info("bucket %s created", bucket)
            return True
        except ClientError as exc:
            code = _code(exc)
            if code == "BucketAlreadyOwnedByYou":
                log.info("bucket %s already exists", bucket)
                return False
            if code not in _TRANSIENT_CODES:
                raise BucketError(
                    f"cannot create bucket {bucket!r}: the S3 server answered {code}"
                    " (check MAGA_S3_ACCESS_KEY/MAGA_S3_SECRET_KEY and that these keys"
                    " may create this bucket)"
                ) from exc
            last = code
        except BotoCoreError as exc:  # connection refused, DNS, timeouts
            last = type(exc).__name__
        if time.monotonic() >= deadline:
            raise BucketError(
                f"cannot create bucket {bucket!r}: the S3 server was not ready within"
                f" {timeout_s:.0f} s (last answer: {last})"
            )
        time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m maga.deploy.bucket", description=__doc__)
    parser.add_argument(
        "--root",
        default=os.environ.get("MAGA_STORAGE_ROOT", ""),
        help="storage root s3://bucket/prefix (default: $MAGA_STORAGE_ROOT)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for S3")
    args = parser.parse_args(argv)
    try:
        bucket = bucket_from_root(args.root)
        ensure_bucket(s3_client(StorageConfig(root=args.root)), bucket, timeout_s=args.timeout)
    except BucketError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
