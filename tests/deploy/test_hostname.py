"""``maga.deploy.hostname``: the per-worker name Airflow records on task instances."""

from __future__ import annotations

import os
import subprocess
import sys

from maga.deploy.hostname import ENV_VAR, get_hostname


def test_worker_name_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, " worker-a ")
    assert get_hostname() == "worker-a"


def test_falls_back_to_the_fqdn_as_airflow_computes_it(monkeypatch):
    from airflow.utils.net import getfqdn

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert get_hostname() == getfqdn()
    monkeypatch.setenv(ENV_VAR, "  ")
    assert get_hostname() == getfqdn()


def test_airflow_uses_it_through_hostname_callable():
    """What a task process reports (the Task SDK's ``get_hostname``) when the worker has
    the callable configured: its own name."""
    env = dict(os.environ, AIRFLOW__CORE__HOSTNAME_CALLABLE="maga.deploy.hostname.get_hostname")
    env[ENV_VAR] = "worker-b"
    code = "from airflow.sdk.api.client import get_hostname; print(get_hostname())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout  # fmt: skip
    assert out.strip().splitlines()[-1] == "worker-b"
