"""Airflow connections, looked up the same way for S3 storage and the teacher endpoint."""

from __future__ import annotations

import os
import sys
from typing import Any

from maga.log import get_logger

log = get_logger("connections")


def airflow_connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id``, or None (Airflow absent, or no such connection).

    When ``airflow`` is not imported yet (a CLI run, a test) Airflow's import, which takes
    seconds, is only paid if ``AIRFLOW_CONN_<ID>`` or a secrets backend is configured:
    outside a task Airflow reads env vars and external backends, not the metastore.
    Errors are logged by type only: a message could quote connection details.
    """
    configured = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}") or os.environ.get(
        "AIRFLOW__SECRETS__BACKEND"
    )
    if "airflow" not in sys.modules and not configured:
        return None
    try:
        from airflow.sdk import Connection

        getter = Connection.get
    except ImportError:
        try:  # Airflow 2
            from airflow.hooks.base import BaseHook

            getter = BaseHook.get_connection
        except ImportError:
            log.debug("Airflow is not importable; not looking up connection %r", conn_id)
            return None
    try:
        return getter(conn_id)
    except Exception as exc:  # not found, or no backend reachable: use the fallback
        log.debug("Airflow connection %r not available (%s)", conn_id, type(exc).__name__)
        return None
