"""The suite itself: a required service missing in CI fails the run instead of
skipping, a misspelt mark is an error, and a hanging test is stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
S3_TEST = "tests/test_storage.py::test_roundtrip_bytes_text_json"


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("CI", "MAGA_REQUIRE_SERVICES", "MAGA_REQUIRE_BROWSER",
                          "PYTEST_ADDOPTS")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.timeout(600)
def test_missing_seaweedfs_fails_in_ci_and_skips_elsewhere(tmp_path):
    absent = str(tmp_path / "no-weed")
    ci = _pytest(S3_TEST, MAGA_WEED_BIN=absent, MAGA_REQUIRE_SERVICES="1")
    assert ci.returncode != 0, ci.stdout[-2000:]
    assert "SeaweedFS not installed" in ci.stdout and "required here" in ci.stdout
    local = _pytest(S3_TEST, "-rs", MAGA_WEED_BIN=absent)
    assert local.returncode == 0, local.stdout[-2000:]
    assert "skipped" in local.stdout and "passed" in local.stdout  # the local backend ran


# One test per required service, each reaching its service check first thing.
SERVICE_TESTS = {
    "postgresql": "tests/deploy/test_multiworker.py::test_unauthenticated_trigger_is_refused",
    "redis": "tests/deploy/test_multiworker.py::test_unauthenticated_trigger_is_refused",
    "chromium": "tests/plugins/test_ui_e2e.py::test_requests_without_a_login_are_refused",
    "docker": "tests/deploy/test_compose_up.py::test_gpu_images_on_a_python_only_base",
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", sorted(SERVICE_TESTS))
def test_missing_service_fails_in_ci_and_skips_with_a_summary_line_elsewhere(service):
    """tests/conftest.py's require(): every required-service skip goes through it. CI
    (either variable) fails; a developer's run skips and says so in one closing line."""
    test = SERVICE_TESTS[service]
    ci = _pytest(test, MAGA_TEST_ABSENT=service, CI="true")  # .ci/run sets MAGA_REQUIRE_*
    assert ci.returncode != 0 and "required here" in ci.stdout, ci.stdout[-2000:]
    local = _pytest(test, MAGA_TEST_ABSENT=service)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout[-2000:]
    last = [line for line in local.stdout.splitlines() if line.strip()][-1]
    assert last.startswith("SKIPPED for missing required services (CI fails instead)"), last


@pytest.mark.timeout(300)
def test_unknown_mark_and_hang_fail(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text("import time, pytest\n@pytest.mark.slwo\ndef test_typo():\n    pass\n")
    typo = _pytest(str(probe), "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"))
    assert typo.returncode != 0 and "slwo" in typo.stdout + typo.stderr
    probe.write_text(
        "import time, pytest\n@pytest.mark.timeout(2)\ndef test_hang():\n    time.sleep(60)\n"
    )
    hang = _pytest(str(probe), "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"))
    assert hang.returncode != 0 and "Timeout" in hang.stdout + hang.stderr


@pytest.mark.timeout(300)
def test_dag_integrity_leaves_the_environment_as_it_found_it(tmp_path):
    """tests/dags/test_dag_integrity.py set AIRFLOW_HOME and LOAD_EXAMPLES in os.environ
    for every test that ran after it in the same process."""
    probe = tmp_path / "test_after.py"
    probe.write_text(
        "import os\n"
        "def test_env_restored():\n"
        "    assert 'AIRFLOW_HOME' not in os.environ, os.environ['AIRFLOW_HOME']\n"
        "    assert 'AIRFLOW__CORE__LOAD_EXAMPLES' not in os.environ\n"
    )
    clean = {k: v for k, v in os.environ.items()
             if k not in ("AIRFLOW_HOME", "AIRFLOW__CORE__LOAD_EXAMPLES")}  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "tests/dags/test_dag_integrity.py::test_no_import_errors", str(probe),
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert "2 passed" in run.stdout, run.stdout[-3000:]
